"""Where evaluation requests run: the executor protocol, the inline and Ray implementations.

:mod:`evo.execution.executor` is the interface both implement; :func:`make_executor` picks
one from a job config and imports it only then, so importing this package starts no Ray.

Example:
    >>> with make_executor(cfg.executor) as executor:  # doctest: +SKIP
    ...     for outcome in executor.map_unordered(requests):
    ...         store_rows(outcome.request_id, outcome.result, outcome.error)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evo.config.schema import ExecutorConfig
    from evo.execution.inline import InlineExecutor
    from evo.execution.ray_pool import RayExecutor
    from workers.actors import EvaluateFn

__all__ = ["make_executor"]


def make_executor(cfg: ExecutorConfig, *, evaluate: EvaluateFn | None = None) -> InlineExecutor | RayExecutor:
    """The executor a job config asks for (``executor.kind``: ``"ray"`` or ``"inline"``)."""
    from evo.execution.inline import InlineExecutor
    from evo.execution.ray_pool import RayExecutor

    if cfg.kind == "inline":
        from workers.process import thread_count

        threads = thread_count(cfg.cpus_per_actor, cfg.threads_per_actor)
        return InlineExecutor(max_retries=cfg.max_retries, evaluate=evaluate, threads=threads)
    return RayExecutor(
        num_actors=cfg.num_actors,
        cpus_per_actor=cfg.cpus_per_actor,
        gpus_per_actor=cfg.gpus_per_actor,
        max_retries=cfg.max_retries,
        address=cfg.address,
        evaluate=evaluate,
        threads_per_actor=cfg.threads_per_actor,
    )
