"""Tasks: the loss of a batch, its heads and its evaluation, one package each."""
