"""Reconstruction heads for masked atom and bond attributes, their loss and their accuracy.

Hu et al. (ICLR 2020) predict the masked atom type and bond type; here every categorical OGB
feature is predicted (9 per atom, 3 per bond), the atom type weighted higher. An atom is
predicted from its own token vector, a bond from the token vectors of its two atoms. A batch is
reconstructed chunk by chunk and its predictions concatenated.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphsep.core.model import Encoder
from graphsep.frontends.graph.batch import GraphBatch, GraphChunk

ATOM_FEATURES = (
    "atom_type", "chirality", "degree", "formal_charge", "num_hs", "radical_electrons",
    "hybridization", "aromatic", "in_ring",
)  # fmt: skip
"""OGB's 9 atom features (``ogb.utils.features.allowable_features``), in column order."""

BOND_FEATURES = ("bond_type", "bond_stereo", "conjugated")
"""OGB's 3 bond features, in column order."""


class CategoricalHead(nn.Module):
    """Vectors to one set of logits per categorical feature: Linear, GELU, LayerNorm, Linear.

    Args:
        in_dim (int): input width.
        dim (int): hidden width.
        vocab_sizes (Sequence[int]): number of classes of each feature.
    """

    def __init__(self, in_dim: int, dim: int, vocab_sizes: Sequence[int]) -> None:
        super().__init__()
        self.vocab_sizes = list(vocab_sizes)
        self.transform = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.LayerNorm(dim))
        self.out = nn.Linear(dim, sum(self.vocab_sizes))

    def forward(self, x: Tensor) -> list[Tensor]:
        """Map ``(M, in_dim)`` to one ``(M, V_f)`` float32 logit tensor per feature ``f``."""
        return list(self.out(self.transform(x)).float().split(self.vocab_sizes, dim=-1))

    def extra_repr(self) -> str:
        """Hyper-parameters shown in ``repr``."""
        return f"vocab_sizes={self.vocab_sizes}"


@dataclass
class Reconstruction:
    """Logits and targets of the masked atoms and bonds of one batch.

    Args:
        atom_logits (list[Tensor]): per atom feature, ``(M_a, V_f)``.
        atom_targets (Tensor): ``(M_a, 9)`` long true features of the masked atoms.
        bond_logits (list[Tensor]): per bond feature, ``(M_b, V_f)``.
        bond_targets (Tensor): ``(M_b, 3)`` long true features of the masked bonds.
    """

    atom_logits: list[Tensor]
    atom_targets: Tensor
    bond_logits: list[Tensor]
    bond_targets: Tensor

    @classmethod
    def cat(cls, parts: list[Reconstruction]) -> Reconstruction:
        """Concatenate the reconstructions of several chunks, feature by feature."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            atom_logits=[torch.cat(f) for f in zip(*(p.atom_logits for p in parts), strict=True)],
            atom_targets=torch.cat([p.atom_targets for p in parts]),
            bond_logits=[torch.cat(f) for f in zip(*(p.bond_logits for p in parts), strict=True)],
            bond_targets=torch.cat([p.bond_targets for p in parts]),
        )


class MaskedAttributeModel(nn.Module):
    """A graph :class:`~graphsep.core.model.Encoder` with atom and bond reconstruction heads.

    The encoder sits under ``encoder.`` as in :class:`~graphsep.core.heads.ClsPredictor`, so a
    saved state dict starts finetuning through ``model.init_from``.

    Args:
        encoder (Encoder): the graph encoder (categorical atom and bond features).
        atom_dims (Sequence[int]): classes per atom feature (OGB's 9).
        bond_dims (Sequence[int]): classes per bond feature (OGB's 3).
    """

    def __init__(
        self, encoder: Encoder, atom_dims: Sequence[int], bond_dims: Sequence[int]
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.atom_head = CategoricalHead(encoder.dim, encoder.dim, atom_dims)
        self.bond_head = CategoricalHead(2 * encoder.dim, encoder.dim, bond_dims)

    def forward(self, batch: GraphBatch) -> Reconstruction:
        """Encode the batch with its masks hidden and predict what they hide, chunk by chunk."""
        tokens = self.encoder(batch).tokens  # one (B_i, T_i, D) per chunk
        return Reconstruction.cat([
            self._reconstruct(chunk, out)
            for chunk, out in zip(batch.chunks, tokens, strict=True)
        ])  # fmt: skip

    def _reconstruct(self, chunk: GraphChunk, tokens: Tensor) -> Reconstruction:
        """Predict the masked atoms and bonds of one chunk from its tokens."""
        flat = tokens.reshape(-1, tokens.size(-1))  # (B * T, D), the slots of edge_index
        src, dst = chunk.edge_index[:, chunk.masked_bonds]  # (M_b,), (M_b,)
        a, b = flat[src], flat[dst]
        # sum and product: the same prediction whichever direction stands for the bond
        pair = torch.cat([a + b, a * b], dim=-1)  # (M_b, 2D)
        return Reconstruction(
            atom_logits=self.atom_head(tokens[chunk.masked_atoms]),
            atom_targets=chunk.x[chunk.masked_atoms],
            bond_logits=self.bond_head(pair),
            bond_targets=chunk.edge_attr[chunk.masked_bonds],
        )

    def no_weight_decay(self) -> set[str]:
        """Return the encoder's no-decay names, prefixed, and the heads' biases and norms."""
        names = {f"encoder.{n}" for n in self.encoder.no_weight_decay()}
        heads = [("atom_head", self.atom_head), ("bond_head", self.bond_head)]
        return names | {
            n for prefix, head in heads for n, p in head.named_parameters(prefix=prefix)
            if p.ndim < 2
        }  # fmt: skip


def feature_losses(logits: list[Tensor], targets: Tensor) -> Tensor:
    """Cross-entropy of each feature, ``(F,)``; zeros when nothing is masked."""
    if targets.size(0) == 0:
        return targets.new_zeros(len(logits), dtype=torch.float)
    return torch.stack([F.cross_entropy(lg, targets[:, f]) for f, lg in enumerate(logits)])


def reconstruction_loss(rec: Reconstruction, atom_weights: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted atom loss plus mean bond loss.

    Args:
        rec (Reconstruction): a batch's logits and targets.
        atom_weights (Tensor): ``(9,)`` weight of each atom feature's cross-entropy.

    Returns:
        tuple[Tensor, Tensor]: the scalar loss ``sum_f w_f CE_f / sum_f w_f + mean_f CE_f``
        (atoms, then bonds), and the atom loss and bond loss ``(2,)`` detached, for logs.
    """
    weights = atom_weights.to(rec.atom_targets.device)
    atom = (feature_losses(rec.atom_logits, rec.atom_targets) * weights).sum() / weights.sum()
    bond = feature_losses(rec.bond_logits, rec.bond_targets).mean()
    return atom + bond, torch.stack([atom, bond]).detach()


def atom_feature_weights(atom_type_weight: float, num_features: int = 9) -> Tensor:
    """``(num_features,)`` loss weights: ``atom_type_weight`` for the atom type, 1 for the rest."""
    weights = torch.ones(num_features)
    weights[0] = atom_type_weight
    return weights


class AccuracyMeter:
    """Per-feature accuracy of the reconstructions, and the majority-class rate to beat.

    Args:
        atom_dims (Sequence[int]): classes per atom feature.
        bond_dims (Sequence[int]): classes per bond feature.
    """

    def __init__(self, atom_dims: Sequence[int], bond_dims: Sequence[int]) -> None:
        self.names = [*ATOM_FEATURES, *BOND_FEATURES]
        self.dims = [*atom_dims, *bond_dims]
        self.correct = torch.zeros(len(self.dims), dtype=torch.long)
        self.classes = [torch.zeros(d, dtype=torch.long) for d in self.dims]

    def update(self, rec: Reconstruction) -> None:
        """Count the correct predictions and the true classes of one batch."""
        logits = [*rec.atom_logits, *rec.bond_logits]
        targets = [*rec.atom_targets.T, *rec.bond_targets.T]  # one (M,) per feature
        for f, (lg, y) in enumerate(zip(logits, targets, strict=True)):
            y = y.cpu()
            self.correct[f] += int((lg.argmax(-1).cpu() == y).sum())
            self.classes[f] += torch.bincount(y, minlength=self.dims[f])

    @classmethod
    def merged(cls, meters: Sequence[AccuracyMeter]) -> AccuracyMeter:
        """One meter counting what all of ``meters`` counted (e.g. every rank's)."""
        total = copy.deepcopy(meters[0])
        for meter in meters[1:]:
            total.correct += meter.correct
            total.classes = [a + b for a, b in zip(total.classes, meter.classes, strict=True)]
        return total

    def _rates(self, hits: list[int]) -> dict[str, float]:
        totals = [int(c.sum()) for c in self.classes]
        return {
            name: hit / total if total else float("nan")
            for name, hit, total in zip(self.names, hits, totals, strict=True)
        }

    def accuracy(self) -> dict[str, float]:
        """Fraction of masked atoms (bonds) whose feature was predicted right, per feature."""
        return self._rates(self.correct.tolist())

    def majority(self) -> dict[str, float]:
        """Accuracy of always predicting each feature's most frequent class."""
        return self._rates([int(c.max()) for c in self.classes])
