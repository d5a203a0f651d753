"""ALME's hyperparameters: their checks, their defaults, and the settings for analytic landscapes.

:func:`alme_defaults` is what :class:`optimizers.opaque.alme.ALME` hands to ``torch.optim.Optimizer``
as ``defaults``: every argument checked (a ``ValueError`` naming the bad one), the scale
distribution with float keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optimizers._common import check, is_int

DEFAULT_SCALES: dict[float, int] = {0.5: 2, 1.0: 3, 2.0: 3, 4.0: 1, 8.0: 1}
"""The seed's ``scale_distribution``: 10 candidates at 0.5x to 8x Adam's step sizes."""

LANDSCAPE_SETTINGS: dict[str, Any] = {
    "scale_distribution": {8.0: 2, 16.0: 3, 32.0: 3, 64.0: 1, 128.0: 1},
    "n_eval_steps": 20,
}
"""ALME settings for analytic landscapes (Rastrigin, Ackley, ...) at lr 1e-2 (ours, not the seed's).

There gradients are O(1-10), so Adam's step size lr/sqrt(v) is ~1e-3 and the seed's scales
give kicks of ~1% of |w|, far inside one basin: escapes fire but land where they started.
Scales 16x the seed's give basin-sized kicks, and 20 refinement steps let each candidate
settle into its basin before it is scored, so candidates are compared by their basins' floors.
"""


def alme_defaults(
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    grad_norm_window: int,
    grad_norm_threshold: float,
    loss_window: int,
    loss_threshold: float,
    stagnation_patience: int,
    use_loss_plateau: bool,
    population_size: int,
    scale_distribution: Mapping[float | str, int] | None,
    n_eval_steps: int,
    eval_batch_size_factor: float,
    eval_on: str,
    track_best: bool,
    perturbation_floor: float,
    max_step_scale: float,
) -> dict[str, Any]:
    """The checked hyperparameters as ``defaults`` (see :class:`optimizers.opaque.alme.ALME` for each).

    Raises:
        ValueError: an argument outside its range; the message names it.
    """
    scales = _parse_scales(scale_distribution if scale_distribution is not None else DEFAULT_SCALES)
    check(lr >= 0.0, "lr", lr, "must be >= 0")
    check(len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas), "betas", betas, "each in [0, 1)")
    check(eps >= 0.0, "eps", eps, "must be >= 0")
    check(weight_decay >= 0.0, "weight_decay", weight_decay, "must be >= 0")
    for name, value in (("grad_norm_window", grad_norm_window), ("loss_window", loss_window)):
        check(is_int(value) and value >= 2, name, value, "must be an integer >= 2")
    for name, value in (("grad_norm_threshold", grad_norm_threshold), ("loss_threshold", loss_threshold)):
        check(value >= 0.0, name, value, "must be >= 0")
    check(is_int(stagnation_patience) and stagnation_patience >= 1, "stagnation_patience",
           stagnation_patience, "must be an integer >= 1")
    check(is_int(population_size) and population_size >= 1, "population_size", population_size,
           "must be an integer >= 1")
    check(sum(scales.values()) == population_size, "population_size", population_size,
           f"must equal the sum of the scale_distribution counts ({sum(scales.values())})")
    check(is_int(n_eval_steps) and n_eval_steps >= 0, "n_eval_steps", n_eval_steps,
           "must be an integer >= 0")
    check(0.0 < eval_batch_size_factor <= 1.0, "eval_batch_size_factor", eval_batch_size_factor,
           "must lie in (0, 1]")
    check(eval_on in ("train", "val"), "eval_on", eval_on, "must be 'train' or 'val'")
    check(perturbation_floor >= 0.0, "perturbation_floor", perturbation_floor, "must be >= 0")
    check(max_step_scale > 0.0, "max_step_scale", max_step_scale, "must be > 0")
    defaults = {
        "lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
        "grad_norm_window": grad_norm_window, "grad_norm_threshold": grad_norm_threshold,
        "loss_window": loss_window, "loss_threshold": loss_threshold,
        "stagnation_patience": stagnation_patience, "use_loss_plateau": use_loss_plateau,
        "population_size": population_size, "scale_distribution": scales, "n_eval_steps": n_eval_steps,
        "eval_batch_size_factor": eval_batch_size_factor, "eval_on": eval_on, "track_best": track_best,
        "perturbation_floor": perturbation_floor, "max_step_scale": max_step_scale,
    }
    return defaults


def _parse_scales(distribution: Mapping[float | str, int]) -> dict[float, int]:
    """``{scale: count}`` with float keys; JSON string keys ("0.5") are converted."""
    scales: dict[float, int] = {}
    for key, count in distribution.items():
        try:
            scale = float(key)
        except (TypeError, ValueError):
            raise ValueError(f"Invalid scale_distribution: key {key!r} is not a number") from None
        check(math.isfinite(scale) and scale > 0.0, "scale_distribution", dict(distribution),
               f"scale {key!r} must be a finite number > 0")
        check(is_int(count) and count >= 0, "scale_distribution", dict(distribution),
               f"count of scale {key!r} must be an integer >= 0")
        scales[scale] = scales.get(scale, 0) + int(count)
    return scales
