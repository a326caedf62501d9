"""``graphsep plot``: learning curves of runs, overlaid in one PNG.

Examples::

    graphsep plot runs/share runs/sep --out curves.png
    graphsep plot benchmarks/work/sepnorm/quick/fmnist/finetune/*-s0 --out fmnist.png

See :mod:`graphsep.analysis.curves` for what is drawn.
"""

from __future__ import annotations

import argparse
import sys

from graphsep.analysis.curves import plot_curves, read_run, run_labels


def cmd_plot(args: argparse.Namespace) -> int:
    """``graphsep plot``: read every run's ``metrics.jsonl``, draw them, name what was drawn."""
    runs = dict(zip(run_labels(args.runs), map(read_run, args.runs), strict=True))
    columns = plot_curves(runs, args.out)
    print(f"wrote {args.out}: {', '.join(columns)} of {len(runs)} run(s)", file=sys.stderr)
    return 0


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``plot`` to the ``graphsep`` parser."""
    parser = commands.add_parser(
        "plot", help="draw learning curves of runs from their metrics.jsonl",
        description="Draw the learning curves of one or more runs, overlaid: one panel per "
        "quantity logged in metrics.jsonl (train loss, held-out loss, valid and test metric) "
        "against the epoch, each run labelled by the shortest tail of its path that tells it "
        "apart.",
    )  # fmt: skip
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="run folders (or their metrics.jsonl)")  # fmt: skip
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.set_defaults(func=cmd_plot)
