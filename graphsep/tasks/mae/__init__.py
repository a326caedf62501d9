"""Masked autoencoding of images (He et al. 2022): hide most patches, reconstruct their pixels."""
