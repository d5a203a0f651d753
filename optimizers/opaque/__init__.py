"""The optimizers that are not genomes ("opaque" to the search): ALME, Azure Sky and Lion as
the paper's code wrote them, and their registry entries (:mod:`~optimizers.opaque.entries`)."""
