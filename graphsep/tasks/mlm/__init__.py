"""Masked-language-model pretraining of the text encoder (BERT's recipe)."""
