"""Classification from the [CLS] vector: finetuning the whole encoder, or a linear probe."""
