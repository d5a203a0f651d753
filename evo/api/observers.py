"""The ``observers=`` of ``evo.run``: checked, then passed on as one observer."""

from __future__ import annotations

from collections.abc import Sequence

from evo.errors import UsageError
from evo.runner.events import ObserverGroup, RunObserver


def observer_group(observers: Sequence[RunObserver]) -> RunObserver | None:
    """``observers`` as one :class:`~evo.runner.events.ObserverGroup` (None for none).

    Raises:
        UsageError: one of them is not a :class:`~evo.runner.events.RunObserver` (checked
            before anything runs or is written).
    """
    for observer in observers:
        if not isinstance(observer, RunObserver):
            raise UsageError(
                f"observers: {type(observer).__name__} is not an evo.RunObserver; "
                "subclass evo.RunObserver and override the hooks you need"
            )
    return ObserverGroup(observers) if observers else None
