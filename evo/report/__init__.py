"""``evo report`` and ``evo landscape``: markdown and HTML from a run's stored rows, and the
pictures (fitness per generation, per-task comparison, landscapes, loss curves, formulas)."""
