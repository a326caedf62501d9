"""Seeded per-molecule masks of atoms and bonds for attribute-masking pretraining.

Each molecule gets ``round(rate * n)`` (at least one) of its ``n`` atoms and of its bonds
masked, drawn from a generator seeded by ``(seed, epoch, batch index)``: the masks of a batch are
reproducible from those three numbers alone, whatever ran before (a resumed or sharded run draws
the same ones), and differ from epoch to epoch. A masked bond hides both of its directed edges.
The masks are fields of the batch's chunks (:class:`~graphsep.frontends.graph.batch.GraphChunk`),
drawn in chunk order from the batch's one generator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from graphsep.frontends.graph.batch import GraphBatch, GraphChunk


def mask_generator(seed: int, epoch: int, batch_index: int) -> torch.Generator:
    """Return a CPU generator seeded from ``(seed, epoch, batch_index)`` (NumPy SeedSequence).

    SeedSequence mixes the three numbers, so neighbouring triples give unrelated streams.

    Args:
        seed (int): the run's seed (any integer).
        epoch (int): the epoch, ``>= 0``.
        batch_index (int): the batch's position in the epoch, ``>= 0``.

    Returns:
        torch.Generator: the seeded generator.
    """
    entropy = [seed % 2**64, epoch, batch_index]  # SeedSequence takes non-negative integers
    high, low = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(high) << 32 | int(low))


def choose_per_group(
    group: Tensor, num_groups: int, rate: float, generator: torch.Generator
) -> Tensor:
    """Pick ``round(rate * n)`` (at least 1) of the ``n`` items of each group, uniformly.

    Args:
        group (Tensor): ``(N,)`` long group (molecule) of each item, in ``[0, num_groups)``.
        num_groups (int): number of groups.
        rate (float): fraction of each group picked, in ``(0, 1)``.
        generator (torch.Generator): source of randomness.

    Returns:
        Tensor: ``(N,)`` bool, True = picked.
    """
    counts = torch.bincount(group, minlength=num_groups)  # (G,)
    quota = (counts * rate).round().clamp(min=1).minimum(counts)  # (G,)
    score = torch.rand(group.numel(), generator=generator, dtype=torch.float64)
    order = torch.argsort(group + score)  # grouped, random order inside each group
    start = counts.cumsum(0) - counts  # (G,)
    rank = torch.empty_like(group)
    rank[order] = torch.arange(group.numel()) - start[group[order]]
    return rank < quota[group]


def bond_ids(edge_index: Tensor) -> tuple[Tensor, Tensor]:
    """Identify the bond of each directed edge: ``(i, j)`` and ``(j, i)`` share one.

    Args:
        edge_index (Tensor): ``(2, E)`` long source and target slots of the directed edges.

    Returns:
        tuple[Tensor, Tensor]: ``(E,)`` bond index of each edge, and ``(U,)`` the lower slot of
        each bond (bonds ordered by their slots, so by molecule).
    """
    low, high = edge_index.min(0).values, edge_index.max(0).values  # (E,), (E,)
    stride = int(edge_index.max()) + 1 if edge_index.numel() else 1
    keys, bond = torch.unique(low * stride + high, return_inverse=True)  # (U,), (E,)
    return bond, keys // stride


def draw_masks(
    chunk: GraphChunk, atom_rate: float, bond_rate: float, generator: torch.Generator
) -> GraphChunk:
    """Return the chunk with its atom and bond masks drawn, per molecule.

    Args:
        chunk (GraphChunk): a (CPU) chunk.
        atom_rate (float): fraction of each molecule's atoms masked, in ``(0, 1)``.
        bond_rate (float): fraction of each molecule's bonds masked, in ``(0, 1)``.
        generator (torch.Generator): e.g. :func:`mask_generator`.

    Returns:
        GraphChunk: a copy whose ``masked_atoms``, ``masked_edges`` (both directions of each
        masked bond) and ``masked_bonds`` (one edge per masked bond) are set.
    """
    num_graphs, slots = chunk.mask.shape
    is_atom = chunk.mask.clone()
    is_atom[:, 0] = False  # the [CLS] slot is never masked
    atom_slot = is_atom.view(-1).nonzero().squeeze(1)  # (V,) flat slots of real atoms
    atoms = torch.zeros(num_graphs * slots, dtype=torch.bool)
    atoms[atom_slot] = choose_per_group(atom_slot // slots, num_graphs, atom_rate, generator)

    bond, low_slot = bond_ids(chunk.edge_index)  # (E,), (U,)
    masked_bond = choose_per_group(low_slot // slots, num_graphs, bond_rate, generator)  # (U,)
    first_edge = torch.full_like(low_slot, bond.numel())  # (U,) the first edge of each bond
    first_edge.scatter_reduce_(0, bond, torch.arange(bond.numel()), reduce="amin")
    return replace(
        chunk,
        masked_atoms=atoms.view(num_graphs, slots),
        masked_edges=masked_bond[bond],  # (E,)
        masked_bonds=first_edge[masked_bond],
    )


@dataclass
class MaskSampler:
    """The masks of a run: rates and seed fixed, one draw per ``(epoch, batch index)``.

    Args:
        atom_rate (float): fraction of each molecule's atoms masked.
        bond_rate (float): fraction of each molecule's bonds masked.
        seed (int): the run's seed.
    """

    atom_rate: float
    bond_rate: float
    seed: int

    def __call__(self, batch: GraphBatch, epoch: int, batch_index: int) -> GraphBatch:
        """Return batch ``batch_index`` of ``epoch`` with its masks written (on the CPU).

        The chunks draw in order from the batch's one generator.
        """
        generator = mask_generator(self.seed, epoch, batch_index)
        chunks = [draw_masks(c, self.atom_rate, self.bond_rate, generator) for c in batch.chunks]
        return replace(batch, chunks=chunks)
