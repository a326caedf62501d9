"""Typed run configuration: dataclass defaults, YAML overrides, ``key=value`` overrides.

The dataclasses hold every default with a comment; a YAML file in ``configs/`` holds only what
it changes. A wrong key or value stops at once with the key's name and the valid choices.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml
from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from graphsep.errors import GraphsepError


class ConfigError(GraphsepError, ValueError):
    """A config file, key or value that cannot be used; the message names it."""


@dataclass
class ModelConfig:
    """Architecture of the graph transformer; fields equal ``GraphTransformer`` kwargs."""

    norm: str = "sep"  # sep: [CLS] normalized apart from the tokens; share: one LayerNorm
    cls_norm: str = "bn"  # [CLS] normalizer under sep: bn (BatchNorm1d, the paper) or ln
    dim: int = 128  # model width D
    depth: int = 4  # transformer blocks
    num_heads: int = 8  # attention heads H
    mlp_ratio: float = 4.0  # MLP hidden width over D
    dropout: float = 0.1  # residual-branch dropout
    attn_dropout: float = 0.1  # attention-weight dropout
    node_kind: str = "categorical"  # categorical (summed embeddings) or continuous (linear)
    node_dims: list[int] = field(default_factory=get_atom_feature_dims)  # OGB's 9 atom features
    edge_kind: str = "categorical"  # categorical, continuous or none (no edge encoding)
    edge_dims: list[int] = field(default_factory=get_bond_feature_dims)  # OGB's 3 bond features
    max_degree: int = 64  # higher degrees share one embedding
    max_distance: int = 20  # longer shortest paths share one bias bucket
    max_hops: int = 5  # bonds per path in the multi-hop edge encoding (Graphormer: 5)
    local_layers: int = 0  # GINE layers on the atom tokens before the core; 0: Graphormer alone
    head_dropout: float = 0.1  # dropout inside the property head
    init_from: str | None = None  # a graphsep checkpoint folder to start the encoder from

    def architecture(self) -> dict[str, Any]:
        """Return the ``GraphTransformer`` constructor kwargs."""
        skip = {"head_dropout", "init_from"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


@dataclass
class DataConfig:
    """Which dataset and where it lives."""

    name: str = "ogbg-molbbbp"  # an ogbg-mol* name (see datasets/) or a built custom dataset
    root: str = "data"  # folder holding built or downloaded datasets
    source: str | None = None  # SMILES table to build from when absent; null: ogb downloads
    num_workers: int = 0  # DataLoader worker processes
    # training batches per size-sorted mega-bucket; 1: random batches. Size-bucketed batches
    # (e.g. 50) pad less but bias SepNorm's [CLS] BatchNorm statistics (README, Results)
    bucket_size_multiplier: int = 1
    # training batches padded as this many size-sorted chunks; the [CLS] BatchNorm still sees
    # the whole batch, so random batches pad about as little as size-bucketed ones
    batch_chunks: int = 4


@dataclass
class TrainConfig:
    """Optimisation."""

    epochs: int = 50
    batch_size: int = 64  # graphs per optimizer step, over all processes under torchrun
    eval_batch_size: int = 256
    lr: float = 2e-4  # peak AdamW learning rate
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 0
    grad_clip: float = 5.0  # max gradient norm; 0 disables
    max_steps: int = 0  # stop after this many optimizer steps; 0: no limit (for quick tests)
    checkpoint_every: int = 0  # also write the resumable last/ every K steps; 0: epoch ends only


@dataclass
class PretrainConfig:
    """Masked atom and bond attribute reconstruction on a SMILES corpus (``mode=pretrain``)."""

    corpus: list[str] = field(default_factory=list)  # SMILES files or globs: csv, tsv, smi (.gz)
    smiles_column: str = "SMILES"  # column of a csv/tsv corpus; a .smi line's first field
    max_molecules: int = 0  # use the first N rows of the corpus; 0: all
    max_atoms: int = 128  # larger molecules are skipped and listed (dense T x T batches)
    held_out_fraction: float = 0.01  # molecules kept out of training to score reconstruction
    held_out_max: int = 10000  # cap on held-out molecules; 0: no cap
    cache_dir: str = "data/pretrain"  # featurized shards, reused while the corpus is unchanged
    shard_size: int = 10000  # molecules per cache shard and per featurization job
    num_workers: int = 0  # featurization processes; 0: one per CPU core
    atom_mask_rate: float = 0.15  # fraction of each molecule's atoms masked
    bond_mask_rate: float = 0.15  # fraction of each molecule's bonds masked
    atom_type_weight: float = 3.0  # atom-type loss weight; other atom features weigh 1


@dataclass
class Config:
    """A whole run."""

    out_dir: str = "runs/default"  # metrics.jsonl, results.json and best/ go here
    seed: int = 0
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    resume: str = "no"  # no (or false), or auto: continue from out_dir's last checkpoint
    progress: bool = True  # progress bars where the output is a terminal; false: none at all
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    mode: str = "finetune"  # finetune: a property head on a dataset; pretrain: masked attributes
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)


CHOICES: dict[str, tuple[str, ...]] = {
    "model.norm": ("sep", "share"),
    "model.cls_norm": ("bn", "ln"),
    "model.node_kind": ("categorical", "continuous"),
    "model.edge_kind": ("categorical", "continuous", "none"),
    "resume": ("no", "auto"),
    "mode": ("finetune", "pretrain"),
}

DEVICES = "auto, cpu, cuda or cuda:N"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class Range:
    """The values a numeric key allows: finite numbers between ``low`` and ``high``.

    Args:
        low (float | None): the smallest value; None: no lower bound. (default: None)
        high (float | None): the largest value; None: no upper bound. (default: None)
        open_low (bool): ``low`` itself is excluded. (default: ``False``)
        open_high (bool): ``high`` itself is excluded. (default: ``False``)
    """

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def allows(self, value: float) -> bool:
        """Whether ``value`` is finite and within the bounds."""
        if not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {_number(self.low)}"
        bounds = f"{_number(self.low)}, {_number(self.high)}"
        return f"in {'(' if self.open_low else '['}{bounds}{')' if self.open_high else ']'}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


AT_LEAST_0, AT_LEAST_1, POSITIVE = Range(0), Range(1), Range(0, open_low=True)
PROBABILITY = Range(0, 1, open_high=True)  # a dropout rate: 1 would drop everything
OPEN_FRACTION = Range(0, 1, open_low=True, open_high=True)

RANGES: dict[str, Range] = {
    "seed": Range(0, 2**32 - 1),  # what NumPy's seed accepts
    "data.num_workers": AT_LEAST_0,
    "data.bucket_size_multiplier": AT_LEAST_1,
    "data.batch_chunks": AT_LEAST_1,
    "model.dim": AT_LEAST_1,
    "model.depth": AT_LEAST_1,
    "model.num_heads": AT_LEAST_1,
    "model.mlp_ratio": POSITIVE,
    "model.dropout": PROBABILITY,
    "model.attn_dropout": PROBABILITY,
    "model.node_dims": AT_LEAST_1,  # each entry
    "model.edge_dims": AT_LEAST_1,
    "model.max_degree": AT_LEAST_0,
    "model.max_distance": AT_LEAST_0,
    "model.max_hops": AT_LEAST_1,
    "model.local_layers": AT_LEAST_0,
    "model.head_dropout": PROBABILITY,
    "train.epochs": AT_LEAST_1,
    "train.batch_size": AT_LEAST_1,
    "train.eval_batch_size": AT_LEAST_1,
    "train.lr": AT_LEAST_0,  # 0 keeps the starting weights (e.g. to score model.init_from)
    "train.weight_decay": AT_LEAST_0,
    "train.warmup_epochs": AT_LEAST_0,
    "train.grad_clip": AT_LEAST_0,
    "train.max_steps": AT_LEAST_0,
    "train.checkpoint_every": AT_LEAST_0,
    "pretrain.max_molecules": AT_LEAST_0,
    "pretrain.max_atoms": Range(1, 32767),  # int16 cache
    "pretrain.held_out_fraction": OPEN_FRACTION,
    "pretrain.held_out_max": AT_LEAST_0,
    "pretrain.shard_size": AT_LEAST_1,
    "pretrain.num_workers": AT_LEAST_0,
    "pretrain.atom_mask_rate": OPEN_FRACTION,
    "pretrain.bond_mask_rate": OPEN_FRACTION,
    "pretrain.atom_type_weight": POSITIVE,
}
"""The allowed values of every numeric key (of each entry, for a list of numbers)."""


def valid_keys(schema: type = Config, prefix: str = "") -> list[str]:
    """Return every dotted key of the schema, e.g. ``model.norm``."""
    keys = []
    for f in fields(schema):
        default = f.default_factory() if callable(f.default_factory) else f.default
        if is_dataclass(default):
            keys += valid_keys(type(default), f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _unknown_key_message(key: str, where: str) -> str:
    keys = valid_keys()
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}: unknown key '{key}'{hint}; valid keys: {', '.join(keys)}"


def _check_keys(overrides: dict[str, Any], where: str, prefix: str = "") -> None:
    known = set(valid_keys())
    sections = {k.split(".")[0] for k in known if "." in k}
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
    if cfg.dim % cfg.num_heads:
        raise ConfigError(
            f"model.dim ({cfg.dim}) must be divisible by model.num_heads ({cfg.num_heads})"
        )
    for kind in ("node", "edge"):
        dims = getattr(cfg, f"{kind}_dims")
        if getattr(cfg, f"{kind}_kind") == "continuous" and len(dims) != 1:
            raise ConfigError(
                f"model.{kind}_dims: model.{kind}_kind=continuous takes one entry (the number "
                f"of input channels), got {list(dims)}"
            )


def _select(cfg: Config, key: str) -> Any:
    return functools.reduce(getattr, key.split("."), cfg)


def _check(cfg: Config) -> None:
    for key, choices in CHOICES.items():
        value = _select(cfg, key)
        if value not in choices:
            raise ConfigError(f"{key}: invalid value {value!r}; choose one of {list(choices)}")
    check_device(cfg.device)
    for key in RANGES:
        _check_range(key, _select(cfg, key))
    _check_model(cfg.model)
    if cfg.mode == "pretrain" and not cfg.pretrain.corpus:
        raise ConfigError(
            "pretrain.corpus: no SMILES file given; set it to one or more files, e.g. "
            "pretrain.corpus=[../shared/data/pretrain/moses_zinc_train.csv.gz]"
        )


def validate(cfg: Config, where: str | None = None) -> None:
    """Check every value against its choices (``CHOICES``, ``DEVICES``) or range (``RANGES``).

    Args:
        cfg (Config): the merged config.
        where (str, optional): the source to name in the message (a checkpoint's file);
            None for a config merged from a file and the command line. (default: None)

    Raises:
        ConfigError: naming the key, the value and what is allowed.
    """
    try:
        _check(cfg)
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


def config_from_dict(content: dict[str, Any], where: str) -> Config:
    """Rebuild a :class:`Config` saved by :func:`config_to_dict` (e.g. in a checkpoint).

    The saved values go through the same checks as a YAML file's (:func:`validate`).

    Raises:
        ConfigError: an unknown key, a wrong type or a value out of its choices or range,
            named with ``where``.
    """
    _check_keys(content, where)
    cfg = OmegaConf.to_object(_merge(OmegaConf.structured(Config), content, where))
    validate(cfg, where)
    return cfg
