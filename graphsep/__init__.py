"""graphsep: graph transformers with separate normalization of the [CLS] token (SepNorm)."""

__version__ = "0.1.0"
