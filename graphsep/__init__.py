"""graphsep: graph transformers with separate normalization of the [CLS] token (SepNorm)."""

__version__ = "0.1.0"

# OGB's processed file pickles three PyG classes that torch >= 2.6 refuses under its default
# torch.load(weights_only=True) (snap-stanford/ogb#497). Allowing exactly these on import lets
# OGB's own PygGraphPropPredDataset (and OGB's examples) read a folder graphsep built.
try:  # the core will import without torch_geometric: the graph front end is optional
    from torch.serialization import add_safe_globals
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage
except ImportError:
    pass
else:
    add_safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])
    del add_safe_globals, DataEdgeAttr, DataTensorAttr, GlobalStorage
