"""Molecular data: OGB-layout builder, structural encodings, dense batches."""
