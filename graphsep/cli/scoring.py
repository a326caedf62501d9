"""What ``graphsep predict`` and ``graphsep embed`` share: options, model, SMILES, summary.

Both read SMILES from a table (``--input``) or the command line (``--smiles``), run them through
a :class:`~graphsep.predict.predictor.Predictor`, and end with the same report on stderr: the
first failed rows by name, then the counts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from graphsep.core.precision import PRECISIONS
from graphsep.errors import EXIT_BAD_INPUT
from graphsep.predict.predictor import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_ATOMS,
    Predictor,
)
from graphsep.predict.summary import Summary

SMILES_COLUMN = "smiles"
"""The column that ``--smiles`` values fill."""


def positive_int(text: str) -> int:
    """Parse an integer option that must be at least 1.

    Args:
        text (str): the option's value.

    Returns:
        int: the value.

    Raises:
        argparse.ArgumentTypeError: below 1.
    """
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_source_options(parser: argparse.ArgumentParser, verb: str) -> None:
    """Add ``--checkpoint`` and what to read: ``--input``, ``--smiles``, ``--texts``, ``--images``.

    Args:
        parser (argparse.ArgumentParser): the command's parser.
        verb (str): what the command does to a SMILES, for the help (``"score"``, ``"embed"``).
    """
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="checkpoint folder, as graphsep train writes it to <out_dir>/best",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="csv/tsv table (optionally .gz), or - for stdin")
    source.add_argument(
        "--smiles", nargs="+", action="extend", metavar="S",
        help=f"SMILES to {verb}; repeatable, errors name them --smiles #1, #2, ...",
    )  # fmt: skip
    source.add_argument(
        "--texts",
        help=f"a csv/tsv of texts to {verb} with a text checkpoint (column: --text-column)",
    )
    parser.add_argument(
        "--text-column", default="text", help="text column of --texts (default: text)"
    )
    source.add_argument(
        "--images",
        help=f"images to {verb} with an image checkpoint: an IDX file, .npy, .npz or a folder "
        "of PNG/JPEG files",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the SMILES column, batch and chunk sizes, atom limit, leniency, device, precision.

    Args:
        parser (argparse.ArgumentParser): the command's parser.
    """
    parser.add_argument(
        "--smiles-column", default=SMILES_COLUMN, help="SMILES column of --input (default: smiles)"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f"molecules per forward pass (default: {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--chunk-size",
        type=positive_int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"rows read at a time; memory follows it, not the table "
        f"(default: {DEFAULT_CHUNK_SIZE})",
    )
    parser.add_argument(
        "--max-atoms",
        type=positive_int,
        default=DEFAULT_MAX_ATOMS,
        help=f"larger molecules get an error (default: {DEFAULT_MAX_ATOMS})",
    )
    parser.add_argument(
        "--allow-unsanitized",
        action="store_true",
        help="accept molecules RDKit will not sanitize (e.g. a pentavalent carbon), featurized "
        "leniently as for OGB's datasets, with RDKit's reason in 'warning' (default: such a row "
        "gets RDKit's reason as its error)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    parser.add_argument(
        "--precision", choices=tuple(PRECISIONS), default="fp32",
        help="bf16 or fp16: autocast on the device, outputs float32 (default: fp32)",
    )  # fmt: skip


def load_predictor(args: argparse.Namespace) -> Predictor:
    """Load ``--checkpoint`` with the run options of :func:`add_run_options`.

    Args:
        args (argparse.Namespace): the parsed command line.

    Returns:
        Predictor: ready to score.
    """
    return Predictor.from_checkpoint(
        args.checkpoint, args.device, args.max_atoms, args.batch_size,
        allow_unsanitized=args.allow_unsanitized, precision=args.precision,
    )  # fmt: skip


def smiles_table(smiles: Sequence[str]) -> list[pd.DataFrame]:
    """Make the ``--smiles`` values a one-chunk table of one column, ``smiles``."""
    return [pd.DataFrame({SMILES_COLUMN: list(smiles)})]


def smiles_argument(index: int) -> str:
    """Name a ``--smiles`` value in failure lines: ``--smiles #2`` for the second."""
    return f"--smiles #{index + 1}"


def report(summary: Summary, done: str, nothing_done: str, listed: str = "") -> int:
    """Print the first failed rows and the counts on stderr; return the exit code.

    Args:
        summary (Summary): the run's counts.
        done (str): what happened to a scored row, e.g. ``"predicted"``.
        nothing_done (str): the error when no row was scored.
        listed (str, optional): where every failed row's reason is, said when some failed.
            (default: ``""``)

    Returns:
        int: 0 when at least one row was scored, else 2.
    """
    for line in summary.first_failures:
        print(f"graphsep: {line}", file=sys.stderr)
    warned = f" ({summary.warned:,} with a warning)" if summary.warned else ""
    where = f" (reasons in {listed})" if listed and summary.failed else ""
    print(
        f"graphsep: {summary.predicted:,} {done}{warned}, {summary.failed:,} failed{where}",
        file=sys.stderr,
    )
    if not summary.predicted:
        print(f"graphsep: error: {nothing_done}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
