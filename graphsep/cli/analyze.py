"""``graphsep analyze``: how a checkpoint's [CLS] embeddings are spread, measured and drawn.

Examples::

    graphsep analyze --checkpoint runs/fmnist_mae/best --out analysis/fmnist_mae
    graphsep analyze --checkpoint runs/share/best runs/sep/best --out analysis/sep_vs_share
    graphsep analyze --checkpoint runs/pretrain_zinc/best --data data/ogbg_molhiv --out a/

See :mod:`graphsep.analysis.report` for what the folder holds.
"""

from __future__ import annotations

import argparse
import sys

from graphsep.analysis.report import analyze
from graphsep.analysis.split_embeddings import SPLITS


def cmd_analyze(args: argparse.Namespace) -> int:
    """``graphsep analyze``: write ``analysis.json`` and the plots; print one line each."""
    report = analyze(args.checkpoint, args.out, args.split, args.data)
    for entry in report["checkpoints"]:
        print(
            f"{entry['name']}: {entry['rows']} x {entry['dim']}, uniformity "
            f"{entry['uniformity']:.3f}, effective rank {entry['effective_rank']:.1f}, "
            f"anisotropy {entry['anisotropy']:.3f}",
            file=sys.stderr,
        )
    print(f"wrote {args.out}/analysis.json, spectrum.png, projection-*.png", file=sys.stderr)
    return 0


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``analyze`` to the ``graphsep`` parser."""
    parser = commands.add_parser(
        "analyze", help="measure and plot the [CLS] embeddings of checkpoints",
        description="Embed a split of each checkpoint's own data (graph property, image or "
        "text checkpoints of any task; graph pretraining ones with --data) or of the data "
        "given, and write DIR/analysis.json "
        "(uniformity: Wang & Isola 2020, t=2, lower is more uniform; effective rank: Roy & "
        "Vetterli 2007; anisotropy: mean cosine similarity of distinct pairs), spectrum.png "
        "(singular-value spectra overlaid: pass the SepNorm and ShareNorm checkpoints together) "
        "and projection-<i>.png (the two leading principal components, coloured by label).",
    )  # fmt: skip
    parser.add_argument("--checkpoint", nargs="+", required=True, help="checkpoint folders")
    parser.add_argument("--out", required=True, help="folder for analysis.json and the plots")
    parser.add_argument("--split", choices=SPLITS, default="test", help="(default: test)")
    parser.add_argument(
        "--data", help="other data, read as each checkpoint's recipe reads its own: molecules "
        "a dataset folder (ROOT/NAME of `graphsep data build`), split by --split; text a "
        "labelled table, split as the recipe splits; images a labelled .npz or class folder, "
        "embedded whole",
    )  # fmt: skip
    parser.set_defaults(func=cmd_analyze)
