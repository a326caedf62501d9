"""The property predictor of a run: the graph encoder with a head on [CLS]."""

from __future__ import annotations

from graphsep.config import Config
from graphsep.core.heads import ClsHead, ClsPredictor
from graphsep.frontends.graph.frontend import graph_encoder


def build_predictor(cfg: Config, num_tasks: int) -> ClsPredictor:
    """Build the encoder of ``cfg.model`` with a ``num_tasks``-output head (``task.property``)."""
    encoder = graph_encoder(cfg.model.core, cfg.model.graph)
    return ClsPredictor(encoder, ClsHead(encoder.dim, num_tasks, cfg.task.property.head_dropout))
