"""Front ends: each maps one domain's batch to the core's input (:mod:`graphsep.core.contract`)."""
