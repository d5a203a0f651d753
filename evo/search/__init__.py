"""The search: the genetic algorithm and its operators, and what it is told: fitness
aggregation, selection, normalisation, lr variants and re-centring, the funnel and dedup.

Pure functions of numbers, genomes and a ``numpy.random.Generator`` where it can; the store
is read through :class:`storage.Store` only to collect a population's scores."""
