"""The settings of the text front end (``model.text.*``), one object passed whole."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TextConfig:
    """The tokenizer's vocabulary and how much of each text the model reads."""

    vocab_size: int = 8000  # WordPiece entries, the five special tokens included
    max_length: int = 256  # tokens per text, [CLS] and [SEP] included; longer texts are cut
