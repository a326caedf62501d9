"""The domain-agnostic transformer core: SepNorm or ShareNorm blocks behind one contract.

Importing it loads torch alone: no RDKit, OGB or PyG (``tests/test_core_import.py``).
"""

from graphsep.core.config import CoreConfig
from graphsep.core.contract import CoreInput, EncoderOutput, FrontEnd
from graphsep.core.encoder import Block, TransformerEncoder
from graphsep.core.heads import ClsHead, ClsPredictor, LinearHead
from graphsep.core.model import Encoder
from graphsep.core.norm import CLS_NORM_KINDS, NORM_KINDS, SepNorm, ShareNorm, norm_layer

__all__ = [
    "CLS_NORM_KINDS",
    "NORM_KINDS",
    "Block",
    "ClsHead",
    "ClsPredictor",
    "CoreConfig",
    "CoreInput",
    "Encoder",
    "EncoderOutput",
    "FrontEnd",
    "LinearHead",
    "SepNorm",
    "ShareNorm",
    "TransformerEncoder",
    "norm_layer",
]
