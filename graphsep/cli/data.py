r"""``graphsep data``: build a dataset folder in OGB's layout from a SMILES table, list recipes.

Examples::

    graphsep data list
    graphsep data build ogbg-molhiv --source ../shared/data/moleculenet --root data/
    graphsep data build my-assay --source assay.csv --root data/ --smiles-column smi \
        --labels a,b --task classification --split random --seed 1 --skip-invalid
"""

from __future__ import annotations

import argparse
import logging

from graphsep.molecules.build import build_dataset
from graphsep.molecules.build_spec import ogb_master
from graphsep.molecules.recipes import SPLIT_RULES, TASK_TYPES, list_recipes


def cmd_data_build(args: argparse.Namespace) -> int:
    """``graphsep data build``: build a dataset folder in OGB's layout.

    Args:
        args (argparse.Namespace): the parsed ``data build`` arguments.

    Returns:
        int: exit code 0.
    """
    # the build reports skipped rows and its progress through logging
    logging.basicConfig(level=logging.INFO, format="graphsep: %(message)s")
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


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``data build`` and ``data list`` to the ``graphsep`` parser.

    Args:
        commands (argparse._SubParsersAction): the top-level parser's subcommands.
    """
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
