"""The property predictor of a run: the graph encoder with a head on [CLS].

With ``task.property.mol_features`` the molecule's RDKit features enter where
``task.property.mol_features_into`` says: ``cls``, a linear projection added to the virtual
[CLS] node's initial state (under SepNorm that token is the one normalized apart), and/or
``head``, concatenated with the final [CLS] vector before the head (as chemprop adds extra
features to its fingerprint).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from graphsep.config import Config
from graphsep.core.heads import ClsHead, ClsPredictor
from graphsep.frontends.graph.frontend import graph_encoder
from graphsep.molecules.descriptors import feature_width

CLS_FEATURES = "frontend.cls_features."
"""Encoder weights of the [CLS] feature projection: new when finetuning a pretrained encoder."""


class FeatureHeadPredictor(ClsPredictor):
    """A :class:`ClsPredictor` whose head reads [CLS] and the batch's ``mol_features``.

    Args:
        encoder (Encoder): front end and core.
        head (nn.Module): ``(B, D + F)`` to ``(B, outputs)``.
    """

    def forward(self, batch: Any) -> Tensor:
        """Return raw outputs ``(B, num_outputs)`` in float32."""
        cls = self.encoder(batch).cls  # (B, D)
        features = batch.mol_features
        if features is None:
            raise ValueError(
                "this model's head reads whole-molecule features (task.property.mol_features), "
                "but the batch carries none"
            )
        return self.head(torch.cat([cls, features.to(cls.dtype)], dim=-1)).float()


def build_predictor(cfg: Config, num_tasks: int) -> ClsPredictor:
    """Build the encoder of ``cfg.model`` with a ``num_tasks``-output head (``task.property``)."""
    prop = cfg.task.property
    width = feature_width(prop.mol_features)
    into = set(prop.mol_features_into) if width else set()
    dim = cfg.model.core.dim
    cls_features = nn.Linear(width, dim) if "cls" in into else None
    encoder = graph_encoder(cfg.model.core, cfg.model.graph, cls_features)
    if "head" in into:
        head = ClsHead(dim + width, num_tasks, prop.head_dropout, hidden=dim)
        return FeatureHeadPredictor(encoder, head)
    return ClsPredictor(encoder, ClsHead(dim, num_tasks, prop.head_dropout))


def with_new_parameters(encoder_state: dict[str, Tensor], model: ClsPredictor) -> dict[str, Tensor]:
    """Complete a pretrained encoder's weights with the model's own [CLS] feature projection.

    A pretrained encoder never had one; every other missing weight is still an error of
    :func:`~graphsep.training.checkpoint.load_weights`.
    """
    own = model.encoder.state_dict()
    return {**{k: v for k, v in own.items() if k.startswith(CLS_FEATURES)}, **encoder_state}
