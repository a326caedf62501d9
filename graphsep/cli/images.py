"""``graphsep predict --images`` and ``graphsep embed --images``: images with an image model."""

from __future__ import annotations

import argparse
import sys

from graphsep.images.sources import load_images
from graphsep.predict.embeddings import save_embeddings
from graphsep.predict.images import ImagePredictor
from graphsep.predict.tables import write_table


def _load(args: argparse.Namespace) -> tuple[ImagePredictor, object, list[str]]:
    predictor = ImagePredictor.from_checkpoint(
        args.checkpoint, args.device, args.batch_size, args.precision
    )
    images, names = load_images(args.images)
    return predictor, images, names


def predict_images(args: argparse.Namespace) -> int:
    """Write each image's predicted class and class probabilities; return exit code 0."""
    predictor, images, names = _load(args)
    write_table(predictor.predict(images, names, args.images), args.output)
    print(f"graphsep: {len(names):,} images predicted", file=sys.stderr)
    return 0


def embed_images(args: argparse.Namespace) -> int:
    """Write each image's [CLS] embedding to ``.npy`` or ``.parquet``; return exit code 0."""
    predictor, images, names = _load(args)
    save_embeddings(predictor.embed(images, args.images), names, args.output)
    print(f"graphsep: {len(names):,} images embedded", file=sys.stderr)
    return 0
