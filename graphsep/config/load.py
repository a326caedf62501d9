"""Loading a run's configuration: dataclass defaults, YAML overrides, ``key=value`` overrides.

The dataclasses (:mod:`graphsep.config.schema`) hold every default with a comment; a YAML file
in ``configs/`` holds only what it changes. A wrong key or value stops at once with the key's
name and the valid choices; a key of graphsep 0.1's flat layout with its new place.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from graphsep.config.legacy import MOVED_KEYS, moved_key_message
from graphsep.config.schema import CHOICES, RANGES, TASK_FRONTENDS, Config, ModelConfig
from graphsep.errors import GraphsepError
from graphsep.tasks.mae.config import MaeConfig


class ConfigError(GraphsepError, ValueError):
    """A config file, key or value that cannot be used; the message names it."""


DEVICES = "auto, cpu, cuda or cuda:N"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def valid_keys(schema: type = Config, prefix: str = "") -> list[str]:
    """Return every dotted key of the schema, e.g. ``model.core.norm``."""
    keys = []
    for f in fields(schema):
        default = f.default_factory() if callable(f.default_factory) else f.default
        if is_dataclass(default):
            keys += valid_keys(type(default), f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _unknown_key_message(key: str, where: str) -> str:
    moved = moved_key_message(key, where)
    if moved is not None:
        return moved
    keys = valid_keys()
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}: unknown key '{key}'{hint}; valid keys: {', '.join(keys)}"


def _check_keys(overrides: dict[str, Any], where: str, prefix: str = "") -> None:
    known = set(valid_keys())
    # sections of today's layout, and 0.1's pretrain section, whose keys say where they went
    sections = {
        k.rsplit(".", i)[0] for k in [*known, *MOVED_KEYS] for i in range(1, k.count(".") + 1)
    }
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted in sections:
            _check_keys(value, where, f"{dotted}.")
        elif dotted not in known:
            raise ConfigError(_unknown_key_message(dotted, where))


def _resume_word(overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Read YAML 1.1's booleans given to ``resume``: no/false/off mean ``no``; yes/true/on err.

    ``resume=yes`` would otherwise reach the config as the string ``'True'``.
    """
    value = overrides.get("resume")
    if value is True:
        raise ConfigError(
            f"{where}: resume: invalid value True (YAML reads yes, true and on as True); choose "
            f"one of {list(CHOICES['resume'])} (false and off mean no)"
        )
    return {**overrides, "resume": "no"} if value is False else overrides


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        content = yaml.safe_load(path.read_text())
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not a YAML text file (byte {err.start} is not UTF-8 text)"
        ) from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(content).__name__}")
    return content


def _merge(base: Any, overrides: dict[str, Any], where: str) -> Any:
    try:
        return OmegaConf.merge(base, overrides)
    except ConfigKeyError as err:
        raise ConfigError(_unknown_key_message(str(err.full_key), where)) from err
    except OmegaConfBaseException as err:
        raise ConfigError(f"{where}: key '{err.full_key}': {err.msg.splitlines()[0]}") from err


def _dotlist(overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
    return OmegaConf.to_container(OmegaConf.from_dotlist(overrides))


def check_device(name: str) -> None:
    """Stop on a device name graphsep does not run on (``DEVICES`` lists those it does).

    Raises:
        ConfigError: naming the value and the choices.
    """
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ConfigError(f"device: invalid value {name!r}; choose {DEVICES}")


def _check_range(key: str, value: Any) -> None:
    """Stop if a numeric key (or an entry of a list of numbers) lies outside its range."""
    allowed = RANGES[key]
    for index, number in enumerate(value) if isinstance(value, list) else [(None, value)]:
        if not allowed.allows(number):
            kind = "a finite number " if isinstance(number, float) else ""
            name = key if index is None else f"{key}[{index}]"
            raise ConfigError(f"{name}: must be {kind}{allowed}, got {number!r}")
    if isinstance(value, list) and not value:
        raise ConfigError(f"{key}: must hold at least one entry, got []")


def _check_model(cfg: ModelConfig) -> None:
    """Check what spans keys of the model section: heads dividing the width, continuous dims."""
    core, graph = cfg.core, cfg.graph
    if core.dim % core.num_heads:
        raise ConfigError(
            f"model.core.dim ({core.dim}) must be divisible by model.core.num_heads "
            f"({core.num_heads})"
        )
    for kind in ("node", "edge"):
        dims = getattr(graph, f"{kind}_dims")
        if getattr(graph, f"{kind}_kind") == "continuous" and len(dims) != 1:
            raise ConfigError(
                f"model.graph.{kind}_dims: model.graph.{kind}_kind=continuous takes one entry "
                f"(the number of input channels), got {list(dims)}"
            )


def _check_image_model(cfg: ModelConfig, mae: MaeConfig) -> None:
    """Check the image settings that span keys: the patch grid, widths, decoder heads."""
    image = cfg.image
    if image.image_size % image.patch_size:
        raise ConfigError(
            f"model.image.patch_size ({image.patch_size}) must divide model.image.image_size "
            f"({image.image_size})"
        )
    widths = [("model.core.dim", cfg.core.dim), ("task.mae.decoder_dim", mae.decoder_dim)]
    for key, width in widths if image.positions == "sincos" else widths[1:]:
        if width % 4:
            raise ConfigError(f"{key} ({width}) must be divisible by 4 for 2-D sin-cos positions")
    if mae.decoder_dim % mae.decoder_heads:
        raise ConfigError(
            f"task.mae.decoder_dim ({mae.decoder_dim}) must be divisible by "
            f"task.mae.decoder_heads ({mae.decoder_heads})"
        )


def _check_text(cfg: Config) -> None:
    """Check the text settings that span keys, and that a table is given."""
    mlm, text = cfg.task.mlm, cfg.data.text
    if mlm.mask_share + mlm.random_share > 1:
        raise ConfigError(
            f"task.mlm.mask_share ({mlm.mask_share:g}) + task.mlm.random_share "
            f"({mlm.random_share:g}) must be at most 1"
        )
    if text.valid_fraction + text.test_fraction >= 1:
        raise ConfigError(
            f"data.text.valid_fraction ({text.valid_fraction:g}) + data.text.test_fraction "
            f"({text.test_fraction:g}) must leave some rows for training"
        )
    if not text.path:
        raise ConfigError("data.text.path: give the labelled table, e.g. as configs/imdb_*.yaml do")


def _check_run(cfg: Config) -> None:
    """Check what a run needs beyond a model: a task for its front end, and its data."""
    frontends = TASK_FRONTENDS[cfg.task.name]
    if cfg.model.frontend not in frontends:
        raise ConfigError(
            f"task.name={cfg.task.name} needs model.frontend={' or '.join(frontends)}, not "
            f"{cfg.model.frontend}"
        )
    if cfg.model.frontend == "text":
        _check_text(cfg)
    if cfg.model.frontend == "image" and not (cfg.data.images.train and cfg.data.images.test):
        raise ConfigError(
            "data.images.train, data.images.test: give the image files, e.g. as "
            "configs/fmnist_finetune_quick.yaml does"
        )
    if cfg.task.name == "masked_graph" and not cfg.data.corpus.files:
        raise ConfigError(
            "data.corpus.files: no SMILES file given; set it to one or more files, e.g. "
            "data.corpus.files=[../shared/data/pretrain/moses_zinc_train.csv.gz]"
        )


def _select(cfg: Config, key: str) -> Any:
    return functools.reduce(getattr, key.split("."), cfg)


def _check(cfg: Config, run: bool) -> None:
    for key, choices in CHOICES.items():
        value = _select(cfg, key)
        for entry in value if isinstance(value, list) else [value]:
            if entry not in choices:
                raise ConfigError(f"{key}: invalid value {entry!r}; choose one of {list(choices)}")
        if isinstance(value, list) and len(set(value)) < len(value):
            raise ConfigError(f"{key}: {value} names an entry twice")
    check_device(cfg.device)
    for key in RANGES:
        _check_range(key, _select(cfg, key))
    _check_model(cfg.model)
    if cfg.model.frontend == "image":
        _check_image_model(cfg.model, cfg.task.mae)
    if run:
        _check_run(cfg)


def validate(cfg: Config, where: str | None = None, run: bool = True) -> None:
    """Check every value against its choices (``CHOICES``, ``DEVICES``) or range (``RANGES``).

    Args:
        cfg (Config): the merged config.
        where (str, optional): the source to name in the message (a checkpoint's file);
            None for a config merged from a file and the command line. (default: None)
        run (bool, optional): also check what a run needs beyond the model (a task that
            trains its front end, the data files); False for a checkpoint's model alone.
            (default: True)

    Raises:
        ConfigError: naming the key, the value and what is allowed.
    """
    try:
        _check(cfg, run)
    except ConfigError as err:
        if where is None:
            raise
        raise ConfigError(f"{where}: {err}") from err


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Build a :class:`Config` from the defaults, a YAML file and ``key=value`` overrides.

    Args:
        path (str | Path, optional): a YAML file holding overrides of the defaults.
        overrides (list[str], optional): ``key=value`` items applied last.

    Returns:
        Config: the validated config.

    Raises:
        ConfigError: a missing, binary or unreadable file, bad YAML, an unknown key, a wrong
            type, or a value outside its choices (``CHOICES``) or range (``RANGES``).
    """
    merged = OmegaConf.structured(Config)
    if path is not None:
        content = _resume_word(_read_yaml(Path(path)), str(path))
        _check_keys(content, str(path))
        merged = _merge(merged, content, str(path))
    if overrides:
        dotlist = _resume_word(_dotlist(overrides), "command line")
        _check_keys(dotlist, "command line")
        merged = _merge(merged, dotlist, "command line")
    cfg = OmegaConf.to_object(merged)
    validate(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Return the config as plain JSON-serialisable types (for checkpoints and logs)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg))


def config_from_dict(content: dict[str, Any], where: str, run: bool = True) -> Config:
    """Rebuild a :class:`Config` saved by :func:`config_to_dict` (e.g. in a checkpoint).

    The saved values go through the same checks as a YAML file's (:func:`validate`; ``run``
    as there); a checkpoint reader first brings a config of graphsep 0.1's flat layout into
    today's (:func:`graphsep.config.legacy.upgrade_config`).

    Raises:
        ConfigError: an unknown key, a wrong type or a value out of its choices or range,
            named with ``where``.
    """
    _check_keys(content, where)
    cfg = OmegaConf.to_object(_merge(OmegaConf.structured(Config), content, where))
    validate(cfg, where, run)
    return cfg
