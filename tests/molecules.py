"""Real molecules for tests: SMILES from the shared MoleculeNet tables as encoded PyG graphs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from ogb.utils import smiles2graph
from torch_geometric.data import Data

from graphsep.frontends.graph.encodings import StructuralEncoding

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BBBP_CSV = SHARED_DATA / "moleculenet" / "bbbp.csv"


def mol_graph(smiles: str, y: float | None = None) -> Data:
    """OGB-featurized graph of ``smiles`` with its structural encodings."""
    g = smiles2graph(smiles)
    data = Data(
        x=torch.from_numpy(g["node_feat"]),
        edge_index=torch.from_numpy(g["edge_index"]),
        edge_attr=torch.from_numpy(g["edge_feat"]),
        num_nodes=g["num_nodes"],
    )
    if y is not None:
        data.y = torch.tensor([[y]], dtype=torch.float)
    return StructuralEncoding()(data)


def bbbp_rows(n: int, start: int = 0) -> pd.DataFrame:
    """``n`` rows of the BBBP table that RDKit parses, from ``start``."""
    table = pd.read_csv(BBBP_CSV)
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    ok = table["smiles"].map(lambda s: Chem.MolFromSmiles(s) is not None)
    return table[ok].iloc[start : start + n].reset_index(drop=True)


def bbbp_graphs(n: int, start: int = 0) -> list[Data]:
    """``n`` encoded BBBP molecules with their ``p_np`` label as ``y``."""
    rows = bbbp_rows(n, start)
    return [mol_graph(s, float(y)) for s, y in zip(rows["smiles"], rows["p_np"], strict=True)]


def permute_graph(data: Data, perm: torch.Tensor, canonical_paths: bool = True) -> Data:
    """Renumber atoms: new atom ``k`` is old atom ``perm[k]``; re-encode structure."""
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    out = Data(
        x=data.x[perm],
        edge_index=inverse[data.edge_index],
        edge_attr=data.edge_attr,
        num_nodes=data.num_nodes,
    )
    if "y" in data:
        out.y = data.y
    return StructuralEncoding(canonical_paths)(out)
