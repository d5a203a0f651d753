"""The dashboard's cache of its costly answers (ranking, paired statistics) per state of a run.

Every open run page asks for a run's ranking and paired comparisons when a generation
closes; with several pages open they ask for the same thing. An answer is kept under its
request plus the run's state as three cheap reads see it (generations closed, status, last
update, newest stored result and population row): while none of these changes, the answer
would be the same, so it is served from here. A new result, saved or closed generation, or
status change is a new key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage import Store

MAX_ENTRIES = 64


class SnapshotCache:
    """Answers by (request, run state); the least recently used beyond :data:`MAX_ENTRIES` go."""

    def __init__(self, store: Store, max_entries: int = MAX_ENTRIES) -> None:
        self.store, self.max_entries = store, max_entries
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def state(self, run_name: str) -> tuple:
        """What the run's answers depend on, read in three short transactions."""
        run = self.store.get_run(run_name)
        progress = self.store.run_progress().get(run.id)
        done = progress.generations_done if progress else 0
        return (run.id, run.status, run.updated_at, done, self.store.write_marks())

    def get(self, request: tuple, compute: Callable[[], Any]) -> Any:
        """The answer to ``request`` (its second item is the run name), computed once per run state."""
        key = (request, self.state(request[1]))
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = compute()
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)
        return answer
