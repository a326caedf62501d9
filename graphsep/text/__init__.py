"""Text: labelled tables of texts, their seeded split, and a WordPiece tokenizer trained on them."""
