"""Whole-molecule RDKit features: computed once, the same at build and at prediction, never NaN."""

import json
import multiprocessing
import time

import numpy as np
import pandas as pd
import pytest
import torch
from molecules import SHARED_DATA
from rdkit import Chem

import train
from graphsep.analysis.split_embeddings import split_embeddings
from graphsep.cli.main import main as graphsep
from graphsep.config import ConfigError, load_config
from graphsep.molecules import feature_cache
from graphsep.molecules.descriptors import (
    DESCRIPTOR_NAMES,
    FEATURE_SETS,
    FeatureScaler,
    feature_width,
    molecule_features,
)
from graphsep.molecules.feature_cache import dataset_smiles, load_dataset_features
from graphsep.molecules.featurize import featurize
from graphsep.predict.predictor import Predictor
from graphsep.tasks.property.data import load_property_data
from graphsep.tasks.property.run import predict

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")
SMALL = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false"]
NAMES = ["ecfp", "maccs", "rdkit2d"]
FEATURES = [f"task.property.mol_features=[{','.join(NAMES)}]"]
SALT = "[Na+].CO\\N=C(C(=O)N[C@@H]1[C@@H]2SCC(=C(N2C1=O)C([O-])=O)COC(C)=O)\\c3csc(N)n3"
"""A BBBP molecule whose charge-based BCUT2D descriptors RDKit returns as NaN."""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def feature_run(data_root, tmp_path_factory):
    """Two epochs on the bundled BBBP table with features into [CLS] and the head."""
    out_dir = tmp_path_factory.mktemp("run")
    args = [
        "--config", "configs/quickstart.yaml", f"data.root={data_root}", f"out_dir={out_dir}",
        "train.epochs=2", "train.batch_size=128", *SMALL, *FEATURES,
        "task.property.mol_features_into=[cls,head]",
    ]  # fmt: skip
    assert train.main(args) == 0
    return out_dir


def quick_config(data_root, *extra):
    return load_config("configs/quickstart.yaml", [f"data.root={data_root}", *SMALL, *extra])


def test_feature_sets_have_their_widths_and_known_values():
    benzene = featurize("c1ccccc1", mol_features=tuple(FEATURE_SETS)).features
    assert benzene.values.shape == (feature_width(list(FEATURE_SETS)),) and not benzene.missing
    rdkit2d = benzene.values[-len(DESCRIPTOR_NAMES) :]
    assert rdkit2d[DESCRIPTOR_NAMES.index("NumAromaticRings")] == 1
    assert rdkit2d[DESCRIPTOR_NAMES.index("HeavyAtomCount")] == 6
    ecfp = benzene.values[: FEATURE_SETS["ecfp"]]
    # six identical carbons: one radius-0 and one radius-1 environment, each counted 6 times
    assert np.allclose(np.sort(ecfp[ecfp > 0]), np.log1p([6, 6, 6]))


def test_nan_descriptors_are_named_and_filled_with_the_train_mean():
    salt = featurize(SALT, mol_features=("rdkit2d",)).features
    assert "rdkit2d:BCUT2D_MWHI" in salt.missing
    ethanol = featurize("CCO", mol_features=("rdkit2d",)).features
    scaler = FeatureScaler.fit(np.stack([ethanol.values, salt.values]), ["rdkit2d"])
    column = DESCRIPTOR_NAMES.index("BCUT2D_MWHI")
    model_input = scaler.transform(salt.values[None])
    assert np.isfinite(model_input).all()
    assert model_input[0, column] == 0.0  # the mean of the one finite train value, centred


def test_statistics_of_float32_values_near_its_limit_stay_finite():
    # molhiv's cached float32 Ipc values (up to 2e38) overflowed a float32 sum to inf
    raw = np.ones((20_000, feature_width(["rdkit2d"])), dtype=np.float32)
    raw[:, DESCRIPTOR_NAMES.index("Ipc")] = np.linspace(1e33, 1e36, len(raw), dtype=np.float32)
    scaler = FeatureScaler.fit(raw, ["rdkit2d"])
    assert np.isfinite(scaler.center).all() and np.isfinite(scaler.scale).all()
    assert np.isfinite(scaler.transform(raw)).all()


def test_features_are_cached_once_and_equal_at_build_and_at_prediction(data_root):
    data = load_property_data(quick_config(data_root, *FEATURES))  # builds BBBP, then features
    root = data_root / "ogbg_molbbbp"
    report = json.loads((root / "processed" / "mol_features_rdkit2d.json").read_text())
    assert report["molecules"] == 2039 and report["molecules_with_missing"] > 0
    bcut = report["missing_by_feature"]["rdkit2d:BCUT2D_MWHI"]
    assert 0 < bcut <= report["molecules_with_missing"]
    cache = root / "processed" / "mol_features_ecfp.pt"
    stamp = cache.stat().st_mtime_ns
    raw = load_dataset_features(root, root / "processed", NAMES, progress=False)
    assert cache.stat().st_mtime_ns == stamp  # read, not recomputed
    smiles = dataset_smiles(root)
    for row in (0, smiles.index(SALT) if SALT in smiles else 67, 2038):
        at_prediction = featurize(smiles[row], mol_features=tuple(NAMES)).features.values
        assert np.array_equal(raw[row], at_prediction.astype(np.float32), equal_nan=True)
    # every batch the model sees is finite, though 20 molecules have NaN descriptors
    for loader in (data.train, data.valid, data.test):
        for batch in loader:
            assert batch.mol_features.shape[1] == feature_width(NAMES)
            assert torch.isfinite(batch.mol_features).all()


def test_runs_started_together_compute_a_feature_set_once(tmp_path, monkeypatch):
    (tmp_path / "mapping").mkdir()
    smiles = pd.DataFrame({"smiles": ["CCO", "c1ccccc1", SALT]})
    smiles.to_csv(tmp_path / "mapping" / "mol.csv.gz", index=False)
    log, compute = tmp_path / "computed.txt", feature_cache._compute

    def logged_compute(*args):
        with open(log, "a") as file:
            file.write(f"{args[1]}\n")
        time.sleep(1)  # without the lock the other run would start computing meanwhile
        return compute(*args)

    monkeypatch.setattr(feature_cache, "_compute", logged_compute)
    fork = multiprocessing.get_context("fork")  # the children see the patched function
    args = (tmp_path, tmp_path / "processed", ["maccs"], False)
    runs = [fork.Process(target=load_dataset_features, args=args) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert [run.exitcode for run in runs] == [0, 0]
    assert log.read_text().split() == ["maccs"]
    assert load_dataset_features(*args).shape == (3, FEATURE_SETS["maccs"])  # cached: no log
    assert log.read_text().split() == ["maccs"]


def test_statistics_come_from_the_train_split_alone(data_root):
    data = load_property_data(quick_config(data_root, *FEATURES))
    root = data_root / "ogbg_molbbbp"
    raw = load_dataset_features(root, root / "processed", NAMES, progress=False)
    train_rows = data.train.dataset.indices.numpy()
    refit = FeatureScaler.fit(raw[train_rows], NAMES)
    assert np.array_equal(data.mol_features.center, refit.center)
    changed = raw.copy()
    changed[data.test.dataset.indices.numpy()] *= 3.0  # other test molecules
    assert np.array_equal(FeatureScaler.fit(changed[train_rows], NAMES).scale, refit.scale)
    whole = FeatureScaler.fit(raw, NAMES)
    assert not np.array_equal(whole.center, refit.center)


def test_a_run_with_features_learns_and_predicts_smiles_as_it_scored_them(feature_run, data_root):
    rows = [json.loads(line) for line in (feature_run / "metrics.jsonl").read_text().splitlines()]
    assert rows[1]["train_loss"] < rows[0]["train_loss"] and rows[1]["valid"] > 0.8
    predictor = Predictor.from_checkpoint(feature_run / "best", processes=0)
    assert predictor.features.names == NAMES
    cfg = quick_config(data_root, *FEATURES, "task.property.mol_features_into=[cls,head]")
    data = load_property_data(cfg)
    scored, _ = predict(predictor.models[0], data.test, data.task, torch.device("cpu"))
    smiles = dataset_smiles(data_root / "ogbg_molbbbp")
    order = data.test.batch_sampler  # size-sorted batches: the loader's order of test graphs
    test_rows = data.test.dataset.indices[[i for batch in order for i in batch]].tolist()
    table = predictor.predict([smiles[i] for i in test_rows])
    ok = (table["error"] == "").to_numpy()
    assert ok.mean() > 0.95  # the rest: molecules RDKit will not sanitize
    assert np.allclose(table["p_np"].to_numpy()[ok], scored[ok, 0], atol=1e-5)


def test_a_molecule_whose_feature_set_fails_is_refused_by_name(feature_run, monkeypatch):
    predictor = Predictor.from_checkpoint(feature_run / "best", processes=0)

    def broken_maccs(mol):
        raise RuntimeError("MACCS keys unavailable")

    monkeypatch.setattr("graphsep.molecules.descriptors._maccs", broken_maccs)
    table = predictor.predict(["CCO"])
    assert np.isnan(table["p_np"][0])
    assert table["error"][0] == (
        "cannot compute the molecular feature set 'maccs': RuntimeError: MACCS keys unavailable"
    )


def test_feature_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="task.property.mol_features: invalid value 'ecfp6'"):
        load_config(None, ["task.property.mol_features=[ecfp6]"])
    with pytest.raises(ConfigError, match="names an entry twice"):
        load_config(None, ["task.property.mol_features=[ecfp,ecfp]"])
    with pytest.raises(ConfigError, match="mol_features_into: invalid value 'tokens'"):
        load_config(None, ["task.property.mol_features_into=[tokens]"])


def test_sets_are_concatenated_in_the_order_named():
    mol = Chem.MolFromSmiles("CCO")
    both = molecule_features(mol, ["maccs", "ecfp"]).values
    alone = [molecule_features(mol, [name]).values for name in ("maccs", "ecfp")]
    assert np.array_equal(both, np.concatenate(alone))


def test_analyze_embeds_a_feature_model_with_its_features(feature_run, tmp_path):
    out = tmp_path / "analysis"
    assert graphsep(["analyze", "--checkpoint", str(feature_run / "best"), "--out", str(out)]) == 0
    entry = json.loads((out / "analysis.json").read_text())["checkpoints"][0]
    assert entry["rows"] == 204 and entry["kind"] == "property"


def test_analysis_of_other_molecules_uses_the_checkpoints_statistics(feature_run, tmp_path):
    table = tmp_path / "slice.csv"
    lines = (SHARED_DATA / "moleculenet" / "bbbp.csv").read_text().splitlines()
    table.write_text("\n".join(lines[:121]) + "\n")  # other molecules, other train statistics
    build = ["data", "build", "slice", "--source", str(table), "--root", str(tmp_path / "data"),
             "--task", "classification", "--split", "random", "--skip-invalid"]  # fmt: skip
    assert graphsep(build) == 0
    folder = tmp_path / "data" / "slice"
    given = split_embeddings(feature_run / "best", split="test", data=folder)
    test_rows = pd.read_csv(folder / "split" / "random" / "test.csv.gz", header=None)[0]
    smiles = dataset_smiles(folder)
    predictor = Predictor.from_checkpoint(feature_run / "best", processes=0)
    embedded = predictor.embed([smiles[i] for i in test_rows])  # the checkpoint's statistics
    assert given.cls.shape == embedded.shape and len(embedded) >= 10
    # the loader orders molecules by size: compare each coordinate's values, sorted
    assert np.allclose(np.sort(given.cls, axis=0), np.sort(embedded, axis=0), atol=1e-4)
