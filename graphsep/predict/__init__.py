"""Scoring SMILES with a finetuned checkpoint: predictions and [CLS] embeddings.

- :mod:`~graphsep.predict.predictor`: the :class:`Predictor`, SMILES to scores or embeddings,
  each row with its error or warning.
- :mod:`~graphsep.predict.scored`: a chunk's outcome and the columns it adds to a table.
- :mod:`~graphsep.predict.summary`: counts of a run and the names of its failed rows.
- :mod:`~graphsep.predict.tables`: read a table in chunks, write its predictions in order.
- :mod:`~graphsep.predict.embeddings`: write its embeddings to ``.npy`` or ``.parquet``.
"""
