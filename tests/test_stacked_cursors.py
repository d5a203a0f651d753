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
