"""A front end feeding the core: batch in, [CLS] vectors and token vectors out."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graphsep.core.contract import EncoderOutput, FrontEnd
from graphsep.core.encoder import TransformerEncoder


class Encoder(nn.Module):
    """Any front end (graph, image, text) and the shared core.

    Args:
        frontend (FrontEnd): maps the domain's batch to :class:`~graphsep.core.contract.CoreInput`
            chunks.
        core (TransformerEncoder): the SepNorm or ShareNorm transformer.
    """

    def __init__(self, frontend: FrontEnd, core: TransformerEncoder) -> None:
        super().__init__()
        self.frontend = frontend
        self.core = core
        self.dim = core.dim

    def forward(self, batch: Any) -> EncoderOutput:
        """Encode a batch: its [CLS] vectors ``(B, D)`` and each chunk's token vectors."""
        tokens = self.core.forward_chunks(self.frontend(batch))
        return EncoderOutput(cls=torch.cat([t[:, 0] for t in tokens]), tokens=tokens)

    def no_weight_decay(self) -> set[str]:
        """Return the front end's no-decay names and the core's norms and biases, prefixed."""
        front = {f"frontend.{n}" for n in self.frontend.no_weight_decay()}
        return front | {n for n, p in self.core.named_parameters(prefix="core") if p.ndim < 2}
