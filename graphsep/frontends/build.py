"""The encoder a config describes: ``model.frontend``'s front end and the core."""

from __future__ import annotations

from graphsep.config.schema import ModelConfig
from graphsep.core.model import Encoder
from graphsep.frontends.graph.frontend import graph_encoder
from graphsep.frontends.image.frontend import image_encoder
from graphsep.frontends.text.frontend import text_encoder


def build_encoder(model: ModelConfig) -> Encoder:
    """Build the front end named by ``model.frontend``, with its settings, and the core."""
    builders = {
        "graph": lambda: graph_encoder(model.core, model.graph),
        "image": lambda: image_encoder(model.core, model.image),
        "text": lambda: text_encoder(model.core, model.text),
    }
    return builders[model.frontend]()
