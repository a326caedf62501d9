"""The image front end: ViT patches with [CLS] for the core, MAE's visible-patch selection."""
