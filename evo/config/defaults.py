"""Defaults of the config fields that a stored run is read by, in one place.

The schema (:mod:`evo.config.schema`) and the typed view of a stored config
(:mod:`evo.config.stored_view`) both take their defaults from here, so a read command that
meets a stored config without a field reads the very value a new run would get.
Importing this module costs nothing (no torch, no registries).
"""

from __future__ import annotations

DEFAULT_STEPS = 500
"""``evaluation.steps``: optimizer steps per training run (the paper's code: 500)."""
DEFAULT_LR_MULTIPLIERS: tuple[float, ...] = (1.0,)
"""``evaluation.lr_multipliers``: each genome at its own lr only."""
DEFAULT_LR_AGGREGATE = "best"
"""``evaluation.lr_aggregate``: a task's score over the lr multipliers is the best one's."""
DEFAULT_GENERATIONS = 50
"""``population.generations`` (the paper's code: 50)."""
DEFAULT_INIT = "seeded"
"""``population.init``: generation 0 holds the paper's four baselines plus random genomes."""
DEFAULT_NORMALIZE = "none"
"""``fitness.normalize``: the GA's fitness is the plain mean of the task scores."""
DEFAULT_POPULATION = 50
"""Individuals per generation (the paper's code: 50)."""
