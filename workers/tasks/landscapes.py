"""Analytic test functions with known global minima (seed ``004`` nn_optimization, ALME's
landscape analysis), shared by the landscape tasks and the benchmarks.

Every function maps points ``x`` of shape ``[..., D]`` to values of shape ``[...]``, so a
population of points ``[P, 1, D]`` is scored in one call.

* qubic_1d: :math:`f(x) = x^4 - 2x^2 + 0.3x`; global minimum at x = -1.0355787, a local
  minimum at x = 0.9601496 (f = -0.70585), where the seed starts.
* ackley: :math:`-a e^{-b\\sqrt{\\mathrm{mean}(x^2)}} - e^{\\mathrm{mean}(\\cos cx)} + a + e`
  (a = 20, b = 0.2, c = 2 pi), minimum 0 at 0. The seed's gradient is NaN at exactly 0
  (d sqrt(u)/du at u = 0); here sqrt(u + 1e-20) keeps it finite, shifting f(0) by < 1e-9.
* rastrigin: :math:`A D + \\sum_i (x_i^2 - A \\cos 2\\pi x_i)` (A = 10), minimum 0 at 0.
* rosenbrock: :math:`\\sum_i b (x_{i+1} - x_i^2)^2 + (a - x_i)^2` (a = 1, b = 100), minimum 0 at 1.
* six_hump_camel: :math:`4x^2 - 2.1x^4 + x^6/3 + xy - 4y^2 + 4y^4`, minimum -1.0316285 at
  (0.0898, -0.7127) and (-0.0898, 0.7127).

Start points follow the seeds: ackley 1-D from 10.0, qubic from 0.96, six-hump from (2, 2)
(seed 004's README runs); rastrigin and rosenbrock 10-D from a standard normal draw
(ALME's ``landscape_analysis.py``), made per member from its ``init`` stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor

_ACKLEY_SQRT_FLOOR = 1e-20


def qubic_1d(x: Tensor) -> Tensor:
    """x^4 - 2 x^2 + 0.3 x of the only coordinate; x: [..., 1] -> [...]."""
    x = x[..., 0]
    return x**4 - 2.0 * x**2 + 0.3 * x


def ackley(x: Tensor, a: float = 20.0, b: float = 0.2, c: float = 2.0 * math.pi) -> Tensor:
    """Ackley over the last axis (means, as in the seed); x: [..., D] -> [...]."""
    radius = torch.sqrt((x * x).mean(-1) + _ACKLEY_SQRT_FLOOR)
    return -a * torch.exp(-b * radius) - torch.exp(torch.cos(c * x).mean(-1)) + a + math.e


def rastrigin(x: Tensor, amplitude: float = 10.0) -> Tensor:
    """Rastrigin over the last axis; x: [..., D] -> [...]."""
    return amplitude * x.shape[-1] + (x * x - amplitude * torch.cos(2.0 * math.pi * x)).sum(-1)


def rosenbrock(x: Tensor, a: float = 1.0, b: float = 100.0) -> Tensor:
    """Rosenbrock over the last axis (D >= 2); x: [..., D] -> [...]."""
    head, tail = x[..., :-1], x[..., 1:]
    return (b * (tail - head * head) ** 2 + (a - head) ** 2).sum(-1)


def six_hump_camel(x: Tensor) -> Tensor:
    """Six-hump camel of the first two coordinates; x: [..., 2] -> [...]."""
    u, w = x[..., 0], x[..., 1]
    return 4 * u**2 - 2.1 * u**4 + u**6 / 3 + u * w - 4 * w**2 + 4 * w**4


@dataclass(frozen=True)
class Landscape:
    """A function with its dimension, known global minimum and the seeds' start point.

    Attributes:
        start: fixed start point, or None for a standard normal draw per member.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    dim: int
    f_min: float
    minimizers: tuple[tuple[float, ...], ...]
    start: tuple[float, ...] | None
    source: str

    def gap(self, values: Tensor) -> Tensor:
        """Distance of function values above the global minimum (>= 0 up to rounding)."""
        return values - self.f_min

    def distance_to_minimizer(self, x: Tensor) -> Tensor:
        """Euclidean distance from points [..., D] to the nearest global minimizer -> [...]."""
        minimizers = torch.tensor(self.minimizers, dtype=x.dtype, device=x.device)  # [M, D]
        return (x.unsqueeze(-2) - minimizers).norm(dim=-1).min(-1).values

    def start_point(self, generator: torch.Generator) -> Tensor:
        """The start point [D] (CPU, float32); random starts draw from ``generator``."""
        if self.start is not None:
            return torch.tensor(self.start, dtype=torch.float32)
        return torch.randn(self.dim, generator=generator, dtype=torch.float32)


LANDSCAPES: dict[str, Landscape] = {
    land.name: land
    for land in (
        Landscape("ackley", ackley, 1, 0.0, ((0.0,),), (10.0,), "seed 004: Ackley 1-D from 10.0"),
        Landscape(
            "rastrigin",
            rastrigin,
            10,
            0.0,
            ((0.0,) * 10,),
            None,
            "ALME landscape analysis: 10-D, randn start",
        ),
        Landscape(
            "rosenbrock",
            rosenbrock,
            10,
            0.0,
            ((1.0,) * 10,),
            None,
            "ALME landscape analysis: 10-D, randn start",
        ),
        Landscape(
            "six_hump_camel",
            six_hump_camel,
            2,
            -1.0316284534898776,
            ((0.08984201310031807, -0.7126564030207396), (-0.08984201310031807, 0.7126564030207396)),
            (2.0, 2.0),
            "seed 004: six-hump camel from (2, 2)",
        ),
        Landscape(
            "qubic_1d",
            qubic_1d,
            1,
            -1.305428483743916,
            ((-1.0355787140888537,),),
            (0.96,),
            "seed 004: x^4 - 2x^2 + 0.3x from the local minimum 0.96",
        ),
    )
}
"""name -> :class:`Landscape`."""
