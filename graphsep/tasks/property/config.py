"""The settings of property prediction (``task.property.*``)."""

from __future__ import annotations

from dataclasses import dataclass, field

FEATURE_ENTRIES = ("cls", "head")
"""Where whole-molecule features may enter: the [CLS] node's initial state, the head's input."""


@dataclass
class PropertyConfig:
    """The head on [CLS] that predicts a dataset's labels, and the molecule features it reads."""

    head_dropout: float = 0.1  # dropout inside the property head
    # whole-molecule RDKit features (graphsep.molecules.descriptors): ecfp, fcfp, maccs,
    # atompairs, rdkit2d; computed once per dataset, none by default
    mol_features: list[str] = field(default_factory=list)
    # where they enter: cls (a projection is the [CLS] node's initial state; SepNorm then
    # normalizes that token apart) and/or head (concatenated with the final [CLS])
    mol_features_into: list[str] = field(default_factory=lambda: ["cls"])
