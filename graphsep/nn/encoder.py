"""The domain-agnostic pre-norm transformer core.

It takes tokens ``(B, 1 + N, D)`` with [CLS] at position 0, a key-padding mask ``(B, 1 + N)``
(True = real) and an optional additive attention bias ``(B, H, 1 + N, 1 + N)``. It knows nothing
about graphs, pixels or words: every front end hands it exactly this.
"""

from __future__ import annotations

from torch import Tensor, nn

from graphsep.nn.attention import Attention, Mlp
from graphsep.nn.norm import build_norm


class Block(nn.Module):
    """Pre-norm transformer block: ``h + Attn(norm1(h))``, then ``h + Mlp(norm2(h))``.

    Args:
        dim (int): model width ``D``.
        num_heads (int): attention heads ``H``.
        mlp_ratio (float): hidden width of the MLP as a multiple of ``D``.
        dropout (float): dropout on the residual branches.
        attn_dropout (float): dropout on attention weights.
        norm (str): ``"sep"`` or ``"share"``, see :func:`graphsep.nn.norm.build_norm`.
        cls_norm (str): the [CLS] normalizer of ``"sep"``: ``"bn"`` or ``"ln"``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        dropout: float,
        attn_dropout: float,
        norm: str,
        cls_norm: str,
    ) -> None:
        super().__init__()
        self.norm1 = build_norm(norm, dim, cls_norm)
        self.attn = Attention(dim, num_heads, attn_dropout, dropout)
        self.norm2 = build_norm(norm, dim, cls_norm)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)

    def forward(self, x: Tensor, attn_bias: Tensor) -> Tensor:
        """Map ``(B, T, D)`` to ``(B, T, D)`` under ``attn_bias`` ``(B, H, T, T)``."""
        x = x + self.attn(self.norm1(x), attn_bias)
        return x + self.mlp(self.norm2(x))


class TransformerEncoder(nn.Module):
    """A stack of pre-norm blocks with the chosen norm at every norm site, plus a final norm.

    Args:
        dim (int): model width ``D``.
        depth (int): number of blocks.
        num_heads (int): attention heads ``H``.
        mlp_ratio (float, optional): MLP hidden width over ``D``. (default: ``4.0``)
        dropout (float, optional): residual-branch dropout. (default: ``0.0``)
        attn_dropout (float, optional): attention-weight dropout. (default: ``0.0``)
        norm (str, optional): ``"sep"`` or ``"share"``. (default: ``"sep"``)
        cls_norm (str, optional): ``"bn"`` or ``"ln"`` for the [CLS] under ``"sep"``.
            (default: ``"bn"``)
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        norm: str = "sep",
        cls_norm: str = "bn",
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm_kind = norm
        self.blocks = nn.ModuleList(
            Block(dim, num_heads, mlp_ratio, dropout, attn_dropout, norm, cls_norm)
            for _ in range(depth)
        )
        self.norm = build_norm(norm, dim, cls_norm)

    def forward(self, tokens: Tensor, mask: Tensor, bias: Tensor | None = None) -> Tensor:
        """Encode ``tokens`` ``(B, T, D)``.

        Args:
            tokens (Tensor): ``(B, T, D)`` with [CLS] at position 0.
            mask (Tensor): ``(B, T)`` bool, True = real token; position 0 must be True.
            bias (Tensor, optional): additive attention bias ``(B, H, T, T)``.

        Returns:
            Tensor: the normalized outputs ``(B, T, D)``; padding rows are meaningless.
        """
        B, T, _ = tokens.shape
        if bias is None:
            bias = tokens.new_zeros(B, self.num_heads, T, T)
        # One additive mask for all blocks: padding keys get -inf. [CLS] is always a real key,
        # so no query row is fully masked.
        key_padding = ~mask[:, None, None, :]  # (B, 1, 1, T)
        attn_bias = bias.to(tokens.dtype).masked_fill(key_padding, float("-inf"))
        x = tokens
        for block in self.blocks:
            x = block(x, attn_bias)
        return self.norm(x)

    def extra_repr(self) -> str:
        """Hyper-parameters shown in ``repr``."""
        return f"depth={len(self.blocks)}, heads={self.num_heads}, norm={self.norm_kind!r}"
