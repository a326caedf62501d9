"""Masked-graph pretraining: hide atoms and bonds, reconstruct their features (Hu et al. 2020)."""
