"""What one member's training produced, before it becomes a ``MemberResult``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ok", "diverged", "failed"]


@dataclass
class MemberOutcome:
    """Raw outcome of training one (entry, seed) member.

    Attributes:
        losses: the training loss of every step taken (the diverging loss included).
        steps_done: optimizer steps completed (the diverging step is not one).
        accuracy, extra: the selection score and task metrics (None when not scored).
        wall_time_s: the member's training + scoring time (population: its share).
    """

    status: Status
    steps_done: int
    losses: list[float] = field(default_factory=list)
    accuracy: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    wall_time_s: float = 0.0

    @property
    def final_loss(self) -> float | None:
        """The last training loss, None when there is none or it is not finite."""
        if not self.losses or not math.isfinite(self.losses[-1]):
            return None
        return self.losses[-1]


def error_text(exc: BaseException, limit: int = 500) -> str:
    """``Type: message`` on one line, truncated."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
