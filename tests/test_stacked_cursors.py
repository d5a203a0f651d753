"""Cursors advanced together give each member's own batches and draws, epoch after epoch."""

from __future__ import annotations

import torch

from workers.batches import BatchCursor, StackedCursors

CPU = torch.device("cpu")


def _cursors(seeds, n=10, batch=4):
    return [BatchCursor(n, batch, torch.Generator().manual_seed(s), CPU) for s in seeds]


def test_stacked_cursors_match_member_cursors_over_epochs_with_remainders():
    seeds = [0, 5, 2]
    alone = _cursors(seeds)
    together = StackedCursors(_cursors(seeds))
    assert together.in_step
    for _ in range(3 * 3 + 1):  # three epochs of 4 + 4 + 2, then one more batch
        expected = torch.stack([c.next_indices() for c in alone])
        assert torch.equal(together.next_indices(), expected)
    for c, twin in zip(alone, together.cursors, strict=True):  # generators advanced alike
        assert torch.equal(c.generator.get_state(), twin.generator.get_state())


def test_cursors_out_of_step_are_advanced_one_by_one():
    alone, members = _cursors([1, 3]), _cursors([1, 3])
    for cs in (alone, members):
        cs[1].next_indices()  # member 1 one batch ahead
    together = StackedCursors(members)
    assert not together.in_step
    expected = torch.stack([c.next_indices() for c in alone])  # two full batches: they stack
    assert torch.equal(together.next_indices(), expected)


def test_population_batches_sliced_from_the_epoch_are_the_gathered_ones_and_train_alike():
    """digits (1151 training examples, batches of 128): three epochs, remainders included, of
    the epoch-gathered batches (strided views) against per-step gathers; the MLP step on the
    strided view gives the contiguous batch's loss and gradients bit for bit."""
    from workers.population.stacked_mlp import StackedMLP
    from workers.tasks.registry import TASKS

    runtime = TASKS["digits"].runtime("unused", "val", CPU)
    streams = [runtime.streams(s) for s in (0, 1, 2)]
    together = runtime.population_cursors(streams)
    alone = [runtime.cursor(runtime.streams(s)) for s in (0, 1, 2)]
    template, params, _, _ = runtime.population_start([0, 1, 2], streams)
    mlp_strided, mlp_contiguous = StackedMLP(template, params), StackedMLP(template, params)
    alive = torch.ones(3, dtype=torch.bool)
    for step in range(3 * 9 + 1):
        x, y = runtime.population_batch(together, streams)
        idx = torch.stack([c.next_indices() for c in alone])
        assert torch.equal(x, runtime.data.x_train[idx]) and torch.equal(y, runtime.data.y_train[idx])
        if step in (1, 8, 9):  # a strided view, the epoch's remainder, a fresh epoch
            assert torch.equal(mlp_strided.loss(x, y), mlp_contiguous.loss(x.contiguous(), y.contiguous()))
            strided, contiguous = mlp_strided.backward(alive), mlp_contiguous.backward(alive)
            assert all(torch.equal(strided[n], contiguous[n]) for n in params)
    assert together.epoch_batches is not None and not x.is_contiguous()
