"""Whether a job's GA fitness is the plain mean, decided from a config's dict form.

Below both :mod:`evo.search.selection` (the GA's fitness) and :mod:`evo.evidence.search_order`
(the GA's order of a finished run), and free of the training stack, so read commands can
decide it from a stored run's config.
"""

from __future__ import annotations

from collections.abc import Mapping

from evo.config.stored_view import stored_view


def plain_mean_fitness(config: Mapping) -> bool:
    """Whether a job's GA fitness is the seed's plain mean: one lr (``lr_multipliers: [1]``)
    and ``normalize: none``. Read from the config's dict form (a stored run's, or a
    ``JobConfig`` dumped), so read commands decide it without importing the training stack."""
    view = stored_view(config)
    return list(view.evaluation.lr_multipliers) == [1.0] and view.fitness.normalize == "none"
