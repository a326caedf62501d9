"""The classifier of a run: an image or text encoder with a linear head on [CLS], or a probe."""

from __future__ import annotations

from torch import nn

from graphsep.config import Config
from graphsep.core.heads import ClsPredictor, LinearHead
from graphsep.frontends.build import build_encoder


class LinearProbe(ClsPredictor):
    """A :class:`ClsPredictor` whose encoder is frozen: no gradients, always in eval mode.

    Eval mode keeps the encoder's BatchNorm statistics (SepNorm's [CLS]) as they were
    pretrained; only the head learns.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__(encoder, head)
        self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> LinearProbe:
        """Set the head's mode; the encoder stays in eval mode."""
        super().train(mode)
        self.encoder.eval()
        return self


def build_classifier(cfg: Config, num_classes: int) -> ClsPredictor:
    """Build the encoder of ``cfg.model`` with a linear head of ``num_classes`` outputs.

    ``task.classify.probe`` freezes the encoder (:class:`LinearProbe`); the head then has
    ``task.classify.probe_norm`` before it, as MAE's linear probe.
    """
    settings = cfg.task.classify
    encoder = build_encoder(cfg.model)
    norm = settings.probe and settings.probe_norm == "batchnorm"
    head = LinearHead(encoder.dim, num_classes, norm=norm, dropout=settings.head_dropout)
    return (LinearProbe if settings.probe else ClsPredictor)(encoder, head)
