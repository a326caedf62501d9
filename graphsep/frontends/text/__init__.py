"""The text front end: WordPiece token and position embeddings with [CLS] first, for the core."""
