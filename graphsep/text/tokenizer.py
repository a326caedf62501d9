"""A WordPiece tokenizer from HuggingFace ``tokenizers``, trained once per corpus and cached.

BERT's recipe: lower-cased, accents kept, split on whitespace and punctuation, WordPiece with
``##`` continuations, special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` at ids 0 to 4, and
``[CLS] text [SEP]`` around every encoded text, so [CLS] is always at position 0.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from graphsep.errors import GraphsepError
from graphsep.files import cached_text

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))


class TokenizerError(GraphsepError, ValueError):
    """A tokenizer file that is missing, unreadable or does not fit graphsep's text models."""


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Train a WordPiece tokenizer on ``texts`` with ``vocab_size`` entries (specials included)."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)]
    )
    return tokenizer


def tokenizer_from_json(text: str, where: str) -> Tokenizer:
    """Rebuild a tokenizer saved with ``to_str()``; check its special tokens' ids.

    Raises:
        TokenizerError: not a tokenizer, or special tokens at other ids; ``where`` is named.
    """
    try:
        tokenizer = Tokenizer.from_str(text)
    except Exception as err:  # tokenizers raises its own Exception type for a bad file
        raise TokenizerError(f"{where}: not a readable tokenizer.json ({err})") from err
    ids = [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    if ids != list(range(len(SPECIAL_TOKENS))):
        found = dict(zip(SPECIAL_TOKENS, ids, strict=True))
        raise TokenizerError(
            f"{where}: special tokens {list(SPECIAL_TOKENS)} must have ids 0-4, found {found}"
        )
    return tokenizer


def cached_tokenizer(
    texts: list[str], vocab_size: int, cache_dir: str | Path
) -> tuple[Tokenizer, Path]:
    """Return the tokenizer trained on ``texts``, training and caching it on first use.

    The cache file is named by a hash of the texts and the vocabulary size, so another corpus
    or size trains anew, and every run on this one reads the same ids.

    Args:
        texts (list[str]): the training texts.
        vocab_size (int): vocabulary size, special tokens included.
        cache_dir (str | Path): where ``tokenizer-<hash>.json`` files are kept.

    Returns:
        tuple[Tokenizer, Path]: the tokenizer and its cache file.
    """
    digest = hashlib.sha256(json.dumps([vocab_size, SPECIAL_TOKENS]).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogateescape") + b"\0")
    path = Path(cache_dir) / f"tokenizer-{digest.hexdigest()[:16]}.json"
    # WordPiece training is not deterministic (ties between equally frequent merges fall
    # differently from run to run): every run must read the one file trained first
    text = cached_text(path, lambda: train_tokenizer(texts, vocab_size).to_str())
    return tokenizer_from_json(text, str(path)), path
