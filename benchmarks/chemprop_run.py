"""A peer on the same splits: chemprop 2's default D-MPNN, trained with ``chemprop train``.

    python benchmarks/chemprop_run.py --dataset ogbg-molbbbp --root benchmarks/work/data \\
        --seed 0 --out benchmarks/work/peers/molbbbp/chemprop-s0 [--epochs 50] \\
        [--venv benchmarks/work/peers-venv]

chemprop is not a graphsep dependency: it lives in its own venv (``--venv``), created when
missing with ``python3 -m venv VENV && VENV/bin/pip install torch==2.13.0 chemprop`` (torch
pinned in the same command, else pip pulls a CUDA build). The molecules, labels and scaffold
split are graphsep's built dataset (``mapping/mol.csv.gz`` and ``split/scaffold``), written out
as one CSV with a ``split`` column (``--splits-column``), so chemprop trains, selects its epoch
(on validation loss, its default) and is tested on graphsep's rows. chemprop refuses a SMILES
RDKit will not sanitize (OGB's sets keep a few, featurized leniently): such molecules are left
out of its training and validation data, and in scoring get the training split's mean label
(a constant, so they rank as chance), counted in ``results.json`` (``unparsable``). Everything
else is chemprop's default (hidden size 300, depth 3, ``--epochs`` 50 unless given). The
valid and test predictions of the best checkpoint (``chemprop predict``) are scored by OGB's
``Evaluator``, the code that scores graphsep. Writes ``results.json`` once finished.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import peer_arguments, write_peer_results
from ogb.graphproppred import Evaluator
from rdkit import Chem, RDLogger

from graphsep.molecules.ogb_layout import dataset_folder

SPLITS = {"train": "train", "valid": "val", "test": "test"}
"""graphsep's split names and chemprop's."""


def ensure_chemprop(venv: Path) -> Path:
    """Return the venv's ``chemprop`` command, installing it first when missing.

    Raises:
        SystemExit: chemprop could not be installed; the message holds pip's last words.
    """
    chemprop = venv / "bin" / "chemprop"
    if not chemprop.exists():
        install = f"python3 -m venv {venv} && {venv}/bin/pip install -q torch==2.13.0 chemprop"
        done = subprocess.run(install, shell=True, capture_output=True, text=True)
        if done.returncode != 0 or not chemprop.exists():
            raise SystemExit(f"chemprop could not be installed: {done.stderr.strip()[-300:]}")
    return chemprop


def split_table(dataset: str, root: Path) -> tuple[pd.DataFrame, list[str]]:
    """The built dataset's SMILES, labels and a ``split`` column; the label column names."""
    folder = dataset_folder(dataset, root)
    table = pd.read_csv(folder / "mapping" / "mol.csv.gz")
    tasks = [c for c in table.columns if c not in ("smiles", "mol_id")]
    table["split"] = ""
    for ours, theirs in SPLITS.items():
        rows = pd.read_csv(folder / "split" / "scaffold" / f"{ours}.csv.gz", header=None)[0]
        table.loc[rows.to_numpy(), "split"] = theirs
    if (table.split == "").any():
        raise SystemExit(f"{folder}: {int((table.split == '').sum())} molecules in no split")
    RDLogger.DisableLog("rdApp.*")  # the refusals are counted, not printed
    table["parsable"] = [Chem.MolFromSmiles(s) is not None for s in table.smiles]
    return table, tasks


def run(command: list[str], log: Path) -> None:
    """Run a chemprop command, its output appended to ``log``; stop naming the log on failure."""
    with log.open("a") as file:
        if subprocess.run(command, stdout=file, stderr=file).returncode != 0:
            raise SystemExit(f"{command[0]} {command[1]} failed, see {log}")


def predict(chemprop: Path, model: Path, rows: pd.DataFrame, out: Path, name: str) -> np.ndarray:
    """chemprop's predictions for ``rows`` (``(rows, tasks)``), in the rows' order."""
    source, target = out / f"{name}.csv", out / f"{name}_predictions.csv"
    rows[["smiles"]].to_csv(source, index=False)
    run([str(chemprop), "predict", "-i", str(source), "-s", "smiles", "--model-paths",
         str(model), "-o", str(target), "--accelerator", "cpu", "--devices", "1",
         "-n", "0"], out / "chemprop.log")  # fmt: skip
    return pd.read_csv(target).drop(columns="smiles").to_numpy(dtype=np.float64)


def train(args: argparse.Namespace) -> dict:
    """Train with ``chemprop train`` on graphsep's split; score valid and test the OGB way."""
    chemprop = ensure_chemprop(args.venv)
    table, tasks = split_table(args.dataset, args.root)
    evaluator = Evaluator(args.dataset)
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "data.csv"
    table.loc[table.parsable, ["smiles", *tasks, "split"]].to_csv(data, index=False)
    fallback = table.loc[table.split == "train", tasks].mean().to_numpy()  # per task, NaN-aware
    task_type = "regression" if evaluator.eval_metric == "rmse" else "classification"
    start = time.perf_counter()
    run([str(chemprop), "train", "-i", str(data), "-s", "smiles", "--target-columns", *tasks,
         "--splits-column", "split", "-t", task_type, "--epochs", str(args.epochs),
         "--pytorch-seed", str(args.seed), "--data-seed", str(args.seed),
         "-o", str(args.out / "model"), "--accelerator", "cpu", "--devices", "1",
         "-n", "0"], args.out / "chemprop.log")  # fmt: skip
    (model,) = (args.out / "model").glob("**/best*.pt")
    scores = {}
    for part in ("valid", "test"):
        rows = table[table.split == SPLITS[part]]
        pred = np.tile(fallback, (len(rows), 1))
        pred[rows.parsable.to_numpy()] = predict(chemprop, model, rows[rows.parsable], args.out,
                                                 part)  # fmt: skip
        result = evaluator.eval({"y_true": rows[tasks].to_numpy(np.float64), "y_pred": pred})
        scores[part] = float(result[evaluator.eval_metric])
    unparsable = (~table.parsable).groupby(table.split).sum()
    version = subprocess.run([str(chemprop), "--version"], capture_output=True, text=True)
    return {
        "dataset": args.dataset, "model": "chemprop", "version": version.stdout.strip(),
        "metric": evaluator.eval_metric, **scores, "epochs_run": args.epochs,
        "seed": args.seed, "hours": (time.perf_counter() - start) / 3600,
        "unparsable": {part: int(unparsable.get(SPLITS[part], 0)) for part in SPLITS},
    }  # fmt: skip


def main() -> None:
    """Train and write ``results.json`` (only once the run has finished)."""
    parser = peer_arguments(__doc__.splitlines()[0], epochs=50)
    parser.add_argument("--venv", type=Path, default=Path("benchmarks/work/peers-venv"))
    args = parser.parse_args()
    write_peer_results(args.out, train(args))


if __name__ == "__main__":
    main()
