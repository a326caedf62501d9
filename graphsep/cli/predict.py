r"""``graphsep predict``: score SMILES with a trained checkpoint, every input row kept, in order.

Examples::

    graphsep predict --checkpoint runs/quickstart/best --input in.csv --output out.csv
    graphsep predict --checkpoint runs/quickstart/best --smiles CCO c1ccccc1O
    graphsep predict --checkpoint runs/quickstart/best --smiles CCO --smiles 'C(C)(C)(C)(C)C' \
        --allow-unsanitized
"""

from __future__ import annotations

import argparse
import os
import sys

from graphsep.cli.images import predict_images
from graphsep.cli.scoring import (
    SMILES_COLUMN,
    add_run_options,
    add_source_options,
    load_predictor,
    report,
    smiles_argument,
    smiles_table,
)
from graphsep.cli.texts import predict_texts
from graphsep.files import WriteError
from graphsep.predict.tables import predict_table, write_predictions


def cmd_predict(args: argparse.Namespace) -> int:
    """``graphsep predict``: score SMILES with a trained checkpoint, every row kept.

    Args:
        args (argparse.Namespace): the parsed ``predict`` arguments.

    Returns:
        int: exit code 0 when at least one molecule was scored, else 2.
    """
    if args.images:
        return predict_images(args)
    if args.texts:
        return predict_texts(args)
    predictor = load_predictor(args)
    try:
        if args.smiles:
            summary = write_predictions(
                predictor, smiles_table(args.smiles), args.output, SMILES_COLUMN, smiles_argument
            )
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
    return report(summary, "predicted", "no molecule could be scored")


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit does not fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``predict`` to the ``graphsep`` parser.

    Args:
        commands (argparse._SubParsersAction): the top-level parser's subcommands.
    """
    predict = commands.add_parser(
        "predict", help="score SMILES with a trained checkpoint",
        description="Score SMILES with a trained checkpoint. The output keeps every input row, "
        "in order, with its columns, and adds one column per task, 'error' (empty when the "
        "row was scored) and 'warning' (empty unless --allow-unsanitized scored a molecule RDKit "
        "will not sanitize). A summary goes to stderr; exit 0 when at least one row was scored.",
    )  # fmt: skip
    add_source_options(predict, "score")
    predict.add_argument(
        "--output",
        default="-",
        help="csv/tsv to write (replaced only when complete), - for stdout (default: -)",
    )
    add_run_options(predict)
    predict.set_defaults(func=cmd_predict)
