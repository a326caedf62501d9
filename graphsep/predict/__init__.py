"""Scoring SMILES with a finetuned checkpoint: predictions and [CLS] embeddings."""
