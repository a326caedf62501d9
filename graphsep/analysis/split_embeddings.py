"""The [CLS] vectors of a checkpoint's own data split, for any front end and any task.

The checkpoint's saved config rebuilds its data (the same files, split and scaling: the
Fashion-MNIST test images of an MAE run, the IMDB test reviews of an MLM or classification run
read with the checkpoint's own tokenizer, the scaffold test split of a molecule property run);
its encoder, without any head or decoder, embeds the split without masking or augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from graphsep.config import Config, config_from_dict
from graphsep.config.legacy import upgrade_config
from graphsep.core.device import moved
from graphsep.frontends.build import build_encoder
from graphsep.images.loaders import load_image_data
from graphsep.predict.encoder_only import EncoderOnly
from graphsep.tasks.property.data import load_property_data
from graphsep.text.loaders import checkpoint_tokenizer, load_text_data
from graphsep.training.checkpoint import CheckpointError, load_checkpoint, load_weights

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


def _split_loader(cfg: Config, path: Path, kind: str, split: str) -> DataLoader:
    """Return the loader of ``split`` of the data the checkpoint's config names."""
    if cfg.model.frontend == "image":
        return getattr(load_image_data(cfg), split)
    if cfg.model.frontend == "text":
        return getattr(load_text_data(cfg, tokenizer=checkpoint_tokenizer(path)), split)
    if kind != "property":  # masked_graph: the corpus has no labels nor valid/test split
        raise CheckpointError(
            f"{path}: a {kind!r} checkpoint of the graph front end has no labelled split; "
            "analyze a finetuned (property) checkpoint"
        )
    return getattr(load_property_data(cfg), split)


@torch.no_grad()
def split_embeddings(path: str | Path, split: str = "test") -> SplitEmbeddings:
    """Embed ``split`` (valid or test) of the checkpoint's own data with its encoder.

    Raises:
        CheckpointError: not a checkpoint, or a graph pretraining one (no labelled split).
        ValueError: a split other than valid or test.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: choose one of {', '.join(SPLITS)}")
    ckpt = load_checkpoint(path)
    cfg = config_from_dict(upgrade_config(ckpt.meta["config"]), str(ckpt.path / "meta.json"),
                           run=False)  # fmt: skip
    kind = ckpt.meta.get("kind", "property")
    loader = _split_loader(cfg, ckpt.path, kind, split)
    model = EncoderOnly(build_encoder(cfg.model))
    state = {k: v for k, v in ckpt.state_dict.items() if k.startswith("encoder.")}
    load_weights(model, state, ckpt.path)
    model.eval()
    vectors, labels = [], []
    for batch in loader:
        batch = moved(batch, "cpu")
        vectors.append(model.encoder(batch).cls.float().numpy())
        labels.append(batch.y.numpy())
    return SplitEmbeddings(
        cls=np.concatenate(vectors), labels=np.concatenate(labels), frontend=cfg.model.frontend,
        kind=kind, norm=cfg.model.core.norm,
    )  # fmt: skip
