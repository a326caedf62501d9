"""The ``graphsep`` command line: ``train``, ``data``, ``predict`` and ``embed``."""
