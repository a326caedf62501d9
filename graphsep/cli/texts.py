"""``graphsep predict --texts`` and ``graphsep embed --texts``: a table of texts, a text model."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from graphsep.errors import EXIT_BAD_INPUT
from graphsep.molecules.table import file_row, require_columns, table_chunks
from graphsep.predict.embeddings import save_embeddings
from graphsep.predict.tables import write_table
from graphsep.predict.texts import TextPredictor

SHOWN_FAILURES = 5


def _load(args: argparse.Namespace) -> tuple[TextPredictor, pd.DataFrame, list[str]]:
    predictor = TextPredictor.from_checkpoint(
        args.checkpoint, args.device, precision=args.precision
    )
    table = pd.concat(list(table_chunks(args.texts)))
    require_columns(table.columns, [args.text_column], "text", args.texts)
    return predictor, table, table[args.text_column].fillna("").astype(str).tolist()


def _report(errors: list[str], source: str, done: str) -> int:
    """Name the first failed rows on stderr, then the counts; 2 when nothing was scored."""
    failed = [i for i, error in enumerate(errors) if error]
    for i in failed[:SHOWN_FAILURES]:
        print(f"graphsep: row {file_row(i)} of {source}: {errors[i]}", file=sys.stderr)
    scored = len(errors) - len(failed)
    print(f"graphsep: {scored:,} {done}, {len(failed):,} failed", file=sys.stderr)
    return 0 if scored else EXIT_BAD_INPUT


def predict_texts(args: argparse.Namespace) -> int:
    """Write every row with its predicted label, class probabilities and error."""
    predictor, table, texts = _load(args)
    scores = predictor.predict(texts)
    write_table(pd.concat([table.reset_index(drop=True), scores], axis=1), args.output)
    return _report(scores["error"].tolist(), args.texts, "predicted")


def embed_texts(args: argparse.Namespace) -> int:
    """Write every row's [CLS] embedding (NaN for an empty text) to ``.npy`` or ``.parquet``."""
    predictor, _, texts = _load(args)
    vectors, errors = predictor.embed(texts)
    save_embeddings(vectors, [f"row {file_row(i)}" for i in range(len(texts))], args.output)
    return _report(errors, args.texts, "embedded")
