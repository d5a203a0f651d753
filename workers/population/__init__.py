"""The population path: P = genomes x seeds members trained at once on stacked parameters
(:mod:`~workers.population.loop`), their flat state and per-member scalars, and the stacked
models it runs (a fused grouped forward, and an MLP with its backward written out)."""
