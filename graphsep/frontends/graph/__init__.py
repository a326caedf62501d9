"""The graph front end: Graphormer's embedding of molecules (or any PyG graph) for the core."""
