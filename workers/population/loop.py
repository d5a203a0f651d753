"""The population path: P = genomes x seeds members trained at once on stacked parameters.

Every member keeps its own initialisation, data order, augmentation and dropout streams
(those of the sequential path), and all members are updated by the shared genome rule,
:func:`optimizers.rule.population_update_` (the in-place multi-tensor rule of
``GenomeOptimizer``), called on stacked parameters with coefficients of shape
[P] (:func:`optimizers.rule.rule_coefficients`) and the learning rate of
:func:`optimizers.rule.scheduled_lr` with ``total_steps = steps``, as ``GenomeOptimizer``.
The update's per-member scalars of every step are built once per request
(:class:`~workers.population.scalars.PopulationScalars`, the same numbers).

Per step: each member's loss [P] is checked before the backward pass; a member whose loss
is NaN/inf or above its bound is frozen (its parameters and moments no longer change, its
gradient is masked out) and scored as diverged; the others go on. Forward, backward and
update run over chunks of ``chunk_size`` members (gradients land in the stacked tensors) to
bound activation and temporary memory; members never mix, so chunking changes no number
(:func:`default_chunk_size`: convolution-free models run up to 64 members per chunk, i.e.
one forward, backward and update call per parameter). There is no host sync
per step (losses stay on the device) except a check every ``ALL_DEAD_CHECK`` steps that
stops early when every member has diverged.

A runtime may offer three optional shortcuts, each giving the same numbers bit for bit
(the classification runtime has all three): ``population_start(seeds, streams)`` (stacked
initial parameters without P separate models), ``population_cursors(streams)`` (the
members' batch cursors advanced together) and ``population_trainer(model, params)`` (a
hand-written forward/backward, :class:`~workers.population.stacked_mlp.StackedMLP`, used when the
whole population is one chunk).

Where the hand-written backward runs (plain MLPs on a CPU, one chunk), parameters,
gradients and moments live in flat ``[P, N]`` buffers
(:class:`~workers.population.flat_state.FlatPopulation`; the backward writes the gradients into
them) and each step's update is one call over one tensor per state, the same numbers bit for
bit; everywhere else (autograd: convolutions, landscapes, chunks, a GPU) one tensor per
parameter, updated in groups as below.
"""

from __future__ import annotations

import time

import torch

from optimizers.genome import Genome
from optimizers.rule import rule_coefficients
from workers.outcome import MemberOutcome
from workers.population.flat_state import FlatPopulation
from workers.population.scalars import PopulationScalars
from workers.population.stacked_forward import chunk, stack_members
from workers.tasks.runtime import Runtime

Tensor = torch.Tensor

ALL_DEAD_CHECK = 25
DEFAULT_CHUNK = {"cpu": 8, "cuda": 64}
"""Members per forward/backward/update chunk by device type for convolutional models
(bounds activation memory: P = 32 SmallCNNs stay under 1 GB of training memory on a CPU
with chunks of 8)."""
CONV_FREE_CHUNK = 64
"""Members per chunk for models without convolutions (MLPs, landscapes) on any device:
their activations are small, and every chunk costs a forward, a backward and an update
call per parameter (on a CPU that overhead, not memory, bounds the speed)."""


def convolution_free(model: torch.nn.Module) -> bool:
    """True for models without convolutions (MLPs, landscape models)."""
    return not any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def default_chunk_size(device: torch.device, model: torch.nn.Module | None = None) -> int:
    """Members per chunk on ``device`` for ``model`` (see the two constants above)."""
    if model is not None and convolution_free(model):
        return max(CONV_FREE_CHUNK, DEFAULT_CHUNK.get(device.type, 8))
    return DEFAULT_CHUNK.get(device.type, 8)


def _per_member(mask: Tensor, like: Tensor) -> Tensor:
    """[P] -> [P, 1, ..., 1] to broadcast over ``like``."""
    return mask.view(-1, *([1] * (like.dim() - 1)))


def _members(values: dict[str, Tensor], names: list[str], lo: int, hi: int, whole: bool) -> list[Tensor]:
    """Members lo:hi of the stacked tensors ``names`` (the tensors themselves when ``whole``)."""
    return [values[n] if whole else values[n][lo:hi] for n in names]


def _update_members(
    scalars: PopulationScalars,
    step: int,
    p: list[Tensor],
    grad: list[Tensor],
    exp_avg: list[Tensor],
    exp_avg_sq: list[Tensor],
    alive: Tensor | None,
    lo: int,
    hi: int,
) -> None:
    """One ``population_update_`` of members lo:hi (lists of stacked tensors ``[hi - lo, ...]``)
    at 0-based ``step``, in place; frozen members keep their parameters and moments
    (``alive=None``: every member is alive, no masking needed). Slicing the update bounds its
    temporaries like the forward."""
    if alive is None:
        scalars.update_(step, p, grad, exp_avg, exp_avg_sq, lo, hi)
        return
    keep = [_per_member(alive, x) for x in p]
    saved = [[x.clone() for x in xs] for xs in (p, exp_avg, exp_avg_sq)]
    masked = [torch.where(k, g, 0.0) for k, g in zip(keep, grad, strict=True)]
    scalars.update_(step, p, masked, exp_avg, exp_avg_sq, lo, hi)
    for xs, olds in zip((p, exp_avg, exp_avg_sq), saved, strict=True):
        for x, old, k in zip(xs, olds, keep, strict=True):
            x.copy_(torch.where(k, x, old))


def _update_flat(scalars: PopulationScalars, step: int, flat: FlatPopulation, alive: Tensor | None) -> None:
    """One update of the flat buffers, in place; frozen members (``alive`` False; None: every
    member is alive) keep their parameters and moments: their rows of the three states are
    put back after the update. The update is element-wise, so what it computes for a frozen
    member (from whatever gradient) touches no other member's numbers: those are the numbers
    of :func:`_update_members`' masking, with row copies of the frozen members only instead
    of three copies of everything and a masked copy of the gradients. ORTHO and the trust ratio
    read whole tensors, not elements: with them the update runs on the named views of the
    buffers (the same memory), one tensor per parameter."""
    lists = flat.update_lists() if scalars.elementwise else flat.named_lists()
    if alive is None:
        scalars.update_(step, *lists)
        return
    frozen = (~alive).nonzero().flatten()
    buffers = [flat.flat[state] for state in ("params", "exp_avg", "exp_avg_sq")]
    saved = [x[frozen] for x in buffers]
    scalars.update_(step, *lists)
    for x, old in zip(buffers, saved, strict=True):
        x[frozen] = old


def _update_groups(
    scalars: PopulationScalars,
    step: int,
    params: dict[str, Tensor],
    exp_avg: dict[str, Tensor],
    exp_avg_sq: dict[str, Tensor],
    groups: list[list[str]],
    spans: list[tuple[int, int]],
    whole: bool,
    alive: Tensor | None,
) -> None:
    """The update of one tensor per parameter with autograd's gradients (``.grad``, then
    cleared), group by group and chunk by chunk."""
    grads = {n: torch.zeros_like(p) if p.grad is None else p.grad for n, p in params.items()}
    for group in groups:
        for lo, hi in spans:
            parts = [_members(v, group, lo, hi, whole) for v in (params, grads, exp_avg, exp_avg_sq)]
            _update_members(scalars, step, *parts, None if alive is None else alive[lo:hi], lo, hi)
    for p in params.values():
        p.grad = None


def train_population(
    runtime: Runtime, genomes: list[Genome], seeds: list[int], steps: int, chunk_size: int | None = None
) -> list[MemberOutcome]:
    """Train members (genomes[i], seeds[i]) together; returns their outcomes in order."""
    if len(genomes) != len(seeds) or not genomes:
        raise ValueError("train_population needs one seed per genome and at least one member")
    started = time.perf_counter()
    device = runtime.device
    members = len(genomes)
    streams = [runtime.streams(seed) for seed in seeds]
    start = getattr(runtime, "population_start", None)  # optional: stacks without P models
    if start is not None:
        template, params, buffers, bounds = start(seeds, streams)
    else:
        models = [runtime.model_for(seed, s) for seed, s in zip(seeds, streams, strict=True)]
        bounds = torch.tensor([runtime.divergence_bound(m) for m in models], device=device)
        template = models[0].train()
        params, buffers = stack_members(models)
        del models
    chunk_size = chunk_size or default_chunk_size(device, template)
    together = getattr(runtime, "population_cursors", None)  # optional: cursors advanced together
    cursors = together(streams) if together is not None else [runtime.cursor(s) for s in streams]
    dropout_generators = [s.dropout for s in streams]

    spans = [(lo, min(members, lo + chunk_size)) for lo in range(0, members, chunk_size)]
    whole = len(spans) == 1  # one chunk: the stacked tensors themselves, no slices to scatter back
    trainer = getattr(runtime, "population_trainer", None)  # optional: a backward by hand
    manual = trainer(template, params) if trainer is not None and whole else None
    flat = None
    if manual is not None:  # flat buffers: the backward writes into them, one update call per step
        flat = FlatPopulation(params)
        params = flat.views["params"]
        manual.bind(params, flat.views["grads"])
    coef = rule_coefficients([g.to_seed_dict() for g in genomes], device, torch.float32)
    if flat is None:
        exp_avg = {name: torch.zeros_like(p) for name, p in params.items()}
        exp_avg_sq = {name: torch.zeros_like(p) for name, p in params.items()}
    alive = torch.ones(members, dtype=torch.bool, device=device)
    diverged_at = torch.full((members,), -1, dtype=torch.int64, device=device)
    losses = torch.zeros(steps, members, device=device)

    scalars = PopulationScalars(coef, steps)  # the update's scalars of every step, built once
    names = list(params)
    # convolution-free models: one update call over all their (small) parameters; else one
    # parameter at a time, which bounds the update's temporaries by the largest parameter
    groups = [names] if convolution_free(template) else [[n] for n in names]
    steps_run = 0
    everyone = device.type == "cpu"  # every member alive so far; known on a CPU only (a free host read)
    for step in range(steps):
        batch = runtime.population_batch(cursors, streams)
        for lo, hi in spans:
            if manual is not None:
                loss = manual.loss(*batch)
            else:
                batch_chunk = None if batch is None or whole else tuple(part[lo:hi] for part in batch)
                loss = runtime.population_loss(
                    template,
                    params if whole else chunk(params, lo, hi),
                    buffers if whole else chunk(buffers, lo, hi),
                    batch if whole else batch_chunk,
                    dropout_generators[lo:hi],
                )  # [c]
            healthy = torch.isfinite(loss) & (loss <= bounds[lo:hi])
            losses[step, lo:hi] = loss.detach()
            if not (everyone and bool(healthy.all())):  # the bookkeeping of divergence, if any
                newly = alive[lo:hi] & ~healthy
                diverged_at[lo:hi] = torch.where(newly, step, diverged_at[lo:hi])
                alive[lo:hi] &= healthy
                everyone = everyone and bool(alive.all())
            if manual is not None:
                manual.backward(alive)  # autograd's gradients below, into the flat buffer
            else:
                torch.where(alive[lo:hi], loss, 0.0).sum().backward()
        with torch.no_grad():
            mask = None if everyone else alive  # on a CPU while every member is alive: no masking
            if flat is not None:
                _update_flat(scalars, step, flat, mask)
            else:
                _update_groups(scalars, step, params, exp_avg, exp_avg_sq, groups, spans, whole, mask)
        steps_run = step + 1
        if steps_run % ALL_DEAD_CHECK == 0 and not bool(alive.any()):
            break

    scores = runtime.population_evaluate(template.eval(), params, buffers, chunk_size)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    share = (time.perf_counter() - started) / members
    history = losses[:steps_run].T.cpu().tolist()  # [P][steps_run]
    outcomes = []
    for i, (at, score) in enumerate(zip(diverged_at.tolist(), scores, strict=True)):
        if at >= 0:
            outcomes.append(MemberOutcome("diverged", at, history[i][: at + 1], wall_time_s=share))
        else:
            outcomes.append(
                MemberOutcome(
                    "ok", steps_run, history[i], score.accuracy, dict(score.extra), wall_time_s=share
                )
            )
    return outcomes
