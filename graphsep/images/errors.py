"""The error of image data that cannot be used."""

from __future__ import annotations

from graphsep.errors import GraphsepError


class ImageDataError(GraphsepError, ValueError):
    """An image file, array or folder that cannot be read or used; the message names it."""
