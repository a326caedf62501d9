"""The MAE model: the image encoder sees the visible patches, a light decoder fills in the rest.

The decoder is the same core as the encoder, narrower and shallower, built with the encoder's
norm (``model.core.norm``), so SepNorm vs ShareNorm changes both, as in the paper's MAE rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from graphsep.core.config import CoreConfig
from graphsep.core.encoder import TransformerEncoder
from graphsep.core.model import Encoder
from graphsep.core.norm import norm_layer
from graphsep.frontends.image.batch import ImageBatch
from graphsep.frontends.image.config import ImageConfig
from graphsep.frontends.image.patches import patchify
from graphsep.frontends.image.positions import sincos_2d
from graphsep.tasks.mae.config import MaeConfig
from graphsep.tasks.mae.masking import masked_patches


@dataclass
class Reconstruction:
    """Predicted and true pixels of every patch, and which patches were hidden.

    Args:
        predicted (Tensor): ``(B, N, p * p * C)``.
        target (Tensor): ``(B, N, p * p * C)``, per-patch normalized under ``norm_pix_loss``.
        masked (Tensor): ``(B, N)`` bool.
    """

    predicted: Tensor
    target: Tensor
    masked: Tensor

    def loss(self) -> Tensor:
        """Mean squared error per patch, averaged over the hidden patches only."""
        per_patch = (self.predicted - self.target).pow(2).mean(dim=-1)  # (B, N)
        hidden = self.masked.float()
        return (per_patch * hidden).sum() / hidden.sum()


class MaeDecoder(nn.Module):
    """Encoder tokens plus mask tokens, back in place, through a small core, to pixels.

    Args:
        encoder_dim (int): the encoder's width.
        cfg (MaeConfig): the decoder's width, depth and heads.
        core (CoreConfig): the encoder's settings; the decoder takes its norm.
        image (ImageConfig): the patch grid and the values per patch.
    """

    def __init__(self, encoder_dim: int, cfg: MaeConfig, core: CoreConfig, image: ImageConfig):
        super().__init__()
        dim = cfg.decoder_dim
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("positions", sincos_2d(dim, image.grid, image.grid)[None], False)
        self.blocks = TransformerEncoder(
            dim, cfg.decoder_depth, cfg.decoder_heads, core.mlp_ratio,
            norm_layer=norm_layer(core.norm, core.cls_norm),
        )  # fmt: skip
        self.predict = nn.Linear(dim, image.patch_dim)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, tokens: Tensor, restore: Tensor) -> Tensor:
        """Map the encoder's ``(B, 1 + K, D)`` to float32 pixels of the patches ``(B, N, P)``."""
        x = self.embed(tokens)  # (B, 1 + K, d)
        B, N = restore.shape
        masks = self.mask_token.expand(B, N - (x.size(1) - 1), -1)
        patches = torch.cat([x[:, 1:], masks], dim=1)  # visible first, as shuffled
        index = restore[..., None].expand(-1, -1, x.size(-1))
        patches = patches.gather(1, index)  # (B, N, d) in place
        x = torch.cat([x[:, :1], patches], dim=1) + self.positions
        return self.predict(self.blocks(x)[:, 1:]).float()  # no padding: no mask


class MaeModel(nn.Module):
    """An image :class:`~graphsep.core.model.Encoder` with an MAE decoder.

    The encoder sits under ``encoder.`` so that ``model.init_from`` starts classification
    from it.

    Args:
        encoder (Encoder): the image front end and the core.
        decoder (MaeDecoder): the light decoder.
        norm_pix_loss (bool): reconstruct per-patch normalized pixels.
    """

    def __init__(self, encoder: Encoder, decoder: MaeDecoder, norm_pix_loss: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.norm_pix_loss = norm_pix_loss

    def forward(self, batch: ImageBatch) -> Reconstruction:
        """Encode the visible patches of ``batch`` (``visible``, ``restore`` set) and decode all."""
        tokens = self.encoder(batch).tokens[0]  # (B, 1 + K, D)
        predicted = self.decoder(tokens, batch.restore)
        patch_size = self.encoder.frontend.cfg.patch_size
        target = patchify(batch.pixels, patch_size)
        if self.norm_pix_loss:
            mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        return Reconstruction(predicted, target, masked_patches(batch, target.size(1)))

    def no_weight_decay(self) -> set[str]:
        """Return the encoder's no-decay names and the decoder's tokens, norms and biases."""
        names = {f"encoder.{n}" for n in self.encoder.no_weight_decay()}
        decoder = self.decoder.named_parameters(prefix="decoder")
        return names | {n for n, p in decoder if p.ndim < 2 or n.endswith("mask_token")}
