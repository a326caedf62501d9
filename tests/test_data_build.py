"""SMILES tables -> OGB's on-disk layout -> OGB's own loader, on the real MoleculeNet tables."""

from __future__ import annotations

import builtins
import contextlib
import errno
import gzip
import io
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from crafted import CreatesFile
from ogb.graphproppred import PygGraphPropPredDataset
from ogb.utils import smiles2graph

from graphsep.cli.main import main
from graphsep.molecules import build as build_module
from graphsep.molecules.build import build_dataset
from graphsep.molecules.build_spec import ogb_master
from graphsep.molecules.featurize import SmilesError, featurize
from graphsep.molecules.ogb_layout import load_ogb_dataset, load_split
from graphsep.molecules.recipes import list_recipes, load_recipe
from graphsep.molecules.split import random_split
from graphsep.molecules.table import DataError, read_table
from graphsep.predict.tables import read_chunks
from graphsep.tasks.property.data import BUNDLED

OGB_SPLIT_SIZES = {
    "ogbg-molhiv": [32901, 4113, 4113],
    "ogbg-molbbbp": [1631, 204, 204],
    "ogbg-molbace": [1210, 151, 152],
    "ogbg-molesol": [902, 113, 113],
    "ogbg-molfreesolv": [513, 64, 65],
    "ogbg-mollipo": [3360, 420, 420],
}
OGB_GRAPH_COUNTS = {
    "ogbg-molbace": 1513,
    "ogbg-molbbbp": 2039,
    "ogbg-molclintox": 1477,
    "ogbg-molmuv": 93087,
    "ogbg-molsider": 1427,
    "ogbg-moltox21": 7831,
    "ogbg-moltoxcast": 8576,
    "ogbg-molhiv": 41127,
    "ogbg-molesol": 1128,
    "ogbg-molfreesolv": 642,
    "ogbg-mollipo": 4200,
}
HIV_UNSANITIZABLE = [137, 987, 12882, 18293, 30784, 30785, 35728]


@pytest.fixture(scope="session")
def ogb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ogb")


@pytest.fixture(scope="session")
def built(moleculenet: Path, ogb_root: Path):
    """Build a recipe dataset once per session and open it with OGB's own class."""
    cache: dict[str, PygGraphPropPredDataset] = {}

    def get(name: str) -> PygGraphPropPredDataset:
        if name not in cache:
            build_dataset(name, moleculenet, ogb_root, progress=False)
            cache[name] = load_ogb_dataset(name, ogb_root)
        return cache[name]

    return get


def source_table(moleculenet: Path, name: str):
    recipe = load_recipe(name)
    return read_table(moleculenet / recipe.source, recipe.smiles_column, recipe.label_columns)


def split_sizes(dataset: PygGraphPropPredDataset) -> list[int]:
    split = load_split(dataset)
    return [len(split[part]) for part in ("train", "valid", "test")]


def test_recipes_cover_every_table(moleculenet: Path) -> None:
    recipes = {r.name: r for r in list_recipes()}
    assert set(recipes) == set(OGB_GRAPH_COUNTS) | {"ogbg-molpcba"}
    assert recipes["ogbg-molpcba"].source is None
    for name, count in OGB_GRAPH_COUNTS.items():
        recipe = recipes[name]
        header = pd.read_csv(moleculenet / recipe.source, nrows=0).columns
        labels = recipe.label_columns or [c for c in header if c != recipe.smiles_column]
        assert set(labels) <= set(header), name
        assert len(labels) == int(ogb_master()[name]["num tasks"]), name
        assert recipe.metric == ogb_master()[name]["eval metric"], name
        rows = len(pd.read_csv(moleculenet / recipe.source, usecols=[recipe.smiles_column]))
        assert rows - len(recipe.drop_rows) == count, name
        if name in OGB_SPLIT_SIZES:
            assert recipe.split_sizes == OGB_SPLIT_SIZES[name]


@pytest.mark.parametrize(
    "name", ["ogbg-molbbbp", "ogbg-molbace", "ogbg-molesol", "ogbg-molfreesolv", "ogbg-mollipo"]
)
def test_scaffold_split_sizes_match_ogb(built, name: str) -> None:
    assert split_sizes(built(name)) == OGB_SPLIT_SIZES[name]


@pytest.mark.parametrize(("name", "positives"), [("ogbg-molbbbp", 108), ("ogbg-molbace", 81)])
def test_test_set_positives_match_ogb(built, name: str, positives: int) -> None:
    dataset = built(name)
    assert int(dataset.y[load_split(dataset)["test"]].sum()) == positives


def test_molhiv_keeps_every_graph_and_ogb_split(built, moleculenet: Path, ogb_root: Path) -> None:
    dataset = built("ogbg-molhiv")
    assert len(dataset) == 41127
    assert split_sizes(dataset) == OGB_SPLIT_SIZES["ogbg-molhiv"]
    assert int(dataset.y[load_split(dataset)["test"]].sum()) == 130
    smiles = source_table(moleculenet, "ogbg-molhiv").smiles
    for row in HIV_UNSANITIZABLE:
        graph = featurize(smiles[row])
        assert graph.unsanitized.startswith("Explicit valence for atom #")
        with pytest.raises(SmilesError, match="^RDKit will not sanitize the molecule: Explicit"):
            featurize(smiles[row], allow_unsanitized=False)  # as predict refuses them
        expected = graph.to_ogb_dict()
        assert torch.equal(dataset[row].x, torch.from_numpy(expected["node_feat"]))
        assert torch.equal(dataset[row].edge_index, torch.from_numpy(expected["edge_index"]))
    # the build's report lists them: line of the file, SMILES, RDKit's reason
    listed = pd.read_csv(ogb_root / "ogbg_molhiv" / "unsanitized_rows.csv")
    assert listed["row"].tolist() == [row + 2 for row in HIV_UNSANITIZABLE]
    assert listed["smiles"].tolist() == [smiles[row] for row in HIV_UNSANITIZABLE]
    assert listed["reason"].str.startswith("Explicit valence for atom #").all()


@pytest.mark.parametrize("name", ["ogbg-molhiv", "ogbg-molbbbp", "ogbg-moltox21"])
def test_features_equal_ogb_smiles2graph(built, moleculenet: Path, name: str) -> None:
    dataset = built(name)
    smiles = source_table(moleculenet, name).smiles
    rows = np.random.default_rng(0).choice(len(dataset), size=150, replace=False)
    checked = 0
    for row in rows:
        try:
            expected = smiles2graph(smiles[row])
        except Exception:  # OGB's own function raises on the few RDKit won't sanitize.
            continue
        graph = dataset[int(row)]
        assert torch.equal(graph.x, torch.from_numpy(expected["node_feat"]))
        assert torch.equal(graph.edge_index, torch.from_numpy(expected["edge_index"]))
        assert torch.equal(graph.edge_attr, torch.from_numpy(expected["edge_feat"]))
        checked += 1
    assert checked >= 145


@pytest.mark.parametrize("name", ["ogbg-moltox21", "ogbg-molesol"])
def test_labels_and_nans_equal_table(built, moleculenet: Path, name: str) -> None:
    labels = torch.from_numpy(source_table(moleculenet, name).labels).float()
    y = built(name).y
    assert y.shape == labels.shape
    assert torch.equal(y.isnan(), labels.isnan())
    assert torch.equal(y.nan_to_num(-7), labels.nan_to_num(-7))


def test_ogb_reads_the_layout_by_name(built, ogb_root: Path) -> None:
    built("ogbg-molbbbp")
    dataset = PygGraphPropPredDataset(name="ogbg-molbbbp", root=str(ogb_root))
    assert len(dataset) == 2039
    assert [len(v) for v in dataset.get_idx_split().values()] == OGB_SPLIT_SIZES["ogbg-molbbbp"]


def test_clintox_drops_the_row_ogb_drops(moleculenet: Path, tmp_path: Path) -> None:
    folder = build_dataset("ogbg-molclintox", moleculenet, tmp_path, progress=False)
    mapping = pd.read_csv(folder / "mapping" / "mol.csv.gz")
    assert len(mapping) == 1477
    assert mapping["mol_id"].tolist() == list(range(1, 1478))
    assert not mapping["smiles"].str.contains("*", regex=False).any()


# Bad input: each stops with a message naming the file, row, column or key.


def write_table(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such table: .*nope\.csv"):
        read_table(tmp_path / "nope.csv")


def test_missing_column_lists_present_ones(tmp_path: Path) -> None:
    table = write_table(tmp_path / "assay.csv", "smi,active\nCCO,1\n")
    with pytest.raises(
        DataError,
        match=r"assay\.csv: no SMILES column 'smiles'; "
        r"columns present: 'smi', 'active'",
    ):
        read_table(table)
    with pytest.raises(DataError, match=r"no label column 'tox'; columns present: 'smi', 'active'"):
        read_table(table, "smi", ["tox"])


@pytest.mark.parametrize(
    ("text", "message"), [("", "is empty"), ("smiles,y\n", "has a header but no data rows")]
)
def test_empty_table(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_table(write_table(tmp_path / "empty.csv", text))


def test_non_numeric_label_names_row_and_column(tmp_path: Path) -> None:
    table = write_table(tmp_path / "assay.csv", "smiles,y\nCCO,1\nc1ccccc1,\nCCN,active\n")
    with pytest.raises(DataError, match=r"row 4 of .*assay\.csv, column 'y': label 'active'"):
        read_table(table)


def test_blank_labels_are_nan(tmp_path: Path) -> None:
    table = read_table(write_table(tmp_path / "a.tsv", "smiles\ta\tb\nCCO\t1\t\nCCN\t\t0.5\n"))
    assert np.array_equal(np.isnan(table.labels), [[False, True], [True, False]])


def test_classification_label_must_be_binary(tmp_path: Path) -> None:
    table = write_table(tmp_path / "assay.csv", "smiles,y\nCCO,1\nCCN,2\n")
    with pytest.raises(DataError, match=r"row 3 of .*assay\.csv, column 'y'.* 2 is not 0 or 1"):
        build_dataset("assay", table, tmp_path, task_type="classification", progress=False)


def test_unknown_recipe_key(tmp_path: Path) -> None:
    recipe = write_table(
        tmp_path / "mine.yaml",
        "name: mine\nsource: a.csv\nsmile_column: smi\ntask_type: regression\nmetric: rmse\n",
    )
    with pytest.raises(
        DataError,
        match=r"mine\.yaml: unknown key 'smile_column' "
        r"\(did you mean 'smiles_column'\?\); valid keys: name",
    ):
        load_recipe(recipe)


def test_unparseable_smiles_carries_rdkit_reason() -> None:
    with pytest.raises(SmilesError, match="unclosed ring") as err:
        featurize("C1CC")
    assert err.value.smiles == "C1CC"
    assert "unclosed ring" in err.value.reason


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("", "empty SMILES"),
        (None, "empty SMILES"),
        # RDKit reads up to whitespace and takes the rest as a name or CXSMILES: a shorter molecule
        ("CC O", "whitespace inside SMILES 'CC O' at position 3"),
        ("C\tC", "whitespace inside SMILES 'C\\tC' at position 2"),
        ("CC\nO", "whitespace inside SMILES 'CC\\nO' at position 3"),
        ("CCO |$;;$|", "whitespace inside SMILES 'CCO |$;;$|' at position 4"),
        ("c1ccccc1 benzene", "whitespace inside SMILES 'c1ccccc1 benzene' at position 9"),
        # RDKit stops at a NUL and drops control or non-ASCII characters at either end
        ("CCO\x00C", "character '\\x00' at position 4 of 'CCO\\x00C' is not SMILES"),
        ("\u200bCCO", "character '\\u200b' at position 1 of '\\u200bCCO' is not SMILES"),
        ("CCOé", "character 'é' at position 4 of 'CCOé' is not SMILES (printable ASCII only)"),
        ("CCO!x", "cannot parse SMILES 'CCO!x': syntax error while parsing: CCO!x"),
        ("CC|", "cannot parse SMILES 'CC|': syntax error while parsing: CC|"),
        ("*CC", "atom 0 (*) is not an element of the featurizer's vocabulary (wildcard or "
         "attachment point)"),
        ("CC[*:1]", "atom 2 (*) is not an element of the featurizer's vocabulary"),
    ],
)  # fmt: skip
def test_smiles_that_give_no_graph_get_one_reason(smiles, reason) -> None:
    with pytest.raises(SmilesError) as err:
        featurize(smiles)
    assert str(err.value).startswith(reason)


def test_a_molecule_rdkit_will_not_sanitize_is_kept_with_its_reason_unless_refused() -> None:
    reason = "Explicit valence for atom # 0 C, 5, is greater than permitted"
    graph = featurize(" C(C)(C)(C)(C)C ", max_atoms=6)  # a cell's own spaces are stripped
    assert (graph.num_nodes, graph.unsanitized) == (6, reason)
    with pytest.raises(SmilesError, match=f"^RDKit will not sanitize the molecule: {reason}$"):
        featurize("C(C)(C)(C)(C)C", allow_unsanitized=False)
    with pytest.raises(SmilesError, match="^6 atoms, more than max_atoms=5$"):
        featurize("C(C)(C)(C)(C)C", max_atoms=5)


def test_build_fails_on_unparseable_row(tmp_path: Path) -> None:
    table = write_table(tmp_path / "assay.csv", "smiles,y\nCCO,1.5\nC1CC,2.0\nCC(C,3.0\n")
    with pytest.raises(
        DataError,
        match=r"row 3 of .*assay\.csv: cannot parse SMILES 'C1CC': "
        r"unclosed ring.*\(1 more such rows\)",
    ):
        build_dataset("assay", table, tmp_path / "root", task_type="regression", progress=False)
    assert not (tmp_path / "root" / "assay").exists()


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("CC O", "whitespace inside SMILES 'CC O' at position 3"),
        ("*CCO", "atom 0 (*) is not an element of the featurizer's vocabulary"),
    ],
)
def test_build_refuses_rows_that_are_not_smiles_or_hold_a_wildcard(tmp_path, cell, reason) -> None:
    more = "".join(f"{s},{i + 4}.0\n" for i, s in enumerate(TEN_GOOD))  # enough for every split
    table = write_table(tmp_path / "assay.csv", f"smiles,y\nCCO,1.5\n{cell},2.0\nCCN,3.0\n{more}")
    with pytest.raises(DataError, match=rf"^row 3 of .*assay\.csv: {re.escape(reason)}"):
        build_dataset("assay", table, tmp_path / "root", task_type="regression", progress=False)
    folder = build_dataset("assay", table, tmp_path / "root", task_type="regression",
                           split="random", skip_invalid=True, progress=False)  # fmt: skip
    skipped = pd.read_csv(folder / "skipped_rows.csv", keep_default_na=False)
    assert skipped.values.tolist()[0][:2] == [3, cell]
    assert skipped["reason"][0].startswith(reason)
    labels = load_ogb_dataset("assay", tmp_path / "root").y.flatten().tolist()
    assert labels == [1.5, 3.0, *range(4, 14)]


def test_build_keeps_and_lists_rows_rdkit_will_not_sanitize(tmp_path: Path, caplog) -> None:
    more = "".join(f"{s},{i + 4}.0\n" for i, s in enumerate(TEN_GOOD))  # enough for every split
    table = write_table(
        tmp_path / "assay.csv", f"smiles,y\nCCO,1.5\nC(C)(C)(C)(C)C,2.0\nCCN,3\n{more}"
    )
    with caplog.at_level("INFO"):
        folder = build_dataset("assay", table, tmp_path, task_type="regression", split="random",
                               progress=False)  # fmt: skip
    listed = pd.read_csv(folder / "unsanitized_rows.csv")
    assert listed.values.tolist() == [
        [3, "C(C)(C)(C)(C)C", "Explicit valence for atom # 0 C, 5, is greater than permitted"]
    ]
    assert "1 rows RDKit will not sanitize were featurized leniently" in caplog.text
    assert "(rows 3 of" in caplog.text
    assert load_ogb_dataset("assay", tmp_path).y.flatten().tolist() == [
        1.5,
        2.0,
        3.0,
        *range(4, 14),
    ]


TEN_GOOD = ["c1ccccc1O", "CCN", "CCC", "CC(=O)O", "CCCl", "CCBr", "CC=O", "CC#N", "OCCO", "CCS"]


def test_skip_invalid_reports_rows_and_loads(tmp_path: Path) -> None:
    rows = "".join(f"{s},{i + 3}.0\n" for i, s in enumerate(TEN_GOOD))
    table = write_table(tmp_path / "assay.csv", f"smiles,y\nCCO,1.5\nC1CC,2.0\n{rows}")
    folder = build_dataset(
        "assay",
        table,
        tmp_path,
        task_type="regression",
        split="random",
        skip_invalid=True,
        progress=False,
    )
    skipped = pd.read_csv(folder / "skipped_rows.csv")
    assert skipped[["row", "smiles"]].values.tolist() == [[3, "C1CC"]]
    assert "unclosed ring" in skipped["reason"][0]
    dataset = load_ogb_dataset("assay", tmp_path)
    assert dataset.y.flatten().tolist() == [1.5, *range(3, 13)]


def test_root_that_is_not_a_dataset_never_reaches_ogb_prompt(tmp_path, monkeypatch) -> None:
    (tmp_path / "ogbg_molbbbp").mkdir()
    monkeypatch.setattr(builtins, "input", lambda *a: pytest.fail("reached ogb's input()"))
    with pytest.raises(DataError, match=r"ogbg_molbbbp is not a dataset \(no RELEASE_v1\.txt"):
        load_ogb_dataset("ogbg-molbbbp", tmp_path)


def test_build_refuses_a_foreign_folder(moleculenet: Path, tmp_path: Path) -> None:
    (tmp_path / "ogbg_molbace").mkdir()
    (tmp_path / "ogbg_molbace" / "thesis.tex").write_text("precious")
    with pytest.raises(DataError, match=r"ogbg_molbace exists and is not a dataset folder"):
        build_dataset("ogbg-molbace", moleculenet, tmp_path, progress=False)


def test_interrupted_build_leaves_no_dataset(moleculenet, tmp_path, monkeypatch) -> None:
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "write_layout", crash)
    with pytest.raises(KeyboardInterrupt):
        build_dataset("ogbg-molfreesolv", moleculenet, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_failed_download_leaves_no_folder(tmp_path: Path, monkeypatch) -> None:
    def offline(url):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr("ogb.graphproppred.dataset_pyg.decide_download", offline)
    with pytest.raises(DataError, match=r"cannot download ogbg-molbbbp .*graphsep data build"):
        load_ogb_dataset("ogbg-molbbbp", tmp_path)
    assert not (tmp_path / "ogbg_molbbbp").exists()


# The command line: a user's table, built and loaded the same way.


def test_cli_builds_a_user_table(moleculenet: Path, tmp_path: Path) -> None:
    bbbp = pd.read_csv(moleculenet / "bbbp.csv").iloc[:300]
    table = tmp_path / "penetration.csv"
    bbbp.rename(columns={"smiles": "smi", "p_np": "penetrates"}).to_csv(table, index=False)
    argv = [
        "data",
        "build",
        "my-bbbp",
        "--source",
        str(table),
        "--root",
        str(tmp_path),
        "--smiles-column",
        "smi",
        "--labels",
        "penetrates",
        "--task",
        "classification",
        "--split",
        "random",
        "--seed",
        "3",
    ]
    assert main(argv) == 0
    dataset = load_ogb_dataset("my-bbbp", tmp_path)
    assert isinstance(dataset, PygGraphPropPredDataset)
    assert (len(dataset), dataset.num_tasks, dataset.eval_metric) == (300, 1, "rocauc")
    split = load_split(dataset)
    # the expectation is drawn here, not by random_split: seed 3's permutation cut at 80/90%
    order = np.random.default_rng(3).permutation(300)
    expected_split = {"train": order[:240], "valid": order[240:270], "test": order[270:]}
    for part, index in expected_split.items():
        assert split[part].tolist() == sorted(index.tolist())
    assert dataset.y.flatten().tolist() == bbbp["p_np"].tolist()
    expected = smiles2graph(bbbp["smiles"][7])
    assert torch.equal(dataset[7].edge_attr, torch.from_numpy(expected["edge_feat"]))


def test_cli_error_is_one_line(tmp_path: Path, capsys) -> None:
    argv = [
        "data",
        "build",
        "mine",
        "--source",
        str(tmp_path / "gone.csv"),
        "--root",
        str(tmp_path),
        "--task",
        "regression",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("graphsep: error: no such table:")


def test_cli_lists_recipes(capsys) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "ogbg-molhiv" in out and "32901/4113/4113" in out


def test_random_split_follows_its_seed() -> None:
    first, again, other = random_split(300, seed=3), random_split(300, seed=3), random_split(300)
    assert all(np.array_equal(first[p], again[p]) for p in first)
    assert not np.array_equal(first["test"], other["test"])
    assert sorted(np.concatenate(list(first.values())).tolist()) == list(range(300))


# What comes from outside (a table, a dataset folder) is checked where it enters; each problem
# is one DataError naming the file, row or column.

REPO = Path(__file__).resolve().parents[1]


def write_bbbp(path: Path, rows: int) -> Path:
    pd.read_csv(BUNDLED["ogbg-molbbbp"], nrows=rows)[["smiles", "p_np"]].to_csv(path, index=False)
    return path


def build_small(table: Path, root: Path, split: str = "random", task: str = "classification"):
    return build_dataset(
        "assay", table, root, task_type=task, split=split, processes=1, progress=False
    )


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a 40-molecule BBBP dataset, built and processed once; copy it to change it."""
    root = tmp_path_factory.mktemp("small")
    build_small(write_bbbp(root / "bbbp40.csv", 40), root / "data")
    assert len(load_ogb_dataset("assay", root / "data")) == 40
    return root / "data"


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder any user can enter (pytest's own is root's alone when run as root)."""
    folder = Path(tempfile.mkdtemp())
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` and what it holds read-only; as root, who writes anyway, act as nobody."""
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
    for path in folders:
        path.chmod(0o555)
    as_root = os.geteuid() == 0
    try:
        if as_root:
            os.seteuid(pwd.getpwnam("nobody").pw_uid)
        yield
    finally:
        if as_root:
            os.seteuid(0)
        for path in folders:
            path.chmod(0o755)


@pytest.mark.parametrize("imports_graphsep", [True, False])
def test_ogb_alone_reads_a_built_folder_after_import_graphsep(built, ogb_root, imports_graphsep):
    built("ogbg-molfreesolv")
    code = "\n".join([
        "import torch, torch_geometric",
        "before = set(torch.serialization.get_safe_globals())",
        "import graphsep" if imports_graphsep else "",
        "added = set(torch.serialization.get_safe_globals()) - before",
        "print(sorted(c.__name__ for c in added))",
        "from ogb.graphproppred import PygGraphPropPredDataset",
        f"print(len(PygGraphPropPredDataset('ogbg-molfreesolv', {str(ogb_root)!r})))",
    ])  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    if imports_graphsep:
        assert done.returncode == 0, done.stderr
        added = "['DataEdgeAttr', 'DataTensorAttr', 'GlobalStorage']"  # nothing broader
        assert done.stdout.splitlines() == [added, "642"]
    else:  # the control: without graphsep, torch refuses OGB's processed file
        assert done.returncode != 0 and "DataEdgeAttr" in done.stderr


BAD_TABLES = [
    pytest.param(b"smiles,y\nCCO,1,\nCCN,0,\n", "row 2 of {}: 3 fields where the header has 2",
                 id="trailing-comma"),
    pytest.param(b"smiles,y\nCCO,1\nCCN,0,5,6\n", "row 3 of {}: 4 fields where the header has 2",
                 id="long-row"),
    pytest.param(b"smiles,smiles\nCCO,CCN\n", "{}: duplicate column name 'smiles' in the header",
                 id="duplicate-columns"),
    pytest.param(b"smiles,y\nCCO,1\nC\xffC,0\n",
                 "row 3 of {}, column 'smiles': byte 0xff is not UTF-8", id="not-utf8"),
    pytest.param(b"sm\xe9iles,y\nCCO,1\n", "the header of {}: byte 0xe9 is not UTF-8",
                 id="not-utf8-header"),
]  # fmt: skip


@pytest.mark.parametrize("reader", ["data build", "predict", "predict stdin"])
@pytest.mark.parametrize(("content", "message"), BAD_TABLES)
def test_bad_table_is_refused_naming_the_row(tmp_path, monkeypatch, reader, content, message):
    table = tmp_path / "assay.csv"
    table.write_bytes(content)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content)))
    name = "stdin" if reader == "predict stdin" else str(table)
    with pytest.raises(DataError, match=re.escape(message.format(name))):
        if reader == "data build":
            build_small(table, tmp_path / "data")
        else:
            list(read_chunks("-" if reader == "predict stdin" else str(table)))


SAME_SCAFFOLD = [f"c1ccccc1{tail}" for tail in ["", "C", "CC", "O", "N", "Cl", "Br", "F", "CO"]]


@pytest.mark.parametrize(
    ("rows", "split", "message"),
    [
        (["CCO,1.5", "CCN,inf", "CCC,0", "CCCl,1e400", "CCBr,-inf"], "random",
         "rows 3, 5, 6 of {table}, column 'y': label 'inf' is not a finite number"),
        ([f"{s},1" for s in ["CCO", "CCN", "CCC", "CCCl", "CCBr"]], "random",
         "5 molecules leave the valid split empty (train/valid/test 4/0/1); "
         "a random split needs at least 10 molecules"),
        ([f"{s},1" for s in SAME_SCAFFOLD + ["CCO", "CCN"]], "scaffold",
         "11 molecules leave the test split empty (train/valid/test 2/9/0); "
         "a scaffold split needs at least 10 molecules and scaffolds enough"),
    ],
)  # fmt: skip
def test_bad_labels_or_too_few_rows_stop_the_build(tmp_path, rows, split, message):
    table = write_table(tmp_path / "assay.csv", "smiles,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=re.escape(message.format(table=table))):
        build_small(table, tmp_path / "data", split, task="regression")
    assert not (tmp_path / "data").exists()


def test_a_full_disk_during_a_build_is_one_line_and_keeps_the_earlier_build(
    tmp_path, monkeypatch, capsys
) -> None:
    table, root = write_bbbp(tmp_path / "bbbp.csv", 20), tmp_path / "data"
    earlier = build_small(table, root)
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    def full(self: Path, *args, **kwargs) -> int:  # the csv files fit, the next file does not
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", full)
    argv = ["data", "build", "assay", "--source", str(table), "--root", str(root),
            "--task", "classification", "--split", "random", "--seed", "1"]  # fmt: skip
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"graphsep: error: no space left on device while writing {earlier}\n"
    )
    after = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before  # the earlier build whole, no temporary folder beside it


def test_build_into_a_root_that_cannot_hold_it(open_tmp: Path) -> None:
    table = write_bbbp(open_tmp / "bbbp.csv", 20)
    (open_tmp / "a-file").write_text("")
    with pytest.raises(DataError, match=re.escape(f"data root {open_tmp / 'a-file'} is a file")):
        build_small(table, open_tmp / "a-file")
    (open_tmp / "shared").mkdir()
    with read_only(open_tmp / "shared"), pytest.raises(DataError) as err:
        build_small(table, open_tmp / "shared" / "data")
    assert str(err.value).startswith(f"cannot write in {open_tmp / 'shared'} (read-only)")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def empty_gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(b""))


@pytest.mark.parametrize(
    ("damage", "file", "message"),
    [
        (truncate, "processed/geometric_data_processed.pt",
         "{path} is damaged (PytorchStreamReader failed reading zip archive"),
        (empty, "processed/geometric_data_processed.pt", "{path} is damaged (EOFError"),
        (empty_gzip, "split/random/valid.csv.gz", "{path.parent}: the valid split is empty"),
    ],
)  # fmt: skip
def test_damaged_dataset_folder_is_named(small_dataset, tmp_path, damage, file, message):
    root = tmp_path / "data"
    shutil.copytree(small_dataset, root)
    path = root / "assay" / file
    damage(path)
    with pytest.raises(DataError, match=re.escape(message.format(path=path))) as err:
        load_split(load_ogb_dataset("assay", root))
    if path.suffix == ".pt":
        assert str(err.value).endswith(f"delete it (rm '{path}') and run again to rebuild it")
        path.unlink()  # as the message says: the next run rebuilds it
        assert len(load_ogb_dataset("assay", root)) == 40


def test_loading_needs_a_folder_and_writes_only_to_process(small_dataset, open_tmp):
    (open_tmp / "a-file").write_text("")
    with pytest.raises(DataError, match=re.escape(f"data root {open_tmp / 'a-file'} is a file")):
        load_ogb_dataset("assay", open_tmp / "a-file")
    root = open_tmp / "data"
    shutil.copytree(small_dataset, root)
    with read_only(root):  # processed already: reading needs no write
        assert len(load_ogb_dataset("assay", root)) == 40
    shutil.rmtree(root / "assay" / "processed")
    with read_only(root), pytest.raises(DataError) as err:
        load_ogb_dataset("assay", root)
    assert str(err.value).startswith(f"cannot write {root / 'assay' / 'processed'}")


@pytest.mark.parametrize("file", ["geometric_data_processed.pt", "pre_transform.pt"])
def test_a_crafted_processed_file_is_refused_not_run(small_dataset, tmp_path, file):
    root = tmp_path / "data"
    shutil.copytree(small_dataset, root)
    marker = tmp_path / "code-ran"
    torch.save(CreatesFile(marker), root / "assay" / "processed" / file)
    with pytest.raises(DataError, match=rf"{file}: refused to load: .* asks for code"):
        load_ogb_dataset("assay", root)
    assert not marker.exists()


def test_killed_while_processing_leaves_nothing_half_written(small_dataset, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(small_dataset, root)
    processed = root / "assay" / "processed"
    shutil.rmtree(processed)
    kill_in_save = "\n".join([
        "import os, signal, torch",
        "from graphsep.molecules.ogb_layout import load_ogb_dataset",
        "def killed(obj, f, *args, **kwargs):",
        "    out = f if hasattr(f, 'write') else open(f, 'wb')  # a path or an open file",
        "    out.write(b'PK')  # the start of a zip file, then kill -9",
        "    out.flush()",
        "    os.kill(os.getpid(), signal.SIGKILL)",
        "torch.save = torch.serialization.save = killed",
        f"load_ogb_dataset('assay', {str(root)!r})",
    ])  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", kill_in_save], capture_output=True, cwd=REPO, timeout=300
    )
    assert done.returncode == -signal.SIGKILL
    assert not (processed / "geometric_data_processed.pt").exists()
    assert len(load_ogb_dataset("assay", root)) == 40
