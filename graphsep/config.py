"""Typed run configuration: dataclass defaults, YAML overrides, ``key=value`` overrides.

The dataclasses hold every default with a comment; a YAML file in ``configs/`` holds only what
it changes. A wrong key or value stops at once with the key's name and the valid choices.
"""

from __future__ import annotations

import difflib
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
    resume: str = "no"  # no, or auto: continue from out_dir's last checkpoint
    progress: bool = True  # tqdm bars
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


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        content = yaml.safe_load(path.read_text())
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


def validate(cfg: Config) -> None:
    """Check the values that have a fixed set of choices or a range."""
    for key, choices in CHOICES.items():
        value = OmegaConf.select(OmegaConf.structured(cfg), key)
        if value not in choices:
            raise ConfigError(f"{key}: invalid value {value!r}; choose one of {list(choices)}")
    positive = {
        "train.epochs": cfg.train.epochs,
        "train.batch_size": cfg.train.batch_size,
        "model.dim": cfg.model.dim,
        "model.depth": cfg.model.depth,
        "model.num_heads": cfg.model.num_heads,
        "model.max_hops": cfg.model.max_hops,
        "data.bucket_size_multiplier": cfg.data.bucket_size_multiplier,
        "data.batch_chunks": cfg.data.batch_chunks,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    if cfg.model.local_layers < 0:
        raise ConfigError(f"model.local_layers: must be >= 0, got {cfg.model.local_layers}")
    if cfg.model.dim % cfg.model.num_heads:
        raise ConfigError(
            f"model.dim ({cfg.model.dim}) must be divisible by model.num_heads "
            f"({cfg.model.num_heads})"
        )
    _validate_pretrain(cfg.pretrain, cfg.mode)


def _validate_pretrain(cfg: PretrainConfig, mode: str) -> None:
    """Check the pretraining section: rates in (0, 1), sizes positive, a corpus to read."""
    for key in ("atom_mask_rate", "bond_mask_rate"):
        value = getattr(cfg, key)
        if not 0.0 < value < 1.0:
            raise ConfigError(f"pretrain.{key}: must lie in (0, 1), got {value}")
    if not 0.0 < cfg.held_out_fraction < 1.0:
        raise ConfigError(
            f"pretrain.held_out_fraction: must lie in (0, 1), got {cfg.held_out_fraction}"
        )
    if cfg.max_atoms > 32767:
        raise ConfigError(f"pretrain.max_atoms: at most 32767 (int16 cache), got {cfg.max_atoms}")
    for key in ("max_molecules", "held_out_max", "num_workers"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"pretrain.{key}: must be >= 0, got {getattr(cfg, key)}")
    for key in ("shard_size", "max_atoms", "atom_type_weight"):
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"pretrain.{key}: must be positive, got {getattr(cfg, key)}")
    if mode == "pretrain" and not cfg.corpus:
        raise ConfigError(
            "pretrain.corpus: no SMILES file given; set it to one or more files, e.g. "
            "pretrain.corpus=[../shared/data/pretrain/moses_zinc_train.csv.gz]"
        )


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Build a :class:`Config` from the defaults, a YAML file and ``key=value`` overrides.

    Args:
        path (str | Path, optional): a YAML file holding overrides of the defaults.
        overrides (list[str], optional): ``key=value`` items applied last.

    Returns:
        Config: the validated config.

    Raises:
        ConfigError: a missing file, bad YAML, unknown key, wrong type or invalid choice.
    """
    merged = OmegaConf.structured(Config)
    if path is not None:
        content = _read_yaml(Path(path))
        _check_keys(content, str(path))
        merged = _merge(merged, content, str(path))
    if overrides:
        dotlist = _dotlist(overrides)
        _check_keys(dotlist, "command line")
        merged = _merge(merged, dotlist, "command line")
    cfg = OmegaConf.to_object(merged)
    validate(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Return the config as plain JSON-serialisable types (for checkpoints and logs)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg))


def config_from_dict(content: dict[str, Any], where: str) -> Config:
    """Rebuild a :class:`Config` saved by :func:`config_to_dict` (e.g. in a checkpoint)."""
    _check_keys(content, where)
    return OmegaConf.to_object(_merge(OmegaConf.structured(Config), content, where))
