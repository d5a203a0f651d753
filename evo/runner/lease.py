"""Run leases: one live driver per run, a killed one taken over after a timeout.

A driver holds the lease of its run (``runs.lease_owner`` = ``host:pid:token``) and renews
``runs.lease_heartbeat`` from a background thread every :func:`heartbeat_s` seconds. The
store's compare-and-set (:meth:`storage.Store.acquire_lease`) lets a second driver in only
when no lease is held, or the holder's heartbeat is older than :func:`timeout_s`: a
SIGKILLed driver's run shows as ``interrupted`` in ``evo runs`` once its heartbeat is that
old, and ``evo resume`` / ``evo run`` take it over. Normal exit, Ctrl-C (pause) and errors
release the lease.

A holder on this host whose process is gone (``host`` is ours and ``pid`` no longer exists)
is dead at once, whatever its heartbeat: a SIGKILLed local driver is resumed without waiting
for the timeout. Holders on other hosts are judged by their heartbeat only.

The timeout is :data:`DEFAULT_TIMEOUT_S` (30 s), overridable with the environment variable
``EVO_LEASE_TIMEOUT_S`` (tests use ~2 s). Takeover comes at most ``timeout`` after the last
heartbeat, i.e. within ``timeout`` of the kill. Clocks of the machines sharing a database
must agree to well under the timeout (heartbeats are stamped by each driver's clock).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING

from storage.errors import RunLeasedError, StorageError

if TYPE_CHECKING:
    from storage import Store
    from storage.records import RunRecord

DEFAULT_TIMEOUT_S = 30.0
TIMEOUT_ENV = "EVO_LEASE_TIMEOUT_S"
MAX_HEARTBEAT_S = 5.0


def timeout_s() -> float:
    """Seconds without a heartbeat after which a lease is stale (env ``EVO_LEASE_TIMEOUT_S``)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_TIMEOUT_S
    except ValueError:
        value = DEFAULT_TIMEOUT_S
    return value if 0 < value < float("inf") else DEFAULT_TIMEOUT_S


def heartbeat_s(timeout: float | None = None) -> float:
    """Heartbeat period: a quarter of the timeout, at most 5 s (several beats per timeout)."""
    return min(MAX_HEARTBEAT_S, (timeout or timeout_s()) / 4)


def new_owner() -> str:
    """This driver's lease name: ``host:pid:token`` (the token tells restarts apart)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(owner: str) -> bool:
    """Whether ``owner`` (``host:pid:token``) is a process of this host that no longer exists."""
    rest = owner.split(":")
    if len(rest) < 3 or not rest[-2].isdigit():
        return False
    host, pid = ":".join(rest[:-2]), int(rest[-2])
    if host != socket.gethostname()[:120] or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


def is_live(run: RunRecord, now: datetime | None = None, timeout: float | None = None) -> bool:
    """Whether a driver holds the run's lease, renewed it within the timeout and is not a
    process of this host that has died."""
    if run.lease_owner is None or run.lease_heartbeat is None or holder_is_dead(run.lease_owner):
        return False
    age = ((now or datetime.now(UTC)) - run.lease_heartbeat).total_seconds()
    return age < (timeout or timeout_s())


def shown_status(run: RunRecord) -> str:
    """The status ``evo runs`` shows: a ``running`` run without a live lease is ``interrupted``."""
    return "interrupted" if run.status == "running" and not is_live(run) else run.status


def refuse_if_live(run: RunRecord) -> None:
    """The CLI's early check, before anything starts or is written (the driver's
    :class:`RunLease` takes the lease atomically later). Raises RunLeasedError."""
    if is_live(run):
        age = (datetime.now(UTC) - run.lease_heartbeat).total_seconds()  # type: ignore[operator]
        raise RunLeasedError(
            f"run {run.name!r} is being driven by {run.lease_owner} (heartbeat {max(age, 0):.0f} s ago); "
            f"wait for it to end, or stop it: a run without a heartbeat for {timeout_s():.0f} s is taken over"
        )


class RunLease:
    """The lease of one run for the ``with`` block: acquired, renewed, released.

    ``lost`` turns True when a renewal finds another owner (this driver stalled longer
    than the timeout and was taken over); :meth:`check` then raises.
    """

    def __init__(self, store: Store, run_id: int, timeout: float | None = None) -> None:
        self.store, self.run_id = store, run_id
        self.timeout = timeout or timeout_s()
        self.owner = new_owner()
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"evo-lease-{run_id}", daemon=True)

    def __enter__(self) -> RunLease:
        self.store.acquire_lease(self.run_id, self.owner, self.timeout, holder_is_dead)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.store.release_lease(self.run_id, self.owner)
        except StorageError:
            if kind is None:
                raise  # else keep the original error; the lease goes stale and is taken over

    def check(self) -> None:
        """Raise RunLeasedError if another driver took the run over."""
        if self.lost:
            raise RunLeasedError(
                f"run {self.run_id}: another driver took the lease over (no heartbeat for "
                f"{self.timeout:.0f} s); this driver stops"
            )

    def _beat(self) -> None:
        period = heartbeat_s(self.timeout)
        while not self._stop.wait(period):
            try:
                if not self.store.renew_lease(self.run_id, self.owner):
                    self.lost = True
                    return
            except StorageError:
                continue  # a busy database: try again at the next beat
