"""Multi-head self-attention with an additive bias, and the feed-forward block.

Both take the core's flat ``(R, D)`` tokens (:mod:`graphsep.core.packing`): the projections run
once over every chunk of a batch, attention per chunk on a ``(B_i, T_i)`` view.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphsep.core.packing import ChunkLayout


class Attention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention``.

    Args:
        dim (int): model width ``D``.
        num_heads (int): number of heads ``H``; must divide ``D``.
        attn_dropout (float, optional): dropout on attention weights. (default: ``0.0``)
        proj_dropout (float, optional): dropout after the output projection. (default: ``0.0``)
    """

    def __init__(
        self, dim: int, num_heads: int, attn_dropout: float = 0.0, proj_dropout: float = 0.0
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.attn_dropout = attn_dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_dropout)

    def forward(
        self, x: Tensor, layout: ChunkLayout, attn_masks: Sequence[Tensor | None]
    ) -> Tensor:
        """Attend within each chunk of the flat tokens ``x`` ``(R, D)``.

        Args:
            x (Tensor): ``(R, D)`` tokens laid out by ``layout``.
            layout (ChunkLayout): the ``(B_i, T_i)`` chunks of ``x``.
            attn_masks (Sequence[Tensor | None]): per chunk, SDPA's ``attn_mask``: None, a
                boolean ``(B_i, 1, 1, T_i)`` key mask (True = attend), or a float
                ``(B_i, H, T_i, T_i)`` bias whose padding keys carry ``-inf``.

        Returns:
            Tensor: ``(R, D)``.
        """
        D = x.size(1)
        dropout = self.attn_dropout if self.training else 0.0
        outs = []
        for qkv, attn_mask in zip(layout.split(self.qkv(x)), attn_masks, strict=True):
            B, T, _ = qkv.shape  # (B, T, 3D)
            qkv = qkv.reshape(B, T, 3, self.num_heads, D // self.num_heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, T, D/H)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
            outs.append(out.transpose(1, 2).reshape(B * T, D))  # (B * T, D)
        out = outs[0] if len(outs) == 1 else torch.cat(outs)  # (R, D)
        return self.proj_drop(self.proj(out))


class Mlp(nn.Module):
    """Two-layer feed-forward block with GELU.

    Args:
        dim (int): input and output width ``D``.
        hidden_dim (int): hidden width.
        dropout (float, optional): dropout after each layer. (default: ``0.0``)
    """

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(..., D)`` to ``(..., D)``."""
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))
