"""Turn missing (entry, task, seed) evaluations into work items.

A work item trains a batch of entries on one task for the same seeds, so that a worker can
train them as one population. Entries whose missing seeds on a task are the same are
grouped; each group is cut into requests of at most ``per_request`` entries. Genome entries
and opaque fixed entries (which only the sequential loop can train) never share a request.
The plan is a pure function of its inputs: the same missing set gives the same requests
with the same ids, in the same order. The request fields shared by every item (steps,
split, device, batch size, data folder) come straight from the job config's
``evaluation`` and ``data`` sections.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from evo.config.schema import DataConfig, EvaluationConfig
from workers.requests import EntrySpec, EvalRequest
from workers.tasks.user_tasks import CustomTask


def plan_requests(
    missing: Iterable[tuple[str, str, int]],
    entries: Mapping[str, EntrySpec],
    evaluation: EvaluationConfig,
    data: DataConfig | None = None,
    *,
    prefix: str,
    custom_tasks: Mapping[str, CustomTask] | None = None,
) -> list[EvalRequest]:
    """Requests covering every (entry_key, task, seed) in ``missing`` exactly once.

    Args:
        missing: (entry_key, task, seed) triples; duplicates are harmless.
        entries: the spec of every key that can appear in ``missing``.
        evaluation: steps, split, device and entries per request (``genomes_per_request``).
        data: the data folder (default: :class:`DataConfig`'s).
        prefix: request-id prefix, e.g. ``"g3"``; ids are ``{prefix}:{task}:{n}``.
        custom_tasks: the spec of every user's task key in ``missing`` (sent with its work).
    Raises:
        KeyError: a missing key has no spec (a driver bug, not a user error).
    """
    seeds_of: dict[tuple[str, str], set[int]] = defaultdict(set)
    first_seen: dict[tuple[str, str], int] = {}
    for key, task, seed in missing:
        seeds_of[(key, task)].add(int(seed))
        first_seen.setdefault((key, task), len(first_seen))

    groups: dict[tuple[str, tuple[int, ...], bool], list[str]] = defaultdict(list)
    for key, task in sorted(seeds_of, key=lambda kt: (kt[1], first_seen[kt])):
        opaque = entries[key].genome is None
        groups[(task, tuple(sorted(seeds_of[(key, task)])), opaque)].append(key)

    data_dir = (data or DataConfig()).dir
    per_request = evaluation.genomes_per_request
    requests: list[EvalRequest] = []
    counter: dict[str, int] = defaultdict(int)
    for (task, seeds, _opaque), keys in groups.items():
        for start in range(0, len(keys), per_request):
            requests.append(
                EvalRequest(
                    request_id=f"{prefix}:{task}:{counter[task]}",
                    entries=[entries[k] for k in keys[start : start + per_request]],
                    task=task,
                    custom_task=(custom_tasks or {}).get(task),
                    seeds=list(seeds),
                    steps=evaluation.steps,
                    selection_split=evaluation.selection_split,
                    data_dir=data_dir,
                    device=evaluation.device,
                )
            )
            counter[task] += 1
    return requests


def count_evaluations(requests: Iterable[EvalRequest]) -> int:
    """Members (entry x seed) the requests will produce."""
    return sum(len(r.entries) * len(r.seeds) for r in requests)
