"""The ``graphsep`` command line: train, data, predict, embed, analyze, plot; errors as one line.

Each subcommand is a module of :mod:`graphsep.cli` that adds its parser and its function::

    graphsep train --config configs/quickstart.yaml model.core.norm=share
    graphsep data build ogbg-molbbbp --source ../shared/data/moleculenet --root data/
    graphsep predict --checkpoint runs/quickstart/best --input in.csv --output out.csv
    graphsep embed --checkpoint runs/quickstart/best --input in.csv --output emb.parquet
    graphsep analyze --checkpoint runs/share/best runs/sep/best --out analysis/
    graphsep plot runs/share runs/sep --out curves.png

``graphsep COMMAND --help`` describes each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from graphsep import __version__
from graphsep.cli import analyze, data, embed, plot, predict, train
from graphsep.errors import DEBUG_VARIABLE, report_errors


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Make the ``graphsep`` argument parser; each command's module adds its own.

    Returns:
        tuple[argparse.ArgumentParser, argparse.ArgumentParser]: the parser, and its ``train``
        parser (see :func:`parse_arguments`).
    """
    parser = argparse.ArgumentParser(prog="graphsep", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"graphsep {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an error instead of one line (also {DEBUG_VARIABLE}=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = train.add_command(commands)
    for command in (data, predict, embed, analyze, plot):
        command.add_command(commands)
    return parser, train_parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a ``graphsep`` command line.

    Args:
        argv (Sequence[str] | None, optional): arguments without the program name; None
            reads ``sys.argv``. (default: None)

    Returns:
        argparse.Namespace: the arguments; ``func`` is the command to run.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, train_parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command == "train":
        # argparse fills a subcommand's positionals from one run of words, but train.py takes
        # options among the overrides (a=1 --resume b=2): read train's words as train.py does.
        # Only flags precede the command, so its first mention is the command.
        top = argparse.Namespace(command="train", debug=args.debug)
        return train_parser.parse_intermixed_args(argv[argv.index("train") + 1 :], top)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``graphsep`` command line.

    Args:
        argv (Sequence[str] | None): arguments without the program name; None reads
            ``sys.argv``. (default: None)

    Returns:
        int: exit code: 0 on success, 2 on bad input (one line on stderr; a traceback only
        with ``--debug`` or ``GRAPHSEP_DEBUG=1``).
    """
    args = parse_arguments(argv)
    return report_errors(lambda: args.func(args), "graphsep", args.debug)


if __name__ == "__main__":
    sys.exit(main())
