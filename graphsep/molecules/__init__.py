"""Molecules: SMILES featurization, tables, dataset recipes and builds in OGB's layout, corpora."""
