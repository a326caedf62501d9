"""The ``graphsep`` command line: one function per subcommand, errors as one line on stderr.

Examples::

    graphsep data list
    graphsep data build ogbg-molhiv --source ../shared/data/moleculenet --root data/
    graphsep data build my-assay --source assay.csv --root data/ --smiles-column smi
        --labels a,b --task classification --split random --seed 1 --skip-invalid
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from graphsep import __version__
from graphsep.data.build import build_dataset, ogb_master
from graphsep.data.recipes import SPLIT_RULES, TASK_TYPES, list_recipes
from graphsep.data.table import DataError

EXIT_DATA_ERROR = 2


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
        print(f"{recipe.name:18} {recipe.task_type:15} {tasks:>5} {recipe.metric:7} "
              f"{recipe.split:9} {sizes:22} {source}")
    return 0


def _add_data_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="build and list molecular datasets")
    sub = data.add_subparsers(dest="data_command", required=True)
    build = sub.add_parser("build", help="build a dataset in OGB's layout from a SMILES table")
    build.add_argument("name", help="OGB name with a recipe (ogbg-molhiv) or your own name")
    build.add_argument("--source", required=True,
                       help="the table (csv, csv.gz, tsv), or for a recipe its folder")
    build.add_argument("--root", required=True, help="folder to hold the dataset folder")
    build.add_argument("--smiles-column", help="SMILES column (default: recipe, else smiles)")
    build.add_argument("--labels", help="comma-separated label columns (default: recipe, "
                                        "else every other column)")
    build.add_argument("--task", choices=TASK_TYPES, help="required without a recipe")
    build.add_argument("--split", choices=SPLIT_RULES, default="scaffold")
    build.add_argument("--seed", type=int, default=0, help="seed of the random split")
    build.add_argument("--skip-invalid", action="store_true",
                       help="skip unparseable SMILES, listing them in skipped_rows.csv")
    build.set_defaults(func=cmd_data_build)
    listing = sub.add_parser("list", help="list the dataset recipes")
    listing.set_defaults(func=cmd_data_list)


def build_parser() -> argparse.ArgumentParser:
    """Make the ``graphsep`` argument parser; each command group adds its own subparsers.

    Returns:
        argparse.ArgumentParser: the parser.
    """
    parser = argparse.ArgumentParser(prog="graphsep", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"graphsep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``graphsep`` command line.

    Args:
        argv (Sequence[str] | None): arguments without the program name; None reads
            ``sys.argv``. (default: None)

    Returns:
        int: exit code: 0 on success, 2 on bad input (one line on stderr, no traceback).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="graphsep: %(message)s")
    try:
        return args.func(args)
    except DataError as err:
        print(f"graphsep: error: {err}", file=sys.stderr)
        return EXIT_DATA_ERROR


if __name__ == "__main__":
    sys.exit(main())
