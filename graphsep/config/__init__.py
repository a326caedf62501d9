"""The run configuration: nested dataclasses (``schema``), loading and checks (``load``)."""

from graphsep.config.load import (
    DEVICES,
    ConfigError,
    check_device,
    config_from_dict,
    config_to_dict,
    load_config,
    valid_keys,
    validate,
)
from graphsep.config.schema import (
    CHOICES,
    RANGES,
    Config,
    CorpusConfig,
    DataConfig,
    ModelConfig,
    TaskConfig,
    TrainConfig,
)

__all__ = [
    "CHOICES",
    "DEVICES",
    "RANGES",
    "Config",
    "ConfigError",
    "CorpusConfig",
    "DataConfig",
    "ModelConfig",
    "TaskConfig",
    "TrainConfig",
    "check_device",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "valid_keys",
    "validate",
]
