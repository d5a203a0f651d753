"""The run lease, part of :class:`storage.Store`: one driver at a time per run (evo.runner.lease).

A mixin of :class:`~storage.store.Store` (it uses the store's ``_transaction`` and
``_run_row``), kept apart so that the store's rows and the lease protocol each have one file;
callers see one ``Store``.
"""

from __future__ import annotations

from collections.abc import Callable

from storage.errors import RunLeasedError
from storage.orm import utcnow
from storage.records import RunRecord


class RunLeases:
    """Take, renew and give up a run's lease (``runs.lease_owner``, ``runs.lease_heartbeat``)."""

    def acquire_lease(
        self, run_id: int, owner: str, timeout_s: float, holder_is_dead: Callable[[str], bool] | None = None
    ) -> RunRecord:
        """Take the run's lease for ``owner``: one compare-and-set transaction (the row is
        locked: SQLite's write lock, PostgreSQL ``FOR UPDATE``).

        It succeeds when nobody holds the lease, when ``owner`` already does, or when the
        holder's heartbeat is older than ``timeout_s``, or ``holder_is_dead(holder)`` says the
        holder is gone (a killed driver: taken over).

        Raises:
            RunLeasedError: a live driver holds it (the message names it).
        """
        with self._transaction(f"take the lease of run {run_id}", write=True) as s:
            run = self._run_row(s, run_id)
            s.refresh(run, with_for_update=True)
            now = utcnow()
            holder, beat = run.lease_owner, run.lease_heartbeat
            if holder is not None and holder != owner and beat is not None:
                age = (now - beat).total_seconds()
                if age < timeout_s and not (holder_is_dead and holder_is_dead(holder)):
                    raise RunLeasedError(
                        f"run {run.name!r} is being driven by {holder} (heartbeat {max(age, 0):.0f} s ago); "
                        f"wait for it to end, or stop it: a run without a heartbeat for {timeout_s:.0f} s "
                        "is taken over"
                    )
            run.lease_owner, run.lease_heartbeat = owner, now
            s.flush()
            return run.record()

    def renew_lease(self, run_id: int, owner: str) -> bool:
        """Refresh the heartbeat of ``owner``'s lease; False when ``owner`` no longer holds it."""
        with self._transaction(f"renew the lease of run {run_id}", write=True) as s:
            run = self._run_row(s, run_id)
            if run.lease_owner != owner:
                return False
            run.lease_heartbeat = utcnow()
            return True

    def release_lease(self, run_id: int, owner: str) -> None:
        """Give the lease up (a no-op when ``owner`` does not hold it)."""
        with self._transaction(f"release the lease of run {run_id}", write=True) as s:
            run = self._run_row(s, run_id)
            if run.lease_owner == owner:
                run.lease_owner, run.lease_heartbeat = None, None
