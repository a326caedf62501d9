"""The ``graphsep`` command line: one function per subcommand, errors as one line on stderr.

Examples::

    graphsep data list
    graphsep data build ogbg-molhiv --source ../shared/data/moleculenet --root data/
    graphsep data build my-assay --source assay.csv --root data/ --smiles-column smi
        --labels a,b --task classification --split random --seed 1 --skip-invalid
    graphsep predict --checkpoint runs/quickstart/best --input in.csv --output out.csv
    graphsep predict --checkpoint runs/quickstart/best --smiles CCO c1ccccc1O
    graphsep predict --checkpoint runs/quickstart/best --smiles CCO --smiles 'C(C)(C)(C)(C)C'
        --allow-unsanitized
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import pandas as pd

from graphsep import __version__
from graphsep.errors import DEBUG_VARIABLE, EXIT_BAD_INPUT, report_errors
from graphsep.files import WriteError
from graphsep.molecules.build import build_dataset
from graphsep.molecules.build_spec import ogb_master
from graphsep.molecules.recipes import SPLIT_RULES, TASK_TYPES, list_recipes
from graphsep.predict.predictor import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_ATOMS,
    Predictor,
    predict_table,
    write_predictions,
)


def cmd_data_build(args: argparse.Namespace) -> int:
    """``graphsep data build``: build a dataset folder in OGB's layout.

    Args:
        args (argparse.Namespace): the parsed ``data build`` arguments.

    Returns:
        int: exit code 0.
    """
    labels = [c.strip() for c in args.labels.split(",")] if args.labels else None
    folder = build_dataset(
        args.name,
        args.source,
        args.root,
        smiles_column=args.smiles_column,
        label_columns=labels,
        task_type=args.task,
        split=args.split,
        seed=args.seed,
        skip_invalid=args.skip_invalid,
    )
    print(folder)
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    """``graphsep data list``: the known recipes, one line each.

    Args:
        args (argparse.Namespace): the parsed ``data list`` arguments (none).

    Returns:
        int: exit code 0.
    """
    print(f"{'name':18} {'task':15} {'tasks':>5} {'metric':7} {'split':9} {'sizes':22} source")
    for recipe in list_recipes():
        tasks = ogb_master()[recipe.name]["num tasks"]
        sizes = "/".join(map(str, recipe.split_sizes)) if recipe.split_sizes else "-"
        source = recipe.source or "(download only)"
        print(
            f"{recipe.name:18} {recipe.task_type:15} {tasks:>5} {recipe.metric:7} "
            f"{recipe.split:9} {sizes:22} {source}"
        )
    return 0


def _add_data_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="build and list molecular datasets")
    sub = data.add_subparsers(dest="data_command", required=True)
    build = sub.add_parser("build", help="build a dataset in OGB's layout from a SMILES table")
    build.add_argument("name", help="OGB name with a recipe (ogbg-molhiv) or your own name")
    build.add_argument(
        "--source", required=True, help="the table (csv, csv.gz, tsv), or for a recipe its folder"
    )
    build.add_argument("--root", required=True, help="folder to hold the dataset folder")
    build.add_argument("--smiles-column", help="SMILES column (default: recipe, else smiles)")
    build.add_argument(
        "--labels", help="comma-separated label columns (default: recipe, else every other column)"
    )
    build.add_argument("--task", choices=TASK_TYPES, help="required without a recipe")
    build.add_argument("--split", choices=SPLIT_RULES, default="scaffold")
    build.add_argument("--seed", type=int, default=0, help="seed of the random split")
    build.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip SMILES that give no graph (unparseable, not SMILES, a wildcard atom), listing "
        "them in skipped_rows.csv",
    )
    build.set_defaults(func=cmd_data_build)
    listing = sub.add_parser("list", help="list the dataset recipes")
    listing.set_defaults(func=cmd_data_list)


def cmd_predict(args: argparse.Namespace) -> int:
    """``graphsep predict``: score SMILES with a trained checkpoint, every row kept.

    Args:
        args (argparse.Namespace): the parsed ``predict`` arguments.

    Returns:
        int: exit code 0 when at least one molecule was scored, else 2.
    """
    predictor = Predictor.from_checkpoint(
        args.checkpoint, args.device, args.max_atoms, args.batch_size,
        allow_unsanitized=args.allow_unsanitized,
    )  # fmt: skip
    try:
        if args.smiles:
            frames = [pd.DataFrame({"smiles": args.smiles})]
            summary = write_predictions(predictor, frames, args.output, "smiles", _smiles_argument)
        else:
            summary = predict_table(
                predictor, args.input, args.output, args.smiles_column, args.chunk_size
            )
    except BrokenPipeError:  # the reader of stdout (e.g. head) has had enough: not an error
        _silence_stdout()
        return 0
    except WriteError:
        if args.output == "-":  # stdout cannot take more (a full device): don't retry at exit
            _silence_stdout()
        raise
    for line in summary.first_failures:
        print(f"graphsep: {line}", file=sys.stderr)
    warned = f" ({summary.warned:,} with a warning)" if summary.warned else ""
    print(
        f"graphsep: {summary.predicted:,} predicted{warned}, {summary.failed:,} failed",
        file=sys.stderr,
    )
    if not summary.predicted:
        print("graphsep: error: no molecule could be scored", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _smiles_argument(index: int) -> str:
    """Name a ``--smiles`` value in failure lines: ``--smiles #2`` for the second."""
    return f"--smiles #{index + 1}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit does not fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_predict_command(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict", help="score SMILES with a trained checkpoint",
        description="Score SMILES with a trained checkpoint. The output keeps every input row, "
        "in order, with its columns, and adds one column per task, 'error' (empty when the "
        "row was scored) and 'warning' (empty unless --allow-unsanitized scored a molecule RDKit "
        "will not sanitize). A summary goes to stderr; exit 0 when at least one row was scored.",
    )  # fmt: skip
    predict.add_argument(
        "--checkpoint",
        required=True,
        help="checkpoint folder, as train.py writes it to <out_dir>/best",
    )
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="csv/tsv table (optionally .gz), or - for stdin")
    source.add_argument(
        "--smiles", nargs="+", action="extend", metavar="S",
        help="SMILES to score; repeatable, errors name them --smiles #1, #2, ...",
    )  # fmt: skip
    predict.add_argument(
        "--output",
        default="-",
        help="csv/tsv to write (replaced only when complete), - for stdout (default: -)",
    )
    predict.add_argument(
        "--smiles-column", default="smiles", help="SMILES column of --input (default: smiles)"
    )
    predict.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f"molecules per forward pass (default: {DEFAULT_BATCH_SIZE})",
    )
    predict.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"rows read at a time; memory follows it, not the table "
        f"(default: {DEFAULT_CHUNK_SIZE})",
    )
    predict.add_argument(
        "--max-atoms",
        type=_positive_int,
        default=DEFAULT_MAX_ATOMS,
        help=f"larger molecules get an error (default: {DEFAULT_MAX_ATOMS})",
    )
    predict.add_argument(
        "--allow-unsanitized",
        action="store_true",
        help="score molecules RDKit will not sanitize (e.g. a pentavalent carbon), featurized "
        "leniently as for OGB's datasets, with RDKit's reason in 'warning' (default: such a row "
        "gets RDKit's reason as its error)",
    )
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    predict.set_defaults(func=cmd_predict)


def build_parser() -> argparse.ArgumentParser:
    """Make the ``graphsep`` argument parser; each command group adds its own subparsers.

    Returns:
        argparse.ArgumentParser: the parser.
    """
    parser = argparse.ArgumentParser(prog="graphsep", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"graphsep {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an error instead of one line (also {DEBUG_VARIABLE}=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(commands)
    _add_predict_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``graphsep`` command line.

    Args:
        argv (Sequence[str] | None): arguments without the program name; None reads
            ``sys.argv``. (default: None)

    Returns:
        int: exit code: 0 on success, 2 on bad input (one line on stderr; a traceback only
        with ``--debug`` or ``GRAPHSEP_DEBUG=1``).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="graphsep: %(message)s")
    return report_errors(lambda: args.func(args), "graphsep", args.debug)


if __name__ == "__main__":
    sys.exit(main())
