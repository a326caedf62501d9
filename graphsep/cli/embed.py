"""``graphsep embed``: the [CLS] vectors of SMILES to a ``.npy`` array or a ``.parquet`` table.

One output row per input row, in order; a row that cannot be embedded is all NaN, named on stderr
(the first few, as ``graphsep predict`` names them) and, with its reason, in the output: the
``error`` column of a ``.parquet`` file, or ``<stem>.errors.csv`` beside a ``.npy`` file (written
only when some row failed). See :mod:`graphsep.predict.embeddings` for the layouts.

Examples::

    graphsep embed --checkpoint runs/quickstart/best --input in.csv --output emb.npy
    graphsep embed --checkpoint runs/quickstart/best --input in.csv --output emb.parquet
    graphsep embed --checkpoint runs/quickstart/best --smiles CCO c1ccccc1O --output emb.npy
"""

from __future__ import annotations

import argparse
from pathlib import Path

from graphsep.cli.images import embed_images
from graphsep.cli.scoring import (
    SMILES_COLUMN,
    add_run_options,
    add_source_options,
    load_predictor,
    report,
    smiles_argument,
    smiles_table,
)
from graphsep.cli.texts import embed_texts
from graphsep.predict.embeddings import (
    check_embedding_output,
    embed_table,
    errors_file,
    write_embeddings,
)


def cmd_embed(args: argparse.Namespace) -> int:
    """``graphsep embed``: write the [CLS] embedding of each SMILES, failed rows named.

    Args:
        args (argparse.Namespace): the parsed ``embed`` arguments.

    Returns:
        int: exit code 0 when at least one molecule was embedded, else 2.
    """
    check_embedding_output(args.output)  # before the model loads
    if args.images:
        return embed_images(args)
    if args.texts:
        return embed_texts(args)
    predictor = load_predictor(args)
    if args.smiles:
        summary = write_embeddings(
            predictor, smiles_table(args.smiles), args.output, SMILES_COLUMN, smiles_argument
        )
    else:
        summary = embed_table(
            predictor, args.input, args.output, args.smiles_column, args.chunk_size
        )
    npy = Path(args.output).suffix.lower() == ".npy"
    listed = str(errors_file(args.output)) if npy else args.output
    return report(summary, "embedded", "no molecule could be embedded", listed)


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``embed`` to the ``graphsep`` parser.

    Args:
        commands (argparse._SubParsersAction): the top-level parser's subcommands.
    """
    embed = commands.add_parser(
        "embed", help="write the [CLS] embeddings of SMILES to .npy or .parquet",
        description="Write the [CLS] embedding of each SMILES of a table (or of --smiles) with "
        "a trained checkpoint: one row per input row, in order, all NaN where the molecule "
        "could not be embedded. A .npy output is a (rows, D) float32 array; failed rows are "
        "listed beside it in <stem>.errors.csv (index, row, error), written only when some row "
        "failed. A .parquet output holds the input's columns, cls_0 ... cls_{D-1} (float32), "
        "'error' and 'warning'. A summary goes to stderr; exit 0 when at least one row was "
        "embedded.",
    )  # fmt: skip
    add_source_options(embed, "embed")
    embed.add_argument(
        "--output",
        required=True,
        help="a .npy or .parquet file (replaced only when complete)",
    )
    add_run_options(embed)
    embed.set_defaults(func=cmd_embed)
