"""The driver's Ray session, and what a pool of actors may ask of the cluster.

``ray.init()`` with no address starts a local cluster (the embedded default); an address
joins an existing one (docker-compose head, ``ray job submit``). Two ways Ray can wait
forever are turned into one-line errors here:

* joining an address nobody listens on (``ray.init`` retries for minutes): the address is
  probed with a plain TCP connect first, :func:`check_reachable`;
* actors that ask for resources the cluster does not have (a GPU where there is none
  stays pending with only an autoscaler message): :func:`plan_actor_resources` checks the
  request against ``ray.cluster_resources()`` before any actor is created. It is a pure
  function of a resources dict, so it is tested without a cluster.

Ray itself is imported lazily: importing this module (for the planner) costs nothing. Its
errors (:class:`~evo.errors.RayConnectError`, ...) live in :mod:`evo.errors`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from evo.errors import ClusterResourceError, NoGPUError, RayConnectError
from evo.execution.ray_reaper import MARKER_ENV, start_reaper
from optimizers.errors import one_line

log = logging.getLogger(__name__)

GpuRequest = float | Literal["auto"]

LOCAL_DEFAULTS: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
"""``ray.init`` keywords for the embedded local cluster (no dashboard: less memory)."""

CONNECT_TIMEOUT_S = 5.0


class ActorResources(BaseModel):
    """Resources each evaluation actor asks Ray for (``actor.options(num_cpus=, num_gpus=)``)."""

    model_config = ConfigDict(frozen=True)

    num_cpus: float
    num_gpus: float

    @property
    def torch_threads(self) -> int:
        """Intra-op threads an actor should use: its whole CPUs, at least one."""
        return max(1, int(self.num_cpus))


def plan_actor_resources(
    num_actors: int,
    cpus_per_actor: float,
    gpus_per_actor: GpuRequest,
    cluster_resources: Mapping[str, float],
) -> ActorResources:
    """Check a pool request against a cluster's total resources; resolve ``"auto"`` GPUs.

    With ``G`` GPUs and ``C`` CPUs in the cluster and ``n`` actors:

    * ``gpus_per_actor="auto"``: ``min(1, G / n)`` GPUs per actor (one GPU each, or an even
      share of the GPUs there are: 2 actors on 1 GPU get 0.5); ``G == 0`` falls back to
      CPU actors and logs a warning.
    * a number ``g > 0`` needs ``G > 0`` (else :class:`NoGPUError`) and ``n * g <= G``;
      ``n * cpus_per_actor <= C`` always. An actor that does not fit would stay pending
      forever, and the work queued on it with it, so these raise
      :class:`ClusterResourceError` instead.

    The values themselves (``n >= 1``, CPUs > 0, ``g >= 0`` and ``g <= 1`` or whole, Ray's
    rule) are :class:`evo.config.schema.ExecutorConfig`'s rules, checked there only.

    Args:
        num_actors: actors in the pool (>= 1).
        cpus_per_actor: logical CPUs per actor (> 0; fractions allowed).
        gpus_per_actor: logical GPUs per actor, fractional to pack (0.25 = four per GPU),
            or ``"auto"``.
        cluster_resources: ``ray.cluster_resources()`` (keys ``"CPU"``, ``"GPU"``).

    Returns:
        The per-actor ``num_cpus`` / ``num_gpus`` to pass to Ray.

    Example:
        >>> plan_actor_resources(4, 0.5, 0.25, {"CPU": 2.0, "GPU": 1.0})
        ActorResources(num_cpus=0.5, num_gpus=0.25)
        >>> plan_actor_resources(2, 1.0, "auto", {"CPU": 2.0}).num_gpus
        0.0
    """
    total_cpus = float(cluster_resources.get("CPU", 0.0))
    total_gpus = float(cluster_resources.get("GPU", 0.0))
    gpus = _resolve_gpus(num_actors, gpus_per_actor, total_gpus)

    if num_actors * cpus_per_actor > total_cpus + 1e-9:
        raise ClusterResourceError(
            f"{num_actors} actors x {cpus_per_actor:g} CPUs = {num_actors * cpus_per_actor:g} CPUs, "
            f"but the Ray cluster has {total_cpus:g}; lower executor.num_actors or executor.cpus_per_actor"
        )
    if gpus > 0 and num_actors * gpus > total_gpus + 1e-9:
        raise ClusterResourceError(
            f"{num_actors} actors x {gpus:g} GPUs = {num_actors * gpus:g} GPUs, but the Ray cluster has "
            f"{total_gpus:g}; lower executor.num_actors or executor.gpus_per_actor (0.25 packs four per GPU)"
        )
    return ActorResources(num_cpus=float(cpus_per_actor), num_gpus=gpus)


def _resolve_gpus(num_actors: int, gpus_per_actor: GpuRequest, total_gpus: float) -> float:
    if gpus_per_actor == "auto":
        if total_gpus <= 0:
            log.warning("executor.gpus_per_actor is 'auto' but the Ray cluster has no GPU: using CPU actors")
            return 0.0
        return min(1.0, total_gpus / num_actors)
    gpus = float(gpus_per_actor)
    if gpus > 0 and total_gpus <= 0:
        raise NoGPUError(
            f"executor.gpus_per_actor={gpus:g} asks for GPUs but the Ray cluster has none; "
            "set executor.gpus_per_actor=0 (or 'auto') or join a cluster with GPUs (--address)"
        )
    return gpus


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`RayConnectError` unless a TCP connect to ``address`` succeeds.

    ``address`` is what ``ray.init`` takes: ``"host:port"`` (the GCS port, 6379 by default)
    or ``"ray://host:port"`` (Ray Client, 10001). ``"auto"`` and ``"local"`` are left to
    Ray. ``ray.init`` itself would retry an unreachable address for minutes.
    """
    if address in ("auto", "local"):
        return
    host_port = address.removeprefix("ray://").rstrip("/")
    host, sep, port_text = host_port.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise RayConnectError(
            f"bad Ray address {address!r}: expected 'host:port' (e.g. 127.0.0.1:6379) or 'ray://host:port'"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise RayConnectError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start one with "
            "`ray start --head` or fix --address (leave it out to start a local cluster)"
        ) from None


def check_token(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`RayConnectError` at once if the cluster at a GCS ``host:port`` refuses
    this driver's token: one GCS request (about 0.3 s), where ``ray.init`` retries a refused
    token for 20 s and then reports a connection error that names no token. The probe runs
    in a daemon thread for at most ``timeout_s`` (something that is not a Ray GCS keeps it
    waiting); Ray Client (``ray://``), ``auto`` and ``local`` addresses, and every other
    outcome of the probe, are left to ``ray.init``."""
    if address in ("auto", "local") or address.startswith("ray://"):
        return
    import ray

    try:
        from ray._raylet import GcsClient  # Ray's own client; private, so only a probe
    except ImportError:
        return
    refused: list[BaseException] = []

    def probe() -> None:
        try:
            GcsClient(address=address)
        except ray.exceptions.AuthenticationError as exc:
            refused.append(exc)
        except Exception:  # anything else: ray.init reports it in its own words
            pass

    thread = threading.Thread(target=probe, name="evo-ray-token-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if refused:
        raise _token_refused(address, refused[0])


def _token_refused(address: str, exc: BaseException) -> RayConnectError:
    return RayConnectError(
        f"the Ray cluster at {address} refused this driver's token ({one_line(exc, 300)}); set "
        "RAY_AUTH_TOKEN to the cluster's token (token authentication is on)"
    )


def ensure_ray(address: str | None = None, **init_kwargs: Any) -> dict[str, float]:
    """Connect the driver to Ray once and return ``ray.cluster_resources()``.

    An initialized session is reused as it is (tests share one; a second executor in the
    same process joins the first one's cluster), whatever ``address`` says. Otherwise
    ``address=None`` starts a local cluster with :data:`LOCAL_DEFAULTS` (overridable by
    ``init_kwargs``, e.g. ``num_cpus=2, num_gpus=1`` to declare a logical GPU); an address
    is probed by :func:`check_reachable` and :func:`check_token` and then joined
    (cluster-shaping keywords such as ``num_cpus`` are not allowed by Ray in that case).

    Raises:
        RayConnectError: the address does not answer, or ``ray.init`` fails.
    """
    import ray

    if ray.is_initialized():
        if address is not None:
            log.info("a Ray session is already initialized; reusing it instead of joining %s", address)
        if "runtime_env" in init_kwargs:
            log.info("Ray is already initialized; its workers import users' modules from their own path")
        return dict(ray.cluster_resources())
    if address is None:
        address = os.environ.get("RAY_ADDRESS") or None
    if address is None:
        kwargs = {**LOCAL_DEFAULTS, **init_kwargs}
    else:
        check_reachable(address)
        check_token(address)
        kwargs = dict(init_kwargs)
    marker = f"{os.getpid()}-{uuid.uuid4().hex}" if address is None else None
    if marker:  # inherited by every process of the cluster started now (evo.execution.ray_reaper)
        os.environ[MARKER_ENV] = marker
    try:
        with _loopback_only(address is None or _loopback_only_cluster(address)):
            ray.init(address=address, **kwargs)
    except ray.exceptions.AuthenticationError as exc:
        raise _token_refused(address, exc) from None
    except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:
        where = f"the cluster at {address}" if address else "a new local cluster"
        raise RayConnectError(f"cannot start Ray on {where}: {one_line(exc, 300)}") from None
    finally:
        if marker:  # the driver's own later children are not the cluster's
            os.environ.pop(MARKER_ENV, None)
    if address is None:
        global _REAPER
        _REAPER = start_reaper(marker)
    return dict(ray.cluster_resources())


_REAPER: subprocess.Popen[bytes] | None = None
"""The watchdog of the local cluster this process started (:mod:`evo.execution.ray_reaper`)."""


@contextlib.contextmanager
def _loopback_only(local: bool) -> Iterator[None]:
    """Make a local cluster started inside bind 127.0.0.1 only.

    Ray resolves ``127.0.0.1`` given as the node address to the host's outside address
    (for other nodes to reach), and its servers then listen on every interface, unless
    multi-node clusters are off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read at import
    into ``ray_constants.ENABLE_RAY_CLUSTER``): then the node address is the loopback one
    and the GCS, raylet, workers and agents bind it alone. Set for ``ray.init`` only.
    """
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    if local:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def _loopback_only_cluster(address: str) -> bool:
    """True if ``address`` is a loopback ``host:port`` that answers only on loopback.

    Ray rewrites a loopback address to the host's outside one before it connects, which
    suits a cluster started by ``ray start --head`` (it listens everywhere) but not one
    started by another ``evo`` driver here (127.0.0.1 only): that one is joined with
    :func:`_loopback_only` too.
    """
    from ray._private import services

    if address.startswith("ray://"):  # Ray Client connects to what it is given
        return False
    host, _, port_text = address.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if host not in ("127.0.0.1", "localhost", "::1") or not port_text.isdigit():
        return False
    outside = services.resolve_ip_for_localhost(host)
    if outside in ("127.0.0.1", "localhost", "::1"):
        return False
    try:
        with socket.create_connection((outside, int(port_text)), timeout=CONNECT_TIMEOUT_S):
            return False
    except OSError:
        return True
