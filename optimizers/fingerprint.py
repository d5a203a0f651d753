"""Functional fingerprint of a genome: hash of what its rule does to fixed gradient sequences.

:meth:`Genome.canonical` catches equivalences it can prove symbolically; many more genomes
compute (numerically) the same update: a term whose weight is negligible next to another,
eps far below every gradient, a flag that cannot matter for the other genes. The
fingerprint runs the genome's rule (:func:`optimizers.rule.rule_step`, float64) for
:data:`STEPS` steps on fixed pseudo-random sequences and hashes the rounded trajectory:

* parameters p_0 ~ N(0, 1) of shapes :data:`SHAPES`; per sequence a gradient scale c in
  :data:`SCALES` and gradients g_k = c (mu + z_k), z_k ~ N(0, 1), mu ~ N(0, 1) a fixed
  per-element drift (so that momentum, sign and normalisation terms differ), from
  ``numpy.random.default_rng(SEED)``;
* one more sequence with zero gradients isolates the weight decay;
* the schedule runs as in a training of :data:`TOTAL_STEPS` steps (warmup and cosine count);
* recorded: the displacement d_k = p_k - p_0 after every step, each value rounded to
  :data:`DIGITS` significant digits (-0 -> 0; non-finite values as text).

The extended terms (LION, NADAM) run through the same :func:`~optimizers.rule.rule_step`; the
seed terms' fingerprints did not move when they were added (pinned in the tests).

Equal fingerprints mean the displacements agree to :data:`DIGITS` significant digits on
every recorded value; different updates (beyond that precision) never share one, which is
the property the tests check. Values close to a rounding boundary can split two genomes
that are equal to ~1e-5 relative: the fingerprint then only misses a saving, never merges
genomes that differ.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from optimizers.genome import Genome
from optimizers.rule import rule_coefficients, rule_step, scheduled_lr

STEPS = 12
TOTAL_STEPS = 50
SHAPES = ((6,), (3, 4))
SCALES = (1e-2, 1.0, 1e2)
DIGITS = 5
SEED = 20230213


def _sequences() -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
    rng = np.random.default_rng(SEED)
    out = []
    for shape in SHAPES:
        for scale in SCALES:
            p0 = torch.from_numpy(rng.standard_normal(shape))
            drift = rng.standard_normal(shape)
            grads = [torch.from_numpy(scale * (drift + rng.standard_normal(shape))) for _ in range(STEPS)]
            out.append((p0, grads))
        zeros = [torch.zeros(shape, dtype=torch.float64)] * STEPS
        out.append((torch.from_numpy(rng.standard_normal(shape)), zeros))
    return out


_SEQUENCES = _sequences()


def trajectory(genome: Genome) -> list[np.ndarray]:
    """Displacements p_k - p_0 (float64), one array [STEPS, *shape] per sequence."""
    coef = rule_coefficients(genome.to_seed_dict(), dtype=torch.float64)
    out = []
    for p0, grads in _SEQUENCES:
        p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
        steps = []
        for k, g in enumerate(grads):
            lr = scheduled_lr(coef, k, TOTAL_STEPS)
            p, m, v = rule_step(p, g, m, v, k + 1, lr, coef)
            steps.append((p - p0).numpy().copy())
        out.append(np.stack(steps))
    return out


def _rounded(x: float) -> str:
    if not math.isfinite(x):
        return repr(x)
    if x == 0.0:
        return "0"
    return f"{x:.{DIGITS - 1}e}"


def fingerprint(genome: Genome) -> str:
    """16-hex-digit SHA-256 of the rounded trajectory (see the module doc)."""
    digest = hashlib.sha256()
    for arr in trajectory(genome):
        digest.update(",".join(_rounded(float(x)) for x in arr.ravel()).encode())
        digest.update(b";")
    return digest.hexdigest()[:16]
