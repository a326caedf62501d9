"""The training run of each task: ``task.name`` to the function that trains it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphsep.config import Config
from graphsep.tasks.classify.run import classify
from graphsep.tasks.mae.run import mae
from graphsep.tasks.masked_graph.run import pretrain
from graphsep.tasks.mlm.run import mlm
from graphsep.tasks.property.ensemble import train_ensemble
from graphsep.tasks.property.run import finetune

RUNS: dict[str, Callable[[Config], dict[str, Any]]] = {
    "property": finetune,
    "masked_graph": pretrain,
    "mae": mae,
    "mlm": mlm,
    "classify": classify,
}
"""One entry per value of ``task.name`` (:data:`graphsep.config.schema.TASK_FRONTENDS`)."""


def run_task(cfg: Config) -> dict[str, Any]:
    """Train the task ``cfg.task.name`` names; return ``results.json``'s content (rank 0).

    ``train.ensemble`` above 1 trains that many seeds of it (property models only).
    """
    if cfg.train.ensemble > 1:
        return train_ensemble(cfg)
    return RUNS[cfg.task.name](cfg)
