"""Sentinel values shared by the data path and the model, defined once.

The collate writes these into dense tensors; the modules in the graph front end map them to
their own learned buckets. Real distances are ``>= 0``.
"""

UNREACHABLE_DISTANCE = -1
"""Distance between two atoms in different fragments (salts, mixtures)."""

CLS_DISTANCE = -2
"""Distance between the virtual [CLS] node and any token (its own learned bucket)."""

PAD_DISTANCE = -3
"""Any pair that involves a padding slot."""

NO_EDGE = -1
"""In ``next_hop`` and ``path_edges``: no hop / no edge at this position."""
