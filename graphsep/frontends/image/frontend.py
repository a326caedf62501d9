"""The image front end: linear patch embedding, 2-D positions and a [CLS] token, ViT style."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphsep.core.config import CoreConfig
from graphsep.core.contract import CoreInput
from graphsep.core.encoder import TransformerEncoder
from graphsep.core.model import Encoder
from graphsep.frontends.image.batch import ImageBatch
from graphsep.frontends.image.config import ImageConfig
from graphsep.frontends.image.patches import check_patch_size, patchify
from graphsep.frontends.image.positions import sincos_2d


class ImageFrontEnd(nn.Module):
    """An :class:`ImageBatch` to the core's input: one chunk, no padding, no bias.

    Positions are added to the patches before any are dropped, so the visible patches of an
    MAE batch keep their places (He et al. 2022). [CLS] gets its own position (zero when fixed).

    Args:
        cfg (ImageConfig): patch size, image size, channels and the kind of positions.
        dim (int): model width ``D``.
    """

    def __init__(self, cfg: ImageConfig, dim: int) -> None:
        super().__init__()
        check_patch_size(cfg.image_size, cfg.image_size, cfg.patch_size)
        self.cfg = cfg
        self.patch_embed = nn.Linear(cfg.patch_dim, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        positions = sincos_2d(dim, cfg.grid, cfg.grid)[None]  # (1, 1 + N, D)
        if cfg.positions == "learned":
            self.positions = nn.Parameter(torch.zeros_like(positions))
            nn.init.trunc_normal_(self.positions, std=0.02)
        else:
            self.register_buffer("positions", positions, persistent=False)
        nn.init.xavier_uniform_(self.patch_embed.weight)
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.normal_(self.cls_token, std=0.02)

    def forward(self, batch: ImageBatch) -> list[CoreInput]:
        """Return the core's input: [CLS] then the (visible) patch tokens ``(B, 1 + K, D)``."""
        self.check(batch.pixels)
        patches = self.patch_embed(patchify(batch.pixels, self.cfg.patch_size))  # (B, N, D)
        patches = patches + self.positions[:, 1:]
        if batch.visible is not None:  # MAE: only the visible patches reach the encoder
            index = batch.visible[..., None].expand(-1, -1, patches.size(-1))
            patches = patches.gather(1, index)  # (B, K, D)
        cls = (self.cls_token + self.positions[:, :1]).expand(patches.size(0), -1, -1)
        tokens = torch.cat([cls, patches], dim=1)
        return [CoreInput(tokens, None)]  # every sequence one length: no padding, no mask

    def check(self, pixels: Tensor) -> None:
        """Stop on images this front end was not built for, naming both shapes.

        Raises:
            ValueError: another rank, channel count or size than ``model.image`` says.
        """
        cfg = self.cfg
        wanted = (cfg.channels, cfg.image_size, cfg.image_size)
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != wanted:
            raise ValueError(
                f"images of shape {tuple(pixels.shape)} given to a model of (B, {wanted[0]}, "
                f"{wanted[1]}, {wanted[2]}) images (model.image.channels, model.image.image_size)"
            )

    def no_weight_decay(self) -> set[str]:
        """Return the [CLS] token, learned positions and biases: tokens are not decayed."""
        tokens = {"cls_token", "positions"}
        return {n for n, p in self.named_parameters() if p.ndim < 2 or n in tokens}


def image_encoder(core: CoreConfig, image: ImageConfig) -> Encoder:
    """Build the image front end and the core that ``model.core`` and ``model.image`` describe."""
    return Encoder(ImageFrontEnd(image, core.dim), TransformerEncoder.from_config(core))
