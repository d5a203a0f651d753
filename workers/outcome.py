"""What one member's training produced, before it becomes a ``MemberResult``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ok", "diverged", "failed"]
CURVE_POINTS = 50
"""Points of a stored loss curve (``MemberResult.loss_curve``)."""


@dataclass
class MemberOutcome:
    """Raw outcome of training one (entry, seed) member.

    Attributes:
        losses: the training loss of every step taken (the diverging loss included).
        steps_done: optimizer steps completed (the diverging step is not one).
        accuracy, extra: the selection score and task metrics (None when not scored).
        wall_time_s: the member's training + scoring time (population: its share).
        escape_steps: the steps at which ALME escaped (None for other optimizers).
    """

    status: Status
    steps_done: int
    losses: list[float] = field(default_factory=list)
    accuracy: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    wall_time_s: float = 0.0
    escape_steps: list[int] | None = None

    @property
    def final_loss(self) -> float | None:
        """The last training loss, None when there is none or it is not finite."""
        if not self.losses or not math.isfinite(self.losses[-1]):
            return None
        return self.losses[-1]


def loss_curve(losses: Sequence[float], points: int = CURVE_POINTS) -> tuple[list[float], list[int]]:
    """The training losses downsampled to at most ``points`` windows of consecutive steps.

    With ``n`` losses and ``k = min(points, n)`` windows, window ``i`` holds steps
    ``i n // k + 1 .. (i + 1) n // k`` (1-based; sizes differ by at most one). Returns the
    mean of each window's finite losses and the window's last step; a window without a
    finite loss (a diverging step) is left out.
    """
    n = len(losses)
    k = min(points, n)
    curve: list[float] = []
    steps: list[int] = []
    for i in range(k):
        lo, hi = i * n // k, (i + 1) * n // k
        finite = [v for v in losses[lo:hi] if math.isfinite(v)]
        if finite:
            curve.append(math.fsum(finite) / len(finite))
            steps.append(hi)
    return curve, steps

