"""Mini-batches drawn by index from data already on the device, one member at a time.

Each member walks its own epochs: a fresh permutation of the training subset per epoch from
its ``data`` generator, batches of ``batch_size`` in order, the last batch of an epoch
smaller (as a PyTorch DataLoader with ``shuffle=True, drop_last=False``).
CIFAR-10 augmentation (the seed's RandomHorizontalFlip then RandomCrop(32, padding=4)) is
applied to each batch with the member's ``augment`` generator.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

CROP_PADDING = 4


class BatchCursor:
    """Yields the index batches of one member's epochs."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> None:
        if n < 1 or batch_size < 1:
            raise ValueError(f"Invalid data size {n} or batch size {batch_size}")
        self.n, self.batch_size, self.generator, self.device = n, batch_size, generator, device
        self._order: Tensor | None = None
        self._position = n

    def next_indices(self) -> Tensor:
        """Indices [B] of the next batch (B = batch_size, or the epoch's remainder)."""
        if self._position >= self.n:
            self._order = torch.randperm(self.n, generator=self.generator, device=self.device)
            self._position = 0
        start = self._position
        self._position = min(self.n, start + self.batch_size)
        return self._order[start : self._position]


class StackedCursors:
    """The cursors of a population's members advanced together: :meth:`next_indices` is
    ``torch.stack([c.next_indices() for c in cursors])`` (the same draws from each member's
    generator, in member order, at each epoch start), but members walking the same data in
    step keep their epochs' orders stacked ``[P, n]`` and a step takes one slice of it."""

    def __init__(self, cursors: list[BatchCursor]) -> None:
        self.cursors = cursors
        first = cursors[0]
        self.in_step = all(
            (c.n, c.batch_size, c._position) == (first.n, first.batch_size, first._position) for c in cursors
        )
        self._orders: Tensor | None = None
        self.span: tuple[int, int] | None = None
        """Where the last :meth:`next_indices` lies in :attr:`orders` (None when out of step)."""
        self.epoch_batches: tuple[Tensor, tuple[Tensor, ...]] | None = None
        """A runtime's data gathered for the epoch of the orders it holds (its own cache)."""

    @property
    def orders(self) -> Tensor | None:
        """The members' orders of the current epoch [P, n] (a new tensor each epoch)."""
        return self._orders

    def next_indices(self) -> Tensor:
        """Every member's next batch indices [P, B]."""
        if not self.in_step:
            return torch.stack([c.next_indices() for c in self.cursors])
        first = self.cursors[0]
        if first._position >= first.n or self._orders is None:
            rows = [c.next_indices() for c in self.cursors]  # draws a new epoch where one starts
            self._orders = torch.stack([c._order for c in self.cursors])  # type: ignore[misc]
            self.span = (first._position - rows[0].shape[0], first._position)
            return torch.stack(rows)
        start = first._position
        stop = min(first.n, start + first.batch_size)
        for c in self.cursors:
            c._position = stop
        self.span = (start, stop)
        return self._orders[:, start:stop]


def flip_and_crop(
    images: Tensor, pad_value: Tensor, generator: torch.Generator, padding: int = CROP_PADDING
) -> Tensor:
    """Random horizontal flip (p = 0.5), then a random crop of the original size from the
    image padded by ``padding`` pixels of ``pad_value`` (a black pixel, normalised).

    Args:
        images: [B, C, H, W]; pad_value: [C]; generator: the member's augment stream.
    Returns:
        [B, C, H, W]. Draws: ``rand(B)`` for flips, then ``randint(0, 2 padding + 1, (B, 2))``
        for the (row, column) offsets.
    """
    b, c, h, w = images.shape
    device = images.device
    flip = torch.rand(b, generator=generator, device=device) < 0.5
    offsets = torch.randint(0, 2 * padding + 1, (b, 2), generator=generator, device=device)
    images = torch.where(flip.view(b, 1, 1, 1), images.flip(-1), images)
    padded = pad_value.view(1, c, 1, 1).expand(b, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding : padding + h, padding : padding + w] = images
    rows = offsets[:, 0:1] + torch.arange(h, device=device)  # [B, H]
    cols = offsets[:, 1:2] + torch.arange(w, device=device)  # [B, W]
    batch = torch.arange(b, device=device).view(b, 1, 1, 1)
    channel = torch.arange(c, device=device).view(1, c, 1, 1)
    return padded[batch, channel, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]
