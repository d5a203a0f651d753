"""Executors: the Ray pool against the inline executor, on a real Ray session.

Ray tests share the session of ``conftest.ray_session`` (4 logical CPUs, 1 logical GPU)
and close every executor they make. Evaluate functions are ``workers.evaluate`` on tiny
real tasks, or ``executor_helpers.scripted_evaluate`` whose behaviour (sleep, raise,
crash) each request spells out.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from executor_helpers import calls_so_far, scripted_evaluate, synthetic_result

from evo.errors import ClusterResourceError, NoGPUError, RayConnectError
from evo.execution import make_executor
from evo.execution.inline import InlineExecutor
from evo.execution.ray_pool import RayExecutor
from evo.execution.ray_session import ActorResources, check_reachable, check_token, plan_actor_resources
from optimizers.baselines import BASELINE_GENOMES
from workers.actors import Outcome
from workers.requests import EntrySpec, EvalRequest, EvalResult

GENOMES = list(BASELINE_GENOMES.values())


def request(request_id: str, task: str = "ok", *, ms: int = 1, data_dir: Path | str = ".",
            seeds: tuple[int, ...] = (0,)) -> EvalRequest:
    """A scripted request: ``task`` picks the behaviour, ``ms`` the sleep (as ``steps``)."""
    return EvalRequest(request_id=request_id, entries=[EntrySpec.of_genome(GENOMES[0])], task=task,
                       seeds=list(seeds), steps=ms, data_dir=str(data_dir), device="cpu")


def comparable(result: EvalResult) -> dict:
    """A result without where and how long it ran."""
    data = result.model_dump(exclude={"worker", "wall_time_s"})
    data["members"] = [{k: v for k, v in m.items() if k != "wall_time_s"} for m in data["members"]]
    return data


# -- resource planning: a pure function of the cluster's resources ---------------------
@pytest.mark.parametrize(
    ("num_actors", "cpus", "gpus", "cluster", "expected"),
    [
        (4, 0.5, 0.25, {"CPU": 2.0, "GPU": 1.0}, (0.5, 0.25)),  # four packed on one GPU
        (2, 1.0, 0, {"CPU": 2.0}, (1.0, 0.0)),
        (2, 1.0, 1, {"CPU": 8.0, "GPU": 2.0}, (1.0, 1.0)),
        (2, 1.0, "auto", {"CPU": 2.0, "GPU": 1.0}, (1.0, 0.5)),  # an even share of one GPU
        (2, 1.0, "auto", {"CPU": 2.0, "GPU": 4.0}, (1.0, 1.0)),  # never more than one each
        (1, 2.0, 2, {"CPU": 2.0, "GPU": 2.0}, (2.0, 2.0)),
    ],
)
def test_plan_actor_resources_fits(num_actors, cpus, gpus, cluster, expected) -> None:
    plan = plan_actor_resources(num_actors, cpus, gpus, cluster)
    assert (plan.num_cpus, plan.num_gpus) == expected


@pytest.mark.parametrize(
    ("num_actors", "cpus", "gpus", "cluster", "error", "needle"),
    [
        (2, 1.0, 0.5, {"CPU": 2.0}, NoGPUError, "has none"),
        (1, 1.0, 1, {"CPU": 2.0, "GPU": 0.0}, NoGPUError, "gpus_per_actor"),
        (5, 0.1, 0.25, {"CPU": 2.0, "GPU": 1.0}, ClusterResourceError, "1.25 GPUs"),
        (3, 1.0, 0, {"CPU": 2.0}, ClusterResourceError, "3 CPUs"),
    ],
)
def test_plan_actor_resources_refuses_what_would_wait_forever(
    num_actors, cpus, gpus, cluster, error, needle
) -> None:
    with pytest.raises(error) as raised:
        plan_actor_resources(num_actors, cpus, gpus, cluster)
    message = str(raised.value)
    assert needle in message and "\n" not in message


def test_auto_gpus_fall_back_to_cpu_with_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="evo.execution.ray_session"):
        plan = plan_actor_resources(2, 1.0, "auto", {"CPU": 2.0})
    assert plan == ActorResources(num_cpus=1.0, num_gpus=0.0)
    assert any("no GPU" in r.getMessage() for r in caplog.records)


def test_check_reachable_fails_fast_on_a_closed_port_and_a_bad_address() -> None:
    with socket.socket() as sock:  # a port that was just free: nobody listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(RayConnectError, match=f"127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}", timeout_s=2)
    assert time.monotonic() - started < 5
    with pytest.raises(RayConnectError, match="host:port"):
        check_reachable("no-port-here")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"ray://127.0.0.1:{server.getsockname()[1]}")


def test_check_token_leaves_a_silent_non_ray_server_to_ray_init_within_its_timeout() -> None:
    """A listening port that never speaks Ray's protocol keeps the probe waiting: it gives up
    after its timeout and raises nothing (a refused token is tested on a real token cluster in
    test_ray_multinode)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        started = time.monotonic()
        check_token(f"127.0.0.1:{server.getsockname()[1]}", timeout_s=1)
        assert time.monotonic() - started < 3


# -- one retry table, run by both executors ---------------------------------------------
RETRY_CASES = [  # (task, max_retries, ok, attempts, error needle)
    ("ok", 2, True, 1, None),
    ("flaky:2", 2, True, 3, None),
    ("flaky:1", 0, False, 1, "transient failure #1"),
    ("always_fails", 2, False, 3, "boom #3"),
    ("bad_request", 2, False, 1, "BadRequestError"),  # an EvoError: not retried
]


def check_retry_outcomes(outcomes: list[Outcome], requests: list[EvalRequest]) -> None:
    by_id = {o.request_id: o for o in outcomes}
    assert sorted(by_id) == sorted(r.request_id for r in requests) and len(outcomes) == len(requests)
    for req in requests:
        _, _, ok, attempts, needle = next(c for c in RETRY_CASES if c[0] == req.task)
        outcome = by_id[req.request_id]
        assert outcome.ok is ok and outcome.attempts == attempts, (req.task, outcome)
        assert calls_so_far(req) == attempts  # the evaluate function really ran that often
        if ok:
            assert outcome.error is None and comparable(outcome.result) == comparable(synthetic_result(req))
        else:
            assert outcome.result is None and needle in outcome.error and "\n" not in outcome.error


@pytest.mark.parametrize("max_retries", [0, 2])
def test_inline_executor_retries(tmp_path, max_retries) -> None:
    cases = [c for c in RETRY_CASES if c[1] == max_retries]
    requests = [request(f"{c[0]}-{i}", c[0], data_dir=tmp_path) for i, c in enumerate(cases)]
    with InlineExecutor(max_retries=max_retries, evaluate=scripted_evaluate) as executor:
        outcomes = list(executor.map_unordered(requests))
    assert [o.request_id for o in outcomes] == [r.request_id for r in requests]  # in order, inline
    check_retry_outcomes(outcomes, requests)


def test_inline_executor_rejects_what_is_not_a_request() -> None:
    with pytest.raises(TypeError, match="EvalRequest"):
        list(InlineExecutor(evaluate=scripted_evaluate).map_unordered([{"request_id": "x"}]))


# -- the Ray pool ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scripted_pool(ray_session) -> Iterator[RayExecutor]:
    """Two CPU actors running ``scripted_evaluate``, shared by the tests that kill nothing."""
    with RayExecutor(num_actors=2, cpus_per_actor=1.0, max_retries=2, evaluate=scripted_evaluate) as pool:
        yield pool


@pytest.mark.timeout(120)
def test_ray_retries_like_inline(scripted_pool, tmp_path) -> None:
    cases = [c for c in RETRY_CASES if c[1] == 2]
    requests = [request(f"{c[0]}-{i}", c[0], data_dir=tmp_path) for i, c in enumerate(cases)]
    check_retry_outcomes(list(scripted_pool.map_unordered(requests)), requests)


@pytest.mark.timeout(120)
def test_results_come_in_completion_order_tagged_with_their_request(scripted_pool, tmp_path) -> None:
    # "held-slow" is submitted first but cannot finish before the test releases it, which
    # it does once the first fast result came back: an event, not a race against a sleep.
    slow = request("held-slow", ms=10, data_dir=tmp_path)
    fast = [request(f"fast-{i}", ms=10, seeds=(i, i + 1), data_dir=tmp_path) for i in range(3)]
    outcomes = []
    for outcome in scripted_pool.map_unordered([slow, *fast]):
        outcomes.append(outcome)
        (tmp_path / "held-slow.release").touch()
    order = [o.request_id for o in outcomes]
    assert sorted(order) == sorted(r.request_id for r in [slow, *fast])
    assert order[0].startswith("fast") and order.index("held-slow") > 0  # not submission order
    by_id = {r.request_id: r for r in [slow, *fast]}
    for outcome in outcomes:
        assert outcome.result.request_id == outcome.request_id
        assert comparable(outcome.result) == comparable(synthetic_result(by_id[outcome.request_id]))


@pytest.mark.timeout(120)
def test_work_in_flight_is_bounded_and_a_freed_actor_is_refilled_before_its_result_is_handled(
    scripted_pool, tmp_path
) -> None:
    pulled = 0

    def counting(requests: Iterable[EvalRequest]) -> Iterator[EvalRequest]:
        nonlocal pulled
        for r in requests:
            pulled += 1
            yield r

    requests = [request(f"r{i}", ms=20 + 5 * (i % 3), data_dir=tmp_path) for i in range(14)]
    submitted_before = scripted_pool.submitted
    infos_before = scripted_pool.actor_info()
    outstanding, in_flight = [], []
    for received, _ in enumerate(scripted_pool.map_unordered(counting(requests))):
        outstanding.append(pulled - received)  # pulled from the input, not yet handed back
        in_flight.append(scripted_pool.in_flight)
    assert scripted_pool.max_in_flight == 2  # one request per actor (late binding, evo.execution.ray_pool)
    assert outstanding[0] == 3  # lazily pulled: 3 of 14 before the first result is handled
    assert max(outstanding) == 3 and max(in_flight) <= 2
    # the freed actor already runs its next request while the caller handles (stores) a result
    assert in_flight[: len(requests) - 2] == [2] * (len(requests) - 2)
    assert scripted_pool.submitted - submitted_before == 14 and scripted_pool.in_flight == 0
    # the same long-lived actors served every request (their data would be loaded once)
    infos_after = scripted_pool.actor_info()
    assert [i["pid"] for i in infos_after] == [i["pid"] for i in infos_before]
    assert sum(i["calls"] for i in infos_after) - sum(i["calls"] for i in infos_before) == 14


@pytest.mark.timeout(180)
def test_ray_and_inline_give_equal_results_on_real_tasks(ray_session, tmp_path) -> None:
    """``workers.evaluate`` on tiny real tasks, in-process and on two actors that share the
    logical GPU through ``gpus_per_actor="auto"`` (the requests ask for the CPU)."""
    requests = [
        EvalRequest(request_id=f"{task}-{i}", entries=[EntrySpec.of_genome(g) for g in genomes],
                    task=task, seeds=[0, 1], steps=4, device="cpu", data_dir=str(tmp_path))
        for i, (task, genomes) in enumerate([
            ("rastrigin_direct", GENOMES[:3]), ("six_hump_camel_direct", GENOMES[1:]),
            ("two_moons", GENOMES[:2]), ("qubic_1d_direct", GENOMES),
        ])
    ]  # fmt: skip
    with InlineExecutor() as inline:
        expected = {o.request_id: o for o in inline.map_unordered(requests)}
    with RayExecutor(num_actors=2, cpus_per_actor=1.0, gpus_per_actor="auto") as pool:
        got = {o.request_id: o for o in pool.map_unordered(requests)}
        infos = pool.actor_info()
    assert pool.resources.num_gpus == 0.5 and [i["gpu_ids"] for i in infos] == [[0], [0]]
    assert sorted(got) == sorted(expected) == sorted(r.request_id for r in requests)
    for rid, outcome in got.items():
        assert outcome.ok and outcome.attempts == 1, outcome.error
        assert comparable(outcome.result) == comparable(expected[rid].result)
        assert outcome.result.worker in {i["worker"] for i in infos}  # it ran on one of the actors


@pytest.mark.timeout(180)
def test_make_executor_packs_fractional_gpu_actors_on_the_logical_gpu(ray_session, tmp_path) -> None:
    from evo.config.schema import ExecutorConfig

    inline = make_executor(ExecutorConfig(kind="inline", max_retries=1), evaluate=scripted_evaluate)
    assert isinstance(inline, InlineExecutor) and inline.max_retries == 1

    assert ray_session.cluster_resources().get("GPU") == 1.0
    cfg = ExecutorConfig(kind="ray", num_actors=4, cpus_per_actor=0.5, gpus_per_actor=0.25, max_retries=0)
    with make_executor(cfg, evaluate=scripted_evaluate) as pool:
        assert isinstance(pool, RayExecutor) and pool.max_retries == 0
        infos = pool.actor_info()
        outcomes = list(pool.map_unordered([request(f"g{i}", data_dir=tmp_path) for i in range(8)]))
    assert pool.resources == ActorResources(num_cpus=0.5, num_gpus=0.25)
    assert len({i["pid"] for i in infos}) == 4  # all four started: packed on the one GPU
    assert all(i["gpu_ids"] == [0] and i["torch_threads"] == 1 for i in infos), infos
    assert sorted(o.request_id for o in outcomes) == sorted(f"g{i}" for i in range(8))
    assert all(o.ok for o in outcomes)
    assert pool.actors == []  # closed: its actors are gone


def test_more_gpus_than_the_cluster_has_fail_at_once(ray_session) -> None:
    started = time.monotonic()
    with pytest.raises(ClusterResourceError, match="GPUs"):
        RayExecutor(num_actors=5, cpus_per_actor=0.1, gpus_per_actor=0.25, evaluate=scripted_evaluate)
    with pytest.raises(ClusterResourceError, match="CPUs"):
        RayExecutor(num_actors=5, cpus_per_actor=1.0, evaluate=scripted_evaluate)
    assert time.monotonic() - started < 10


@pytest.mark.timeout(180)
def test_an_actor_killed_mid_run_is_replaced_and_nothing_is_lost(
    scripted_pool, ray_session, tmp_path
) -> None:
    requests = [request(f"k{i}", ms=150, data_dir=tmp_path) for i in range(12)]
    received: list[Outcome] = []
    replaced_before = scripted_pool.replaced_actors
    victim = scripted_pool.actors[0]
    victim_pid = scripted_pool.actor_info()[0]["pid"]
    for outcome in scripted_pool.map_unordered(requests):
        received.append(outcome)
        if len(received) == 2:
            assert scripted_pool.in_flight == 2  # the victim holds work right now (one per actor)
            ray_session.kill(victim)
    pids = {i["pid"] for i in scripted_pool.actor_info()}
    ids = [o.request_id for o in received]
    assert sorted(ids) == sorted(r.request_id for r in requests) and len(set(ids)) == len(ids)
    assert all(o.ok and o.attempts == 1 for o in received)  # a death is not an attempt
    assert all(calls_so_far(r) <= 2 for r in requests)  # resubmitted at most once
    assert sum(o.actor_deaths for o in received) == 1  # only the running request is blamed
    assert scripted_pool.replaced_actors == replaced_before + 1
    assert victim_pid not in pids and len(pids) == 2
    with pytest.raises(ProcessLookupError):
        os.kill(victim_pid, 0)


@pytest.mark.timeout(180)
def test_a_request_that_crashes_every_actor_is_given_up(ray_session, tmp_path) -> None:
    crash, fine = request("crash", "crash", data_dir=tmp_path), request("fine", ms=50, data_dir=tmp_path)
    # two in flight: ``fine`` is queued behind the crash on the same actor (a bystander)
    options = {"evaluate": scripted_evaluate, "max_actor_deaths": 0, "in_flight_per_actor": 2}
    with RayExecutor(num_actors=1, **options) as pool:
        outcomes = {o.request_id: o for o in pool.map_unordered([crash, fine])}
    # ``fine`` sat behind the crash on the same actor: resubmitted without blame, and done
    assert outcomes["fine"].ok and outcomes["fine"].actor_deaths == 0 and calls_so_far(fine) == 1
    assert not outcomes["crash"].ok and outcomes["crash"].actor_deaths == 1
    assert "actor died 1 time(s)" in outcomes["crash"].error and outcomes["crash"].attempts == 0
    assert calls_so_far(crash) == 1 and pool.replaced_actors == 1


@pytest.mark.timeout(180)
def test_an_abandoned_map_leaves_the_pool_usable(ray_session, tmp_path) -> None:
    first = [request(f"a{i}", ms=100, data_dir=tmp_path) for i in range(6)]
    second = [request(f"b{i}", ms=10, data_dir=tmp_path) for i in range(4)]
    with RayExecutor(num_actors=1, evaluate=scripted_evaluate) as pool:
        for _ in pool.map_unordered(first):
            break  # e.g. Ctrl-C in the driver
        assert pool.in_flight == 0
        outcomes = list(pool.map_unordered(second))
    assert sorted(o.request_id for o in outcomes) == [r.request_id for r in second]
    assert all(o.ok and o.attempts == 1 for o in outcomes)
