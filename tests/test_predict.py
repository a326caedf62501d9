"""Scoring SMILES with a real (tiny) model trained on BBBP in this session."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from ogb.utils import smiles2graph
from torch_geometric.data import Data

from graphsep.cli.main import main
from graphsep.config import load_config
from graphsep.errors import GraphsepError
from graphsep.frontends.graph.collate import collate_graphs
from graphsep.molecules.build import build_dataset
from graphsep.parallel import bounded_map
from graphsep.predict import predictor as predict_module
from graphsep.predict.predictor import Predictor
from graphsep.predict.tables import predict_table, write_predictions
from graphsep.tasks.property.data import BUNDLED
from graphsep.tasks.property.run import finetune
from graphsep.training.checkpoint import CheckpointError

REPO = Path(__file__).resolve().parents[1]
SMALL = "CCO"
LARGER = [
    "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "O=C(O)c1ccccc1OC(=O)C",
    "CC12CCC3c4ccc(O)cc4CCC3C1CCC2O",
]
CHEMISTRY = {
    "salt": "CC(=O)[O-].[Na+]",
    "charged": "C[N+](C)(C)CCO",
    "stereo centre": "C[C@H](N)C(=O)O",
    "double-bond stereo": "F/C=C/F",
    "explicit hydrogens": "[H]OC([H])([H])[H]",
    "aromatic [nH]": "c1cc[nH]c1",
    "isotopes": "[13CH3][2H]",
}


def train_tiny_checkpoint(root: Path) -> Path:
    """Finetune a tiny sep-norm model for five steps on 300 molecules of the bundled BBBP."""
    table = pd.read_csv(BUNDLED["ogbg-molbbbp"], nrows=300)[["smiles", "p_np"]]
    table.to_csv(root / "bbbp300.csv", index=False)
    build_dataset("bbbp300", root / "bbbp300.csv", root / "data", task_type="classification",
                  split="random", skip_invalid=True, processes=1, progress=False)  # fmt: skip
    overrides = [
        "data.name=bbbp300", "data.source=null", f"data.root={root / 'data'}",
        f"out_dir={root / 'run'}", "train.epochs=1", "train.max_steps=5", "model.core.dim=32",
        "model.core.depth=1", "progress=false",
    ]  # fmt: skip
    finetune(load_config(REPO / "configs" / "quickstart.yaml", overrides))
    return root / "run" / "best"


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model's checkpoint folder (:func:`train_tiny_checkpoint`)."""
    return train_tiny_checkpoint(tmp_path_factory.mktemp("predict"))


@pytest.fixture(scope="session")
def predictor(checkpoint: Path) -> Predictor:
    return Predictor.from_checkpoint(checkpoint, device="cpu")


def read_out(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_round_trip_keeps_rows_columns_and_order(checkpoint, tmp_path, capsys):
    table = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "smiles": [SMALL, "C1CC", "", LARGER[0], "*CC"],
        "note": ["x,y", "", "NA", "1.50", "z"],
        "p_np": ["1", "0", "", "1", "0"],  # a label column named like the task
        "warning": ["", "", "", "toxic", ""],  # and one named like an output column
    })  # fmt: skip
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    table.to_csv(source, index=False)
    before = source.read_bytes()

    assert main(["predict", "--checkpoint", str(checkpoint), "--input", str(source),
                 "--output", str(out)]) == 0  # fmt: skip

    scored = read_out(out)
    assert list(scored.columns) == [
        "id", "smiles", "note", "p_np", "warning", "p_np_pred", "error", "warning_pred",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(scored[table.columns], table)
    assert scored["error"][[0, 3]].tolist() == ["", ""]
    assert scored["warning_pred"].tolist() == [""] * 5
    assert all(0 < float(p) < 1 for p in scored["p_np_pred"][[0, 3]])
    assert scored["p_np_pred"][[1, 2, 4]].tolist() == ["", "", ""]
    assert scored["error"][1] == "cannot parse SMILES 'C1CC': unclosed ring for input: 'C1CC'"
    assert scored["error"][2] == "empty SMILES"
    assert "atom 0 (*) is not an element" in scored["error"][4]
    err = capsys.readouterr().err
    assert f"row 3 of {source}: cannot parse SMILES 'C1CC'" in err
    assert "2 predicted, 3 failed" in err
    assert source.read_bytes() == before
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_pipeline_through_a_subprocess(checkpoint):
    table = f"smiles,name\n{SMALL},ethanol\nC1CC,broken\n"
    done = subprocess.run(
        [sys.executable, "-m", "graphsep.cli.main", "predict", "--checkpoint", str(checkpoint),
         "--input", "-", "--output", "-"],
        input=table, capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "smiles,name,p_np,error,warning"
    assert lines[1].startswith(f"{SMALL},ethanol,0.") and lines[1].endswith(",,")
    assert lines[2].startswith("C1CC,broken,,cannot parse SMILES")
    assert "1 predicted, 1 failed" in done.stderr


def smiles_graph(smiles: str) -> Data:
    """OGB's own featurization of a SMILES, independent of graphsep's."""
    g = smiles2graph(smiles)
    return Data(x=torch.from_numpy(g["node_feat"]), edge_index=torch.from_numpy(g["edge_index"]),
                edge_attr=torch.from_numpy(g["edge_feat"]), num_nodes=g["num_nodes"])  # fmt: skip


def test_smiles_arguments_print_predictions(checkpoint, predictor, capsys):
    assert main(["predict", "--checkpoint", str(checkpoint), "--smiles", SMALL, "c1ccccc1O"]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    assert list(printed.columns) == ["smiles", "p_np", "error", "warning"]
    assert printed["smiles"].tolist() == [SMALL, "c1ccccc1O"]
    assert (printed["error"] == "").all() and (printed["warning"] == "").all()
    # the printed probabilities are the model's, through the sigmoid, to the six digits written
    with torch.inference_mode():
        batch = collate_graphs([smiles_graph(SMALL), smiles_graph("c1ccccc1O")], max_hops=5)
        logits = predictor.models[0](batch)
    expected = torch.sigmoid(logits).view(-1).tolist()
    assert printed["p_np"].tolist() == pytest.approx(expected, rel=1e-5)
    assert printed["p_np"].between(0, 1).all() and printed["p_np"].nunique() == 2


def test_bf16_predictions_and_embeddings_are_float32_and_near_fp32(checkpoint, predictor, capsys):
    low = Predictor.from_checkpoint(checkpoint, device="cpu", precision="bf16")
    smiles = [SMALL, *LARGER]
    full, half = predictor.predict(smiles)["p_np"], low.predict(smiles)["p_np"]
    assert half.dtype == np.float32 and (half - full).abs().max() < 0.02
    vectors = low.embed(smiles)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, predictor.embed(smiles), atol=0.1)
    assert not np.array_equal(vectors, predictor.embed(smiles))  # it did run in bf16
    args = ["predict", "--checkpoint", str(checkpoint), "--smiles", SMALL, "--precision", "bf16"]
    assert main(args) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    assert printed["p_np"][0] == pytest.approx(float(half[0]), abs=1e-5)


def test_alone_or_among_larger_molecules_same_number(predictor):
    alone = predictor.predict([SMALL])["p_np"][0]
    among = predictor.predict([*LARGER[:2], SMALL, *LARGER[2:]])["p_np"][2]
    assert math.isclose(alone, among, rel_tol=1e-5, abs_tol=1e-6)
    embedded = predictor.embed([SMALL, *LARGER])
    np.testing.assert_allclose(predictor.embed([SMALL])[0], embedded[0], rtol=1e-5, atol=1e-5)


def test_salts_charges_stereo_hydrogens_nh_isotopes_are_scored(predictor):
    scored = predictor.predict(list(CHEMISTRY.values()))
    assert dict(zip(CHEMISTRY, scored["error"], strict=True)) == dict.fromkeys(CHEMISTRY, "")
    assert scored["p_np"].between(0, 1).all()


BAD_ROWS = {  # cell: its error, the same from every route (build, corpus, predict)
    None: "empty SMILES",
    float("nan"): "empty SMILES",
    "  ": "empty SMILES",
    "C1CC": "cannot parse SMILES 'C1CC': unclosed ring for input: 'C1CC'",
    LARGER[0]: "15 atoms, more than max_atoms=5",
    "[*:1]CC": "atom 0 (*) is not an element of the featurizer's vocabulary (wildcard or "
    "attachment point)",
    "CC O": "whitespace inside SMILES 'CC O' at position 3",  # RDKit alone would score ethane
    "[NH4]": "RDKit will not sanitize the molecule: Explicit valence for atom # 0 N, 4, is "
    "greater than permitted",
}


def test_bad_rows_get_reasons_and_nan(checkpoint):
    small = Predictor.from_checkpoint(checkpoint, device="cpu", max_atoms=5)
    cells = [SMALL, *BAD_ROWS]
    scored = small.predict(cells)
    assert scored["error"].tolist() == ["", *BAD_ROWS.values()]
    assert scored["warning"].tolist() == [""] * len(cells)
    assert scored["p_np"].isna().tolist() == [False, *[True] * len(BAD_ROWS)]
    embedded = small.embed(cells)
    assert embedded.shape == (len(cells), 32)
    assert np.isnan(embedded).all(1).tolist() == [False, *[True] * len(BAD_ROWS)]


@pytest.mark.parametrize("allow", [False, True])
def test_a_molecule_rdkit_will_not_sanitize_is_refused_unless_allowed(checkpoint, capsys, allow):
    reason = "Explicit valence for atom # 0 C, 5, is greater than permitted"
    argv = ["predict", "--checkpoint", str(checkpoint), "--smiles", SMALL, "C(C)(C)(C)(C)C"]
    assert main([*argv, "--allow-unsanitized"] if allow else argv) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    assert list(out.columns) == ["smiles", "p_np", "error", "warning"]
    refusal = f"RDKit will not sanitize the molecule: {reason}"
    expected = ["", refusal] if allow else [refusal, ""]
    assert out[["error", "warning"]].values.tolist()[1] == expected
    assert (out["p_np"][1] != "") == allow  # scored only when allowed
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu", allow_unsanitized=allow)
    assert np.isnan(predictor.embed(["C(C)(C)(C)(C)C"])).all() != allow


def test_a_non_finite_model_output_is_an_error_not_an_empty_score(checkpoint, tmp_path):
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    with torch.no_grad():
        predictor.models[0].head.net[-1].bias.fill_(float("nan"))  # as weights that overflowed
    scored = predictor.predict([SMALL, "C1CC"])
    assert scored["p_np"].isna().all()
    assert scored["error"][0] == "the model produced a non-finite value"
    assert scored["error"][1].startswith("cannot parse SMILES")
    out = tmp_path / "out.csv"
    frames = [pd.DataFrame({"smiles": [SMALL, "CCN"]})]
    summary = write_predictions(predictor, frames, str(out))
    assert (summary.predicted, summary.failed) == (0, 2)
    assert read_out(out)["error"].tolist() == ["the model produced a non-finite value"] * 2


@pytest.mark.parametrize("smiles", [["C", "X"], ["C", "--smiles", "X"]])
def test_each_smiles_argument_is_scored_and_named(checkpoint, capsys, smiles):
    assert main(["predict", "--checkpoint", str(checkpoint), "--smiles", *smiles]) == 0
    captured = capsys.readouterr()
    assert pd.read_csv(io.StringIO(captured.out))["smiles"].tolist() == ["C", "X"]
    assert "graphsep: --smiles #2: cannot parse SMILES 'X'" in captured.err
    assert "1 predicted, 1 failed" in captured.err


def test_chunks_and_pool_give_the_same_rows(predictor, checkpoint, tmp_path, monkeypatch):
    smiles = [SMALL, "C1CC", *LARGER, *CHEMISTRY.values()]
    source = tmp_path / "in.csv"
    pd.DataFrame({"smiles": smiles}).to_csv(source, index=False)
    reference = predictor.predict(smiles)
    monkeypatch.setattr(predict_module, "MIN_POOL_SIZE", 1)  # a worker pool for tiny chunks
    pooled = Predictor.from_checkpoint(checkpoint, device="cpu", processes=1)
    summary = predict_table(pooled, str(source), str(tmp_path / "o.csv"), chunk_size=3)
    assert (summary.predicted, summary.failed) == (len(smiles) - 1, 1)
    out = pd.read_csv(tmp_path / "o.csv", keep_default_na=False)
    assert out["smiles"].tolist() == smiles
    np.testing.assert_allclose(out["p_np"].replace("", np.nan).astype(float), reference["p_np"],
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_failed_read_leaves_the_output_untouched(checkpoint, tmp_path, capsys):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("smiles,x\nCCO,1\nCCN,2\nCCC,3,extra\n")
    out.write_text("previous results\n")
    code = main(["predict", "--checkpoint", str(checkpoint), "--input", str(source),
                 "--output", str(out), "--chunk-size", "1"])  # fmt: skip
    assert code == 2
    assert f"row 4 of {source}: 3 fields where the header has 2" in capsys.readouterr().err
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def corrupt_weights(folder: Path) -> str:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return "model.safetensors: corrupt or truncated weights"


def corrupt_meta(folder: Path) -> str:
    (folder / "meta.json").write_text("{ not json")
    return "meta.json: corrupt checkpoint metadata"


@pytest.mark.parametrize("corrupt", [corrupt_weights, corrupt_meta])
def test_corrupt_checkpoint_names_the_file(checkpoint, tmp_path, capsys, corrupt):
    broken = tmp_path / "best"
    shutil.copytree(checkpoint, broken)
    expected = corrupt(broken)
    assert main(["predict", "--checkpoint", str(broken), "--smiles", SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"graphsep: error: {broken}") and expected in err
    assert len(err.splitlines()) == 1
    with pytest.raises(CheckpointError, match="not found"):
        Predictor.from_checkpoint(tmp_path / "missing")


def test_a_model_of_other_features_is_refused_by_name(checkpoint, tmp_path):
    other = tmp_path / "zinc_like"
    shutil.copytree(checkpoint, other)
    meta = json.loads((other / "meta.json").read_text())
    # ZINC's atom and bond types
    meta["config"]["model"]["graph"].update(node_dims=[28], edge_dims=[4])
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not OGB's featurization of SMILES"):
        Predictor.from_checkpoint(other)


def test_missing_column_lists_the_columns(checkpoint, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("SMILES,activity\nCCO,1\n")
    assert main(["predict", "--checkpoint", str(checkpoint), "--input", str(source)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"graphsep: error: {source}: no SMILES column 'smiles'; columns present: 'SMILES', "
        "'activity'"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty: expected a header line"), ("smiles,x\n", "has a header but no data rows")],
)
def test_empty_input(checkpoint, tmp_path, capsys, content, message):
    source = tmp_path / "in.csv"
    source.write_text(content)
    assert main(["predict", "--checkpoint", str(checkpoint), "--input", str(source)]) == 2
    assert capsys.readouterr().err.startswith(f"graphsep: error: {source} {message}")


@pytest.mark.parametrize("where", ["missing-folder/out.csv", "a-file/out.csv", "a-folder"])
def test_unwritable_output(checkpoint, tmp_path, capsys, where):
    source = tmp_path / "in.csv"
    source.write_text("smiles\nCCO\n")
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-folder").mkdir()
    code = main(["predict", "--checkpoint", str(checkpoint), "--input", str(source),
                 "--output", str(tmp_path / where)])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.startswith(f"graphsep: error: cannot write {tmp_path / where}")


def test_output_onto_the_input_is_refused(checkpoint, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("smiles\nCCO\n")
    assert main(["predict", "--checkpoint", str(checkpoint), "--input", str(source),
                 "--output", str(source)]) == 2  # fmt: skip
    assert "is the input file" in capsys.readouterr().err
    assert source.read_text() == "smiles\nCCO\n"


def test_nothing_scored_is_an_error(checkpoint, capsys):
    assert main(["predict", "--checkpoint", str(checkpoint), "--smiles", "C1CC", "xyz"]) == 2
    err = capsys.readouterr().err
    assert "0 predicted, 2 failed" in err and "no molecule could be scored" in err


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail, instead of hanging the suite, when the block takes longer than ``seconds``."""

    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")

    before = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


def double_or_die(item: int) -> int:
    if item == 5:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    return 2 * item


def test_a_killed_worker_stops_the_parallel_map_with_one_line():
    with deadline(60):
        assert list(bounded_map(double_or_die, [3, 1, 2], processes=2, window=1)) == [6, 2, 4]
        with pytest.raises(GraphsepError, match="^featurization stopped: a worker process died"):
            list(bounded_map(double_or_die, range(20), processes=2))


def graphsep_workers(parent: int) -> list[int]:
    """Worker processes of a running ``graphsep`` command (its children that run graphsep)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"graphsep.cli.main" in (stat.parent / "cmdline").read_bytes():
                pids.append(int(stat.parent.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds workers through /proc")
def test_a_killed_featurization_worker_stops_predict_and_writes_nothing(checkpoint, tmp_path):
    smiles = pd.read_csv(BUNDLED["ogbg-molbbbp"])["smiles"].tolist()  # 2,039: a worker pool
    out = tmp_path / "scored.csv"
    # the reader takes the header line as the first chunk's first row: chunks of 2,000 molecules
    command = [sys.executable, "-m", "graphsep.cli.main", "predict",
               "--checkpoint", str(checkpoint),
               "--input", "-", "--output", str(out), "--chunk-size", "2001"]  # fmt: skip
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)  # fmt: skip
    try:
        # more than pandas reads in one block, so that the first chunks reach the workers
        proc.stdin.write("smiles\n" + "\n".join(smiles * 3) + "\n")
        proc.stdin.flush()
        with deadline(60):
            while not (workers := graphsep_workers(proc.pid)):
                time.sleep(0.1)
        os.kill(workers[0], signal.SIGKILL)
        # stdin is still open: the rows sent after the kill need the dead pool
        _, err = proc.communicate("\n".join(smiles) + "\n", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("graphsep: error: featurization stopped: a worker process died")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file left


@contextlib.contextmanager
def umask(mask: int):
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_the_output_file_honours_the_umask(checkpoint, tmp_path, mask, mode):
    out = tmp_path / "scored.csv"
    with umask(mask):
        assert main(["predict", "--checkpoint", str(checkpoint), "--smiles", SMALL,
                     "--output", str(out)]) == 0  # fmt: skip
    assert out.stat().st_mode & 0o777 == mode


@pytest.mark.parametrize(
    "suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".tsv.gz", ".tsv.xz", ".tsv.zip"]
)
def test_a_compressed_output_is_one_readable_table(checkpoint, tmp_path, suffix):
    smiles = [SMALL, *LARGER, "C1CC"] * 3  # 18 rows in chunks of 4: five writes
    source, out = tmp_path / "in.csv", tmp_path / f"scored{suffix}"
    pd.DataFrame({"smiles": smiles}).to_csv(source, index=False)
    assert main(["predict", "--checkpoint", str(checkpoint), "--input", str(source),
                 "--output", str(out), "--chunk-size", "4"]) == 0  # fmt: skip
    sep = "\t" if ".tsv" in suffix else ","
    scored = pd.read_csv(out, sep=sep, keep_default_na=False)
    assert scored["smiles"].tolist() == smiles
    assert list(scored.columns) == ["smiles", "p_np", "error", "warning"]


@pytest.mark.parametrize("suffix", [".csv.zst", ".csv.tar", ".csv.tar.gz", ".csv.tar.xz"])
def test_an_output_compression_that_cannot_be_streamed_is_refused_first(
    checkpoint, tmp_path, capsys, suffix
):
    out = tmp_path / f"scored{suffix}"
    assert main(["predict", "--checkpoint", str(checkpoint), "--smiles", SMALL,
                 "--output", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"compression '{suffix[4:]}' is not supported; use one of .gz, .bz2, .xz, .zip" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_on_a_full_device_is_one_line(checkpoint):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "graphsep.cli.main", "predict", "--checkpoint", str(checkpoint),
             "--smiles", SMALL, "CCN"],
            stdout=full, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "graphsep: error: no space left on device while writing stdout"
    )
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
