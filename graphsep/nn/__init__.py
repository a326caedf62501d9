"""Neural modules: the domain-agnostic SepNorm transformer core and the Graphormer front end."""

from graphsep.nn.encoder import Block, TransformerEncoder
from graphsep.nn.graphormer import GraphormerEmbedding
from graphsep.nn.model import GraphTransformer, PropertyPredictor
from graphsep.nn.norm import SepNorm, ShareNorm, build_norm

__all__ = [
    "Block",
    "GraphTransformer",
    "GraphormerEmbedding",
    "PropertyPredictor",
    "SepNorm",
    "ShareNorm",
    "TransformerEncoder",
    "build_norm",
]
