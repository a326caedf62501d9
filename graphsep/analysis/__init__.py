"""What SepNorm does to [CLS]: the geometry of a checkpoint's [CLS] embeddings, and plots.

:mod:`~graphsep.analysis.geometry` measures a set of vectors (uniformity, singular-value
spectrum and effective rank, anisotropy), :mod:`~graphsep.analysis.split_embeddings` gets the
[CLS] vectors of a checkpoint's own data split (graph, image or text),
:mod:`~graphsep.analysis.plots` draws them; ``graphsep analyze`` (:mod:`graphsep.cli.analyze`)
puts the three together.
"""
