"""Seed ensembles of property models: N seeds trained into one folder, scored as their mean.

``train.ensemble=N`` trains members ``seed, seed + 1, ..., seed + N - 1`` one after another into
``<out_dir>/member-<k>/`` (each an ordinary run, resumable on its own), then scores the mean of
their valid and test predictions and writes ``<out_dir>/ensemble.json`` (the members, in order)
and ``<out_dir>/results.json``: the ensemble's metric beside each member's, the calibration of
its probabilities (Brier score, expected calibration error) and whether the spread over members
finds its own errors (ROC-AUC of the per-molecule standard deviation against being wrong).
``graphsep predict`` and ``graphsep embed`` take the folder (:func:`load_members`).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from graphsep.config import Config
from graphsep.config.load import ConfigError
from graphsep.files import write_atomically
from graphsep.tasks.property.data import load_property_data
from graphsep.tasks.property.model import build_predictor
from graphsep.tasks.property.run import finetune, predict
from graphsep.tasks.property.spec import TaskSpec
from graphsep.training.checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_weights

ENSEMBLE_FILE = "ensemble.json"
CALIBRATION_BINS = 10
AGREEING = ("task", "mol_features")
"""Checkpoint entries every member must share; ``model.core.norm`` too."""


def member_dir(out_dir: str | Path, index: int) -> Path:
    """Return the folder of member ``index`` of the ensemble in ``out_dir``."""
    return Path(out_dir) / f"member-{index}"


def train_ensemble(cfg: Config) -> dict[str, Any]:
    """Train ``train.ensemble`` seeds of the property model, then score their mean.

    Under ``resume=auto`` a member whose ``results.json`` exists is kept, so a rerun continues
    the ensemble where it stopped; without it every member trains anew, as a single run does.

    Raises:
        ConfigError: under ``torchrun``, or for a task other than ``property``.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            "train.ensemble trains its members one after another in one process; run it "
            "without torchrun"
        )
    if cfg.task.name != "property":
        raise ConfigError(f"train.ensemble: only task.name=property has ensembles, not "
                          f"{cfg.task.name!r}")  # fmt: skip
    members = []
    for k in range(cfg.train.ensemble):
        member = replace(
            cfg, seed=cfg.seed + k, out_dir=str(member_dir(cfg.out_dir, k)),
            train=replace(cfg.train, ensemble=1),
        )  # fmt: skip
        done = Path(member.out_dir) / "results.json"
        kept = cfg.resume == "auto" and done.exists()
        members.append(json.loads(done.read_text()) if kept else finetune(member))
    results = score_ensemble(cfg, members)
    listing = {"members": [member_dir(".", k).name for k in range(cfg.train.ensemble)]}
    for name, content in ((ENSEMBLE_FILE, listing), ("results.json", results)):
        text = json.dumps(content, indent=1) + "\n"
        write_atomically(Path(cfg.out_dir) / name, lambda tmp, t=text: tmp.write_text(t))
    return results


def score_ensemble(cfg: Config, members: list[dict[str, Any]]) -> dict[str, Any]:
    """Score the mean of the members' best checkpoints on valid and test.

    Also writes ``<out_dir>/predictions.npz``: per split, the dataset's graph ids
    (``<split>_index``), the members' predictions ``(M, G, T)`` in user units
    (``<split>_members``) and the labels (``<split>_labels``), for blending with other models.
    """
    data = load_property_data(cfg)
    models = []
    for k in range(len(members)):
        model = build_predictor(cfg, data.task.num_tasks)
        best = load_checkpoint(member_dir(cfg.out_dir, k) / "best")
        load_weights(model, best.state_dict, best.path)
        models.append(model)
    split_scores, arrays = {}, {}
    for split in ("valid", "test"):
        loader = getattr(data, split)
        outputs = [predict(model, loader, data.task, torch.device("cpu")) for model in models]
        preds, labels = np.stack([p for p, _ in outputs]), outputs[0][1]
        split_scores[split] = ensemble_metrics(preds, labels, data.task)
        order = [i for batch in loader.batch_sampler for i in batch]  # the loader's graph order
        arrays[f"{split}_index"] = loader.dataset.indices[order].numpy()
        arrays[f"{split}_members"], arrays[f"{split}_labels"] = preds, labels
    write_atomically(Path(cfg.out_dir) / "predictions.npz", lambda tmp: _save_npz(tmp, arrays))
    test = split_scores["test"]
    return {
        "dataset": cfg.data.name, "metric": data.task.metric, "members": len(members),
        "valid": split_scores["valid"]["metric"], "test": test["metric"],
        "member_valid": [m["valid"] for m in members], "member_test": [m["test"] for m in members],
        "test_uncertainty": {k: v for k, v in test.items() if k != "metric"},
        "norm": cfg.model.core.norm, "seed": cfg.seed,
    }  # fmt: skip


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:  # a file object: numpy would add ".npz" to a temporary name
        np.savez_compressed(f, **arrays)


def ensemble_metrics(preds: np.ndarray, labels: np.ndarray, task: TaskSpec) -> dict[str, float]:
    """Score the mean of member predictions and how well their spread finds its errors.

    Args:
        preds (np.ndarray): ``(M, G, T)`` member predictions in user units (probabilities or
            values).
        labels (np.ndarray): ``(G, T)``, NaN = missing.
        task (TaskSpec): the task (metric and type).

    Returns:
        dict[str, float]: ``metric`` (the task's, of the mean), ``spread_error_auc`` (ROC-AUC of
        the standard deviation against a wrong prediction: a probability on the wrong side of
        0.5, or for regression an error above the median), and for classification ``brier``
        and ``ece`` (expected calibration error, 10 equal-width bins).
    """
    mean, spread = preds.mean(0), preds.std(0)
    labelled = np.isfinite(labels)
    p, y, s = mean[labelled], labels[labelled], spread[labelled]
    scores = {"metric": task.score(mean, labels)}
    if task.task_type == "classification":
        wrong = (p >= 0.5) != (y > 0.5)
        scores["brier"] = float(np.mean((p - y) ** 2))
        scores["ece"] = expected_calibration_error(p, y)
    else:
        error = np.abs(p - y)
        wrong = error > np.median(error)
    has_both = 0 < wrong.sum() < wrong.size
    scores["spread_error_auc"] = float(roc_auc_score(wrong, s)) if has_both else float("nan")
    return scores


def expected_calibration_error(p: np.ndarray, y: np.ndarray) -> float:
    """Weighted mean gap between confidence and frequency over equal-width probability bins."""
    bins = np.minimum((p * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    gap = 0.0
    for b in np.unique(bins):
        inside = bins == b
        gap += inside.sum() * abs(p[inside].mean() - y[inside].mean())
    return float(gap / max(len(p), 1))


def load_members(path: str | Path) -> list[Checkpoint]:
    """Load a checkpoint folder, or every member's ``best`` of an ensemble folder.

    Raises:
        CheckpointError: a member disagrees with the first on tasks, features or norm; the
            message names the member and the entry.
    """
    listing = Path(path) / ENSEMBLE_FILE
    if not listing.is_file():
        return [load_checkpoint(path)]
    try:
        names = json.loads(listing.read_text())["members"]
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{listing}: not an ensemble listing ({err})") from err
    members = [load_checkpoint(Path(path) / name / "best") for name in names]
    first = members[0]
    for name, member in zip(names[1:], members[1:], strict=True):
        for key in AGREEING:
            if member.meta.get(key) != first.meta.get(key):
                raise CheckpointError(
                    f"{Path(path) / name}: its {key} differs from {names[0]}'s; an ensemble's "
                    "members must predict the same tasks from the same features"
                )
        norms = [m.meta["config"]["model"]["core"]["norm"] for m in (first, member)]
        if norms[0] != norms[1]:
            raise CheckpointError(
                f"{Path(path) / name}: model.core.norm={norms[1]!r}, but {names[0]} has "
                f"{norms[0]!r}"
            )
    return members
