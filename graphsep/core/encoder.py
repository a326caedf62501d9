"""The domain-agnostic pre-norm transformer core.

It takes tokens ``(B, 1 + N, D)`` with [CLS] at position 0, a key-padding mask ``(B, 1 + N)``
(True = real) and an optional additive attention bias ``(B, H, 1 + N, 1 + N)``. It knows nothing
about graphs, pixels or words: every front end hands it exactly this.

A batch comes as one or more such chunks (:class:`~graphsep.core.contract.CoreInput`), each
padded to its own length. Inside, every chunk's tokens lie in one flat tensor
(:mod:`graphsep.core.packing`): attention runs per chunk, every per-token layer once, the norms
over the whole batch, so a random batch split into size-sorted chunks pads little and keeps
SepNorm's whole-batch [CLS] statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from graphsep.core.attention import Attention, Mlp
from graphsep.core.config import CoreConfig
from graphsep.core.contract import CoreInput
from graphsep.core.norm import NormLayer, SepNorm, norm_layer
from graphsep.core.packing import ChunkLayout


def attention_mask(tokens: Tensor, mask: Tensor | None, bias: Tensor | None) -> Tensor | None:
    """Return what SDPA needs to attend over ``tokens`` ``(B, T, D)``, and no more.

    A front end without a pairwise bias (image, text) pays nothing for one: without padding
    (``mask`` None: images, whose sequences all have one length) no mask at all, so SDPA may
    take its flash kernel; with padding, a boolean ``(B, 1, 1, T)`` key mask (True = attend),
    which the memory-efficient kernel takes. With a bias (the graph), the float
    ``(B, H, T, T)`` bias with padding keys at ``-inf``. Nothing is read back to the host: the
    choice goes by what the front end passed, not by the mask's values.
    """
    if bias is None:
        return None if mask is None else mask[:, None, None, :]  # (B, 1, 1, T)
    if mask is None:
        return bias.to(tokens.dtype)
    # [CLS] is always a real key, so no query row is fully masked
    key_padding = ~mask[:, None, None, :]  # (B, 1, 1, T)
    return bias.to(tokens.dtype).masked_fill(key_padding, float("-inf"))


class Block(nn.Module):
    """Pre-norm transformer block: ``h + Attn(norm1(h))``, then ``h + Mlp(norm2(h))``.

    Args:
        dim (int): model width ``D``.
        num_heads (int): attention heads ``H``.
        mlp_ratio (float): hidden width of the MLP as a multiple of ``D``.
        dropout (float): dropout on the residual branches.
        attn_dropout (float): dropout on attention weights.
        norm_layer (NormLayer): builds each norm site from ``D``, e.g.
            ``norm_layer("sep")`` (:func:`graphsep.core.norm.norm_layer`) or ``ShareNorm``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        dropout: float,
        attn_dropout: float,
        norm_layer: NormLayer,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, attn_dropout, dropout)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)

    def forward(
        self, x: Tensor, layout: ChunkLayout, attn_masks: Sequence[Tensor | None]
    ) -> Tensor:
        """Map flat tokens ``(R, D)`` to ``(R, D)`` under one :func:`attention_mask` per chunk.

        The norms see every chunk at once (SepNorm's [CLS] statistics span the whole batch);
        attention acts within each chunk.
        """
        x = x + self.attn(self.norm1.forward_flat(x, layout.cls_index), layout, attn_masks)
        return x + self.mlp(self.norm2.forward_flat(x, layout.cls_index))


class TransformerEncoder(nn.Module):
    """A stack of pre-norm blocks with the chosen norm at every norm site, plus a final norm.

    Args:
        dim (int): model width ``D``.
        depth (int): number of blocks.
        num_heads (int): attention heads ``H``.
        mlp_ratio (float, optional): MLP hidden width over ``D``. (default: ``4.0``)
        dropout (float, optional): residual-branch dropout. (default: ``0.0``)
        attn_dropout (float, optional): attention-weight dropout. (default: ``0.0``)
        norm_layer (NormLayer, optional): builds every norm site (both pre-norms of each
            block and the final one). (default: :class:`SepNorm` with a BatchNorm [CLS])
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        norm_layer: NormLayer = SepNorm,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.blocks = nn.ModuleList(
            Block(dim, num_heads, mlp_ratio, dropout, attn_dropout, norm_layer)
            for _ in range(depth)
        )
        self.norm = norm_layer(dim)

    @classmethod
    def from_config(cls, cfg: CoreConfig) -> TransformerEncoder:
        """Build the core that ``model.core`` describes."""
        return cls(
            cfg.dim, cfg.depth, cfg.num_heads, cfg.mlp_ratio, cfg.dropout, cfg.attn_dropout,
            norm_layer(cfg.norm, cfg.cls_norm),
        )  # fmt: skip

    def forward(
        self, tokens: Tensor, mask: Tensor | None = None, bias: Tensor | None = None
    ) -> Tensor:
        """Encode one chunk: ``tokens`` ``(B, T, D)``.

        Args:
            tokens (Tensor): ``(B, T, D)`` with [CLS] at position 0.
            mask (Tensor, optional): ``(B, T)`` bool, True = real token; position 0 must be
                True. None: no padding.
            bias (Tensor, optional): additive attention bias ``(B, H, T, T)``.

        Returns:
            Tensor: the normalized outputs ``(B, T, D)``; padding rows are meaningless.
        """
        return self.forward_chunks([CoreInput(tokens, mask, bias)])[0]

    def forward_chunks(self, chunks: Sequence[CoreInput]) -> list[Tensor]:
        """Encode one batch held as chunks, each padded to its own length ``T_i``.

        The norms normalize all chunks together, so the result equals encoding the chunks
        padded into one tensor.

        Args:
            chunks (Sequence[CoreInput]): the front end's output for one batch.

        Returns:
            list[Tensor]: the normalized outputs ``(B_i, T_i, D)`` of each chunk.
        """
        tokens = [c.tokens for c in chunks]
        layout = ChunkLayout.of(tokens)
        x = layout.pack(tokens)  # (R, D)
        attn_masks = [attention_mask(c.tokens, c.mask, c.bias) for c in chunks]
        for block in self.blocks:
            x = block(x, layout, attn_masks)
        return layout.split(self.norm.forward_flat(x, layout.cls_index))

    def extra_repr(self) -> str:
        """Hyper-parameters shown in ``repr``."""
        return f"depth={len(self.blocks)}, heads={self.num_heads}"
