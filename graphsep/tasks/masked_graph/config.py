"""The settings of masked atom and bond pretraining (``task.masked_graph.*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MaskedGraphConfig:
    """Which atoms and bonds are hidden, and how their reconstruction is weighed."""

    atom_mask_rate: float = 0.15  # fraction of each molecule's atoms masked
    bond_mask_rate: float = 0.15  # fraction of each molecule's bonds masked
    atom_type_weight: float = 3.0  # atom-type loss weight; other atom features weigh 1
