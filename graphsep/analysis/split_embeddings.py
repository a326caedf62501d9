"""The [CLS] vectors of a data split, for any front end and any task.

The checkpoint's saved config rebuilds its data (the same files, split and scaling: the
Fashion-MNIST test images of an MAE run, the IMDB test reviews of an MLM or classification run
read with the checkpoint's own tokenizer, the scaffold test split of a molecule property run);
its encoder, without any head or decoder, embeds the split without masking or augmentation.

Other data can be given instead (``data``), read as the checkpoint's recipe reads its own: for
molecules a dataset folder in OGB's layout (``graphsep data build`` or an OGB download), whose
split is embedded with its labels, by any graph checkpoint, pretraining ones included; for text
a labelled table, split as the checkpoint's recipe splits tables; for images a labelled file or
class folder (as ``graphsep embed --images`` reads it, with the checkpoint's pixel scaling),
embedded whole.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from graphsep.config import Config, config_from_dict
from graphsep.config.legacy import upgrade_config
from graphsep.core.device import moved
from graphsep.core.model import Encoder
from graphsep.frontends.build import build_encoder
from graphsep.images.loaders import load_image_data
from graphsep.images.sources import load_split
from graphsep.molecules.ogb_layout import RELEASE_FILE
from graphsep.molecules.table import DataError
from graphsep.predict.encoder_only import EncoderOnly
from graphsep.predict.images import ImagePredictor
from graphsep.tasks.property.data import checkpoint_features, load_property_data
from graphsep.tasks.property.model import build_predictor
from graphsep.tasks.property.spec import TaskSpec
from graphsep.text.loaders import checkpoint_tokenizer, load_text_data
from graphsep.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_weights,
)

SPLITS = ("valid", "test")
"""The splits to embed: never train, whose loader shuffles and augments."""


@dataclass
class SplitEmbeddings:
    """The [CLS] vectors of one split, their labels, and what produced them.

    Args:
        cls (np.ndarray): ``(rows, dim)`` float32, in the loader's order.
        labels (np.ndarray): ``(rows,)`` class indices, or ``(rows, tasks)`` molecule targets
            (NaN where unmeasured).
        frontend (str): graph, image or text.
        kind (str): the checkpoint's task (classify, mae, mlm, property).
        norm (str): the checkpoint's ``model.core.norm``.
    """

    cls: np.ndarray
    labels: np.ndarray
    frontend: str
    kind: str
    norm: str


def _split_loader(cfg: Config, ckpt: Checkpoint, kind: str, split: str, given: bool) -> DataLoader:
    """Return the loader of ``split`` of the data the (possibly redirected) config names.

    A molecule property model's features are standardized with its checkpoint's statistics,
    as at prediction, whichever data it reads.
    """
    if cfg.model.frontend == "image":
        return getattr(load_image_data(cfg), split)
    if cfg.model.frontend == "text":
        return getattr(load_text_data(cfg, tokenizer=checkpoint_tokenizer(ckpt.path)), split)
    if kind == "property":
        return getattr(load_property_data(cfg, mol_features=checkpoint_features(ckpt, cfg)), split)
    if not given:  # the pretraining corpus has no labels nor split
        raise CheckpointError(
            f"{ckpt.path}: a {kind!r} checkpoint of the graph front end has no labelled split of "
            "its own; analyze a finetuned (property) checkpoint, or pass a dataset folder "
            "(--data)"
        )
    return getattr(load_property_data(cfg), split)


def reading(cfg: Config, data: Path, cache: Path) -> Config:
    """Point the checkpoint's config at ``data`` instead of its own data (molecules and text).

    Raises:
        DataError: a molecule ``data`` that is not a dataset folder.
    """
    if cfg.model.frontend == "text":
        text = replace(cfg.data.text, path=str(data), cache_dir=str(cache))
        return replace(cfg, data=replace(cfg.data, text=text))
    if not (data / RELEASE_FILE).is_file():
        raise DataError(
            f"{data}: not a dataset folder (no {RELEASE_FILE}); molecules are analysed from a "
            "dataset built with `graphsep data build NAME --source TABLE --root ROOT` "
            "(pass ROOT/NAME) or downloaded by ogb"
        )
    name = "-".join(data.name.removesuffix("_pyg").split("_"))
    return replace(cfg, data=replace(cfg.data, name=name, root=str(data.parent), source=None))


def _encoder(ckpt: Checkpoint, cfg: Config, kind: str) -> Encoder:
    """Return the checkpoint's encoder with its weights, its head or decoder left behind.

    A property model is built whole: its encoder may start [CLS] from the molecule's features
    (``task.property.mol_features``), which the task passes into it.
    """
    if kind == "property" and cfg.model.frontend == "graph":
        model = build_predictor(cfg, TaskSpec.from_dict(ckpt.meta["task"]).num_tasks)
        load_weights(model, ckpt.state_dict, ckpt.path)
        return model.encoder
    model = EncoderOnly(build_encoder(cfg.model))
    state = {k: v for k, v in ckpt.state_dict.items() if k.startswith("encoder.")}
    load_weights(model, state, ckpt.path)
    return model.encoder


@torch.no_grad()
def split_embeddings(
    path: str | Path, split: str = "test", data: str | Path | None = None
) -> SplitEmbeddings:
    """Embed ``split`` (valid or test) of the checkpoint's own data, or of ``data``.

    Raises:
        CheckpointError: not a checkpoint, or a graph pretraining one without ``data``.
        DataError, ImageDataError: ``data`` cannot be read as the checkpoint's front end reads.
        ValueError: a split other than valid or test.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: choose one of {', '.join(SPLITS)}")
    ckpt = load_checkpoint(path)
    cfg = config_from_dict(upgrade_config(ckpt.meta["config"]), str(ckpt.path / "meta.json"),
                           run=False)  # fmt: skip
    kind = ckpt.meta.get("kind", "property")
    if data is not None and cfg.model.frontend == "image":
        return _given_images(ckpt.path, Path(data), kind, cfg.model.core.norm)
    with tempfile.TemporaryDirectory() as cache:  # a given table's split, not the run's
        if data is not None:
            cfg = reading(cfg, Path(data), Path(cache))
        loader = _split_loader(cfg, ckpt, kind, split, given=data is not None)
        encoder = _encoder(ckpt, cfg, kind).eval()
        vectors, labels = [], []
        for batch in loader:
            batch = moved(batch, "cpu")
            vectors.append(encoder(batch).cls.float().numpy())
            labels.append(batch.y.numpy())
    return SplitEmbeddings(
        cls=np.concatenate(vectors), labels=np.concatenate(labels), frontend=cfg.model.frontend,
        kind=kind, norm=cfg.model.core.norm,
    )  # fmt: skip


def _given_images(path: Path, data: Path, kind: str, norm: str) -> SplitEmbeddings:
    """Embed every image of a labelled file or class folder, scaled as the checkpoint was."""
    images = load_split(data)
    vectors = ImagePredictor.from_checkpoint(path, "cpu").embed(images.images, str(data))
    return SplitEmbeddings(vectors, images.labels, "image", kind, norm)
