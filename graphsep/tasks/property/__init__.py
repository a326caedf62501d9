"""Property prediction: a head on [CLS] trained on a dataset's labels, scored by OGB."""
