"""Scoring texts with a trained text checkpoint: class probabilities, or [CLS] embeddings.

A ``classify`` checkpoint of a text model gives both; an ``mlm`` checkpoint gives embeddings.
The checkpoint's own ``tokenizer.json`` turns the texts into ids, so a text scores as it would
have in training. An empty or whitespace-only text is flagged in its row, never scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from graphsep.config import config_from_dict
from graphsep.core.precision import autocast
from graphsep.frontends.build import build_encoder
from graphsep.frontends.text.collate import TextCollator
from graphsep.predict.encoder_only import EncoderOnly
from graphsep.predict.routes import frontend_of, wrong_source
from graphsep.tasks.classify.model import build_classifier
from graphsep.text.loaders import checkpoint_tokenizer
from graphsep.training.checkpoint import CheckpointError, load_checkpoint, load_weights
from graphsep.training.runtime import resolve_device

EMPTY_TEXT = "empty text"
"""The ``error`` of a row whose text is empty or whitespace."""


@dataclass
class TextPredictor:
    """A text model and its tokenizer, ready to score texts.

    Args:
        model (nn.Module): the classifier, or (``mlm``) the encoder under ``encoder``.
        tokenizer (tokenizers.Tokenizer): the checkpoint's, truncating to its maximum length.
        classes (list[str] | None): the label of each class; None without a class head.
        device (torch.device): where it runs.
        batch_size (int): texts per forward pass.
        precision (str): fp32, or bf16 / fp16 autocast (outputs stay float32).
    """

    model: nn.Module
    tokenizer: object
    classes: list[str] | None
    device: torch.device
    batch_size: int = 64
    precision: str = "fp32"

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "auto", batch_size: int = 64,
        precision: str = "fp32",
    ) -> TextPredictor:  # fmt: skip
        """Load a text model's ``classify`` or ``mlm`` checkpoint folder and its tokenizer.

        Raises:
            CheckpointError: not a text model's checkpoint, or one without a readable
                ``tokenizer.json``; the file is named.
        """
        ckpt = load_checkpoint(path)
        meta_file = ckpt.path / "meta.json"
        kind = ckpt.meta.get("kind", "unknown")
        if frontend_of(ckpt.meta) != "text" or kind not in ("classify", "mlm"):
            raise CheckpointError(wrong_source(
                ckpt.meta, str(meta_file), "--texts needs a text model's classify or mlm checkpoint"
            ))  # fmt: skip
        tokenizer = checkpoint_tokenizer(ckpt.path)
        saved = ckpt.meta["config"]
        cfg = config_from_dict({"model": saved["model"], "task": saved["task"]}, str(meta_file),
                               run=False)  # fmt: skip
        tokenizer.enable_truncation(cfg.model.text.max_length)
        if kind == "classify":
            model, classes = build_classifier(cfg, len(ckpt.meta["classes"])), ckpt.meta["classes"]
            state = ckpt.state_dict
        else:
            model, classes = EncoderOnly(build_encoder(cfg.model)), None
            state = {k: v for k, v in ckpt.state_dict.items() if k.startswith("encoder.")}
        load_weights(model, state, ckpt.path)
        device_ = resolve_device(device)
        model.to(device_).eval()
        return cls(model, tokenizer, classes, device_, batch_size, precision)

    @torch.inference_mode()
    def _outputs(self, texts: list[str], embed: bool, width: int) -> tuple[np.ndarray, list[str]]:
        """Per text, the output row (NaN for an empty text) and its error."""
        errors = ["" if t.strip() else EMPTY_TEXT for t in texts]
        out = np.full((len(texts), width), np.nan, np.float32)
        rows = [i for i, error in enumerate(errors) if not error]
        ids = [e.ids for e in self.tokenizer.encode_batch([texts[i] for i in rows])]
        for start in range(0, len(rows), self.batch_size):
            part = list(range(start, min(start + self.batch_size, len(rows))))
            batch = TextCollator(1)([(ids[j], 0) for j in part]).to(self.device)
            with autocast(self.precision, self.device):
                values = self.model.encoder(batch).cls if embed else self.model(batch).softmax(-1)
            out[[rows[j] for j in part]] = values.float().cpu().numpy()
        return out, errors

    def predict(self, texts: list[str]) -> pd.DataFrame:
        """Return per text ``predicted`` (its class label), ``p_<label>`` columns and ``error``.

        Raises:
            CheckpointError: an ``mlm`` checkpoint, which has no class head.
        """
        if self.classes is None:
            raise CheckpointError("an 'mlm' checkpoint has no class head: use graphsep embed")
        probabilities, errors = self._outputs(texts, embed=False, width=len(self.classes))
        frame = pd.DataFrame(probabilities, columns=[f"p_{c}" for c in self.classes])
        best = np.nan_to_num(probabilities, nan=-1).argmax(1)
        labels = [self.classes[k] if not e else "" for k, e in zip(best, errors, strict=True)]
        frame.insert(0, "predicted", labels)
        frame["error"] = errors
        return frame

    def embed(self, texts: list[str]) -> tuple[np.ndarray, list[str]]:
        """Return the [CLS] embedding ``(N, D)`` of each text (NaN rows for empty texts), errors."""
        return self._outputs(texts, embed=True, width=self.model.encoder.dim)
