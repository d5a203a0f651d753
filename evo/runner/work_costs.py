"""Which work items to start first: longest first, from costs measured earlier in the run.

A generation's requests differ a lot in cost (a digits MLP member trains for seconds, a
landscape member for milliseconds, and a request holds 1..``genomes_per_request``
entries). Started in plan order, an expensive request may start last and run alone while
the other workers idle: the generation's tail. Started longest first (the LPT rule: each
free worker takes the longest remaining request), the tail is one of the cheapest
requests, and with W workers the generation lasts at most 4/3 of the optimum (Graham).

The cost of a request is ``members x seconds per member`` of its task, where members =
entries x seeds and the seconds per member are those measured by the workers so far in
this run (:class:`TaskCosts`: total worker wall time over total members, per task and
budget). A task not measured yet costs the mean of the measured ones (1 s when none is).
Only the submission order depends on these timings, never a request's content or id, so
results and resumes are unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from workers.requests import EvalRequest, EvalResult

UNKNOWN_S = 1.0
"""Seconds per member assumed before any task has been measured."""


@dataclass
class TaskCosts:
    """Worker seconds per member, per (task, budget key), learned from results."""

    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    members: dict[tuple[str, str], int] = field(default_factory=dict)

    def observe(self, result: EvalResult) -> None:
        """Count one result: its worker wall time over its members."""
        n = len(result.members)
        if n == 0:
            return
        key = (result.task, result.budget_key)
        self.seconds[key] = self.seconds.get(key, 0.0) + float(result.wall_time_s)
        self.members[key] = self.members.get(key, 0) + n

    def per_member(self, task: str, budget_key: str) -> float:
        """Measured seconds per member of ``task`` (mean of the measured tasks if not measured)."""
        key = (task, budget_key)
        if self.members.get(key):
            return self.seconds[key] / self.members[key]
        known = [self.seconds[k] / self.members[k] for k in self.members if self.members[k]]
        return sum(known) / len(known) if known else UNKNOWN_S

    def cost(self, request: EvalRequest) -> float:
        """Estimated worker seconds of ``request``."""
        return len(request.entries) * len(request.seeds) * self.per_member(request.task, request.budget_key)


def longest_first(requests: Sequence[EvalRequest], costs: TaskCosts) -> list[EvalRequest]:
    """``requests`` by estimated cost, most expensive first (ties keep the plan order)."""
    order = sorted(range(len(requests)), key=lambda i: -costs.cost(requests[i]))
    return [requests[i] for i in order]
