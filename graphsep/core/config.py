"""The settings of the transformer core (``model.core.*``), one object passed whole."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CoreConfig:
    """Width, depth and norms of the domain-agnostic encoder; the same for every front end."""

    norm: str = "sep"  # sep: [CLS] normalized apart from the tokens (the paper); share: one LN
    cls_norm: str = "bn"  # the [CLS] normalizer under sep: bn (BatchNorm over the batch) or ln
    dim: int = 128  # model width D
    depth: int = 4  # transformer blocks
    num_heads: int = 8  # attention heads H; must divide dim
    mlp_ratio: float = 4.0  # MLP hidden width over D
    dropout: float = 0.1  # residual-branch dropout
    attn_dropout: float = 0.1  # attention-weight dropout
