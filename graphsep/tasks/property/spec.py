"""Property-prediction tasks the OGB way: NaN-masked losses, scaled targets, OGB's Evaluator."""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from ogb.graphproppred import Evaluator
from torch import Tensor

from graphsep.molecules.build_spec import ogb_master
from graphsep.molecules.recipes import TASK_TYPES

OGB_TEMPLATE = {"rocauc": "ogbg-moltox21", "ap": "ogbg-molpcba", "rmse": "ogbg-molesol"}
LOWER_IS_BETTER = ("rmse", "mae")
TASK_METRICS = (*OGB_TEMPLATE, "mae")


@dataclass
class TaskSpec:
    """What a property head predicts and how it is scored.

    Args:
        names (list[str]): one name per task (label columns, in OGB's order).
        task_type (str): ``"classification"`` (binary, multi-task) or ``"regression"``.
        metric (str): OGB metric: ``"rocauc"``, ``"ap"`` or ``"rmse"``; or ``"mae"`` (ZINC,
            not an OGB dataset).
        dataset (str): dataset name; an OGB name selects OGB's own Evaluator entry.
        target_mean (list[float], optional): regression targets are standardised with these.
        target_std (list[float], optional): see ``target_mean``.
    """

    names: list[str]
    task_type: str
    metric: str
    dataset: str
    target_mean: list[float] | None = None
    target_std: list[float] | None = None

    @property
    def num_tasks(self) -> int:
        """Number of tasks (head outputs)."""
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        """Return plain types for a checkpoint's metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, content: Any) -> TaskSpec:
        """Rebuild a task saved by :meth:`to_dict`, checking every field.

        Raises:
            ValueError: naming the field, its value and what is allowed.
        """
        if not isinstance(content, dict):
            raise ValueError(f"expected a mapping of task fields, got {type(content).__name__}")
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(content) - set(allowed))
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in content]
        if unknown or missing:
            problem = f"unknown fields {unknown}" if unknown else f"missing fields {missing}"
            raise ValueError(f"{problem}; a task has {allowed}")
        task = cls(**content)
        names = task.names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"names: expected a non-empty list of task names, got {names!r}")
        for key, choices in (("task_type", TASK_TYPES), ("metric", TASK_METRICS)):
            if getattr(task, key) not in choices:
                value = getattr(task, key)
                raise ValueError(f"{key}: invalid value {value!r}; choose one of {list(choices)}")
        for key in ("target_mean", "target_std"):
            _check_scaling(key, getattr(task, key), task.num_tasks)
        return task

    def fit_scaling(self, y: Tensor) -> None:
        """Set the regression target scaling from training labels ``(G, num_tasks)``."""
        if self.task_type != "regression":
            return
        mean = torch.nanmean(y, dim=0)
        std = torch.sqrt(torch.nanmean((y - mean) ** 2, dim=0)).clamp(min=1e-6)
        self.target_mean, self.target_std = mean.tolist(), std.tolist()

    def _scaling(self, like: Tensor) -> tuple[Tensor, Tensor]:
        mean = torch.tensor(self.target_mean or [0.0] * self.num_tasks, device=like.device)
        std = torch.tensor(self.target_std or [1.0] * self.num_tasks, device=like.device)
        return mean, std

    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        """Mean loss over the labelled entries of ``y`` ``(B, num_tasks)`` (NaN = missing).

        A batch without any label gives a zero loss (and zero gradients), not NaN.
        """
        labelled = ~torch.isnan(y)
        if not labelled.any():
            return output.sum() * 0.0
        if self.task_type == "classification":
            return F.binary_cross_entropy_with_logits(output[labelled], y[labelled])
        mean, std = self._scaling(y)
        return F.mse_loss(output[labelled], ((y - mean) / std)[labelled])

    def predictions(self, output: Tensor) -> Tensor:
        """Map raw outputs to user units: probabilities, or values in the original units."""
        if self.task_type == "classification":
            return torch.sigmoid(output)
        mean, std = self._scaling(output)
        return output * std + mean

    def evaluator(self) -> Evaluator:
        """Return OGB's Evaluator for this dataset (OGB's entry of the same metric if custom)."""
        if self.dataset in ogb_master().columns:
            evaluator = Evaluator(self.dataset)
        else:  # asked for an unknown name, OGB's Evaluator prints it before raising
            evaluator = Evaluator(OGB_TEMPLATE[self.metric])
            evaluator.name = self.dataset
        evaluator.num_tasks = self.num_tasks
        evaluator.eval_metric = self.metric
        return evaluator

    def score(self, predictions: np.ndarray, y: np.ndarray) -> float:
        """Score user-unit ``predictions`` against ``y`` with OGB's Evaluator.

        Returns NaN where OGB cannot score (e.g. no task has both classes), rather than
        stopping a run in a tiny validation split. MAE (ZINC's metric, which OGB's Evaluator
        lacks) is the mean absolute error over labelled entries.
        """
        if self.metric == "mae":
            labelled = ~np.isnan(y)
            return float(np.abs(predictions[labelled] - y[labelled]).mean())
        try:
            result = self.evaluator().eval({"y_true": y, "y_pred": predictions})
        except RuntimeError:
            return float("nan")
        return float(result[self.metric])

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger metric value is better (ROC-AUC, AP) or worse (RMSE)."""
        return self.metric not in LOWER_IS_BETTER


def _check_scaling(key: str, values: Any, num_tasks: int) -> None:
    """Stop unless ``values`` is None or one finite number per task (positive for a std)."""
    if values is None:
        return
    positive = key == "target_std"
    ok = (
        isinstance(values, list)
        and len(values) == num_tasks
        and all(isinstance(v, int | float) and math.isfinite(v) for v in values)
        and (not positive or all(v > 0 for v in values))
    )
    if not ok:
        kind = "positive finite number" if positive else "finite number"
        raise ValueError(f"{key}: expected one {kind} per task ({num_tasks}), got {values!r}")
