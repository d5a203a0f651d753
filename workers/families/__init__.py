"""More task families, each in its own module with its model, data, metric and
divergence bound: :mod:`~workers.families.text` (character GRU), :mod:`~.sequence`
(sorting transformer), :mod:`~.tabular` (diabetes regression, written with the public task
protocol and registered as protocol tasks), :mod:`~.autoencoder`
(convolutional autoencoder on digits), :mod:`~.convex` (rotated ill-conditioned logistic
regression). :func:`family_specs` lists the registered variants; the factories take the
parameters documented in each module, so a variant is one more line here.
"""

from __future__ import annotations

from workers.families.autoencoder import digits_autoencoder
from workers.families.common import FamilySpec, family_runtime
from workers.families.convex import logreg_illcond
from workers.families.sequence import sort_transformer
from workers.families.text import char_gru

__all__ = ["FamilySpec", "family_runtime", "family_specs"]


def family_specs() -> list[FamilySpec]:
    """The registered family tasks (default sizes, plus a few cheap variants)."""
    return [
        char_gru(),
        sort_transformer(),
        sort_transformer("sort_transformer_long", length=12),
        digits_autoencoder(),
        logreg_illcond(),
        logreg_illcond("logreg_illcond_1e4", condition=1e4),
    ]
