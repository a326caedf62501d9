"""Seed ensembles: trained into one folder, scored as the mean, spread per molecule, checked."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from molecules import SHARED_DATA
from sklearn.metrics import roc_auc_score

import train
from graphsep.predict.predictor import Predictor
from graphsep.tasks.property.ensemble import ensemble_metrics, expected_calibration_error
from graphsep.tasks.property.spec import TaskSpec
from graphsep.training.checkpoint import CheckpointError

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")
SMALL = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false"]
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1"]


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    args = [
        "--config", "configs/quickstart.yaml", f"data.root={root / 'data'}",
        f"out_dir={root / 'run'}", "train.epochs=1", "train.max_steps=4",
        "train.batch_size=256", "train.ensemble=2", *SMALL,
    ]  # fmt: skip
    assert train.main(args) == 0
    return root / "run"


def test_an_ensemble_trains_its_seeds_into_one_folder_and_scores_their_mean(ensemble):
    listing = json.loads((ensemble / "ensemble.json").read_text())
    assert listing["members"] == ["member-0", "member-1"]
    results = json.loads((ensemble / "results.json").read_text())
    members = [json.loads((ensemble / m / "results.json").read_text()) for m in listing["members"]]
    seeds = [member["seed"] for member in members]
    assert seeds == [0, 1] and results["members"] == 2
    assert len(results["member_test"]) == 2 and 0.0 <= results["test"] <= 1.0
    uncertainty = results["test_uncertainty"]
    assert 0.0 <= uncertainty["brier"] <= 1.0 and 0.0 <= uncertainty["ece"] <= 1.0
    # the kept predictions are the test split's molecules, by graph id, and give its score
    kept = np.load(ensemble / "predictions.npz")
    test_ids = pd.read_csv(ensemble.parent / "data" / "ogbg_molbbbp" / "split" / "scaffold"
                           / "test.csv.gz", header=None)[0]  # fmt: skip
    assert sorted(kept["test_index"]) == sorted(test_ids)
    labels = pd.read_csv(ensemble.parent / "data" / "ogbg_molbbbp" / "mapping" / "mol.csv.gz")
    assert np.array_equal(kept["test_labels"][:, 0], labels["p_np"][kept["test_index"]])
    mean = kept["test_members"].mean(0)
    assert roc_auc_score(kept["test_labels"][:, 0], mean[:, 0]) == pytest.approx(results["test"])


def test_ensemble_prediction_is_the_members_mean_with_their_spread(ensemble):
    table = Predictor.from_checkpoint(ensemble, processes=0).predict(SMILES)
    assert list(table.columns) == ["p_np", "p_np_std", "error", "warning"]
    members = [
        Predictor.from_checkpoint(ensemble / m / "best", processes=0).predict(SMILES)["p_np"]
        for m in ("member-0", "member-1")
    ]
    stacked = np.stack(members)
    assert np.allclose(table["p_np"], stacked.mean(0), atol=1e-6)
    assert np.allclose(table["p_np_std"], stacked.std(0), atol=1e-6)
    assert (table["p_np_std"] > 0).all()  # two seeds disagree somewhat
    embedded = Predictor.from_checkpoint(ensemble, processes=0).embed(SMILES)
    assert embedded.shape == (len(SMILES), 64)  # the two members' [CLS] side by side


def test_identical_members_have_no_spread(ensemble, tmp_path):
    twin = tmp_path / "twin"
    twin.mkdir()
    for name in ("member-0", "member-1"):
        shutil.copytree(ensemble / "member-0", twin / name)
    shutil.copy(ensemble / "ensemble.json", twin)
    table = Predictor.from_checkpoint(twin, processes=0).predict(SMILES)
    assert (table["p_np_std"] == 0).all()


def test_members_that_disagree_are_refused_by_name(ensemble, tmp_path):
    odd = tmp_path / "odd"
    shutil.copytree(ensemble, odd)
    meta_file = odd / "member-1" / "best" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["config"]["model"]["core"]["norm"] = "share"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"member-1: model.core.norm='share'"):
        Predictor.from_checkpoint(odd, processes=0)
    meta["task"]["names"] = ["other"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"member-1: its task differs from member-0's"):
        Predictor.from_checkpoint(odd, processes=0)


def test_calibration_and_spread_metrics_on_known_inputs():
    p = np.array([0.1, 0.1, 0.9, 0.9])
    assert expected_calibration_error(p, np.array([0, 0, 1, 1.0])) == pytest.approx(0.1)
    assert expected_calibration_error(np.full(10, 0.3), np.array([1.0] * 3 + [0.0] * 7)) < 1e-9
    task = TaskSpec(["t"], "classification", "rocauc", "ogbg-molbbbp")
    labels = np.array([[0.0], [1.0], [0.0], [1.0]])
    # members agree where they are right, disagree on the two they get wrong
    preds = np.array([[[0.1], [0.9], [0.9], [0.1]], [[0.1], [0.9], [0.5], [0.5]]])
    scores = ensemble_metrics(preds, labels, task)
    assert scores["spread_error_auc"] == 1.0
    assert scores["brier"] == pytest.approx(np.mean((preds.mean(0) - labels) ** 2))
