import json
import pickle
import re
import shutil

import pytest
import torch
from crafted import CreatesFile
from molecules import bbbp_rows
from rdkit import Chem
from rdkit.Chem import Crippen

import train
from graphsep.molecules.table import DataError
from graphsep.molecules.zinc import NUM_ATOM_TYPES, load_zinc


def write_zinc_stand_in(raw, rows):
    """Write PyG ZINC's raw format (pickled dicts and .index files) from real molecules."""
    raw.mkdir(parents=True)
    per_split = {"train": rows[:40], "val": rows[40:52], "test": rows[52:64]}
    for split, smiles in per_split.items():
        mols = []
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            Chem.Kekulize(mol, clearAromaticFlags=True)
            n = mol.GetNumAtoms()
            adj = torch.zeros(n, n, dtype=torch.long)
            for bond in mol.GetBonds():
                i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
                adj[i, j] = adj[j, i] = int(bond.GetBondTypeAsDouble())
            atom_type = torch.tensor([a.GetAtomicNum() % NUM_ATOM_TYPES for a in mol.GetAtoms()])
            target = torch.tensor(Crippen.MolLogP(mol))
            mols.append(
                {"atom_type": atom_type, "bond_type": adj, "logP_SA_cycle_normalized": target}
            )
        (raw / f"{split}.pickle").write_bytes(pickle.dumps(mols))
        (raw / f"{split}.index").write_text(",".join(map(str, range(len(mols)))) + "\n")


@pytest.fixture(scope="module")
def zinc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ZINC")
    rows = bbbp_rows(80)
    ok = [s for s in rows["smiles"] if "." not in s and Chem.MolFromSmiles(s).GetNumAtoms() < 40]
    write_zinc_stand_in(root / "raw", ok[:64])
    return root


def test_zinc_splits_load_with_ogb_shaped_columns(zinc_root):
    splits = load_zinc("zinc", zinc_root)
    assert {k: len(v) for k, v in splits.items()} == {"train": 40, "valid": 12, "test": 12}
    g = splits["train"][0]
    assert g.x.shape[1] == 1 and g.edge_attr.shape == (g.edge_index.size(1), 1)
    assert g.y.shape == (1, 1) and set(g.edge_attr.view(-1).tolist()) <= {1, 2, 3}


def test_train_py_runs_the_zinc_config_and_reports_mae(zinc_root, tmp_path):
    out_dir = tmp_path / "run"
    args = [
        "--config",
        "configs/zinc.yaml",
        f"data.root={zinc_root}",
        f"out_dir={out_dir}",
        "train.epochs=2",
        "model.core.dim=32",
        "model.core.depth=1",
        "progress=false",
    ]
    assert train.main(args) == 0
    results = json.loads((out_dir / "results.json").read_text())
    assert results["metric"] == "mae" and 0.0 < results["test"] < 10.0


def test_zinc_without_raw_files_or_network_names_the_folder(tmp_path, monkeypatch, capsys):
    import torch_geometric.datasets.zinc as zinc_module

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(zinc_module, "download_url", offline)
    args = ["--config", "configs/zinc.yaml", f"data.root={tmp_path}", f"out_dir={tmp_path}/r"]
    assert train.main(args) == 2
    assert "place PyG's ZINC raw files" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("raw/train.pickle", "train.pickle: refused to unpickle: ZINC's raw files hold only"),
        ("subset/processed/train.pt", "train.pt: refused to load: a dataset file holds only"),
    ],
)
def test_a_crafted_zinc_file_is_refused_not_run(zinc_root, tmp_path, file, message):
    load_zinc("zinc", zinc_root)  # processed, so that there is a processed file to replace
    root = tmp_path / "ZINC"
    shutil.copytree(zinc_root, root)
    marker = tmp_path / "code-ran"
    if file.startswith("raw/"):
        shutil.rmtree(root / "subset")  # processing reads the raw files
        (root / file).write_bytes(pickle.dumps([CreatesFile(marker)]))
    else:
        torch.save(CreatesFile(marker), root / file)
    with pytest.raises(DataError, match=re.escape(message)):
        load_zinc("zinc", root)
    assert not marker.exists()
