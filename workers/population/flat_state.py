"""A population's training state in four flat buffers: parameters, gradients, both moments.

For stacked parameters ``{name_i: [P, *shape_i]}`` with ``n_i = prod(shape_i)`` and
``N = sum_i n_i``, each state lives in ONE contiguous buffer ``[P, N]`` and the named tensors
are views of its columns ``o_i : o_i + n_i`` (``o_i = n_0 + ... + n_{i-1}``), reshaped to
``[P, *shape_i]`` (strides ``(N, ...)``). Whatever writes a named view (the forward's reads,
the hand-written backward's gradient writes, :meth:`FlatPopulation.load_`) writes the buffer.

The rule's update (:func:`optimizers.rule.rule_update_`) is element-wise: each element's new
parameter and moments are the same correctly rounded IEEE operations (products, sums,
differences, quotients, square roots, signs, absolute values, maxima and minima; no
reduction) of the same operands (its own gradient, moments and its member's ``[P, 1, ...]``
scalars), whichever tensor holds the element and wherever it falls in a vector register.
So one update of the ``[P, N]`` buffers with ``[P, 1]`` scalars gives the numbers of the
update over the list of named tensors bit for bit (``tests/test_population_flat.py``), with
one kernel per operation instead of one per operation and named tensor (six for a 3-layer
MLP) and one temporary per operation instead of six.

Matrix products only READ the views (a weight view ``[P, out, in]`` with batch stride ``N``
gives the contiguous weight's numbers, checked for the MLP shapes of the tasks and odd
ones); they never write into them: ATen's batched product into a strided output, or into a
transposed one, takes another MKL path whose sums round differently for some shapes (seen:
64 -> 10 and 2 -> 128 layers), so :class:`~workers.population.stacked_mlp.StackedMLP` computes
``dW^T`` into its own contiguous buffer and copies it into the gradient view (the bias
gradients, sums over the batch, go straight into their views: same numbers).

Used by :func:`workers.population.loop.train_population` where the runtime offers a hand-written
backward (``population_trainer``: plain MLPs on a CPU, one chunk), which writes gradients
straight into the flat gradient buffer; everywhere else (autograd, chunks, a GPU) the
population keeps one tensor per parameter.
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor

STATES = ("params", "grads", "exp_avg", "exp_avg_sq")
"""The four buffers, in the argument order of ``rule_update_``."""


class FlatPopulation:
    """Flat ``[P, N]`` buffers for the parameters, gradients and moments of stacked ``params``
    (see the module docstring); the parameters start as a copy of ``params``, the gradients
    and moments at zero.

    Attributes:
        flat: buffer by state name (:data:`STATES`), each ``[P, N]``.
        views: per state name, the named views ``{name: [P, *shape]}`` in ``params``' order.
    """

    def __init__(self, params: dict[str, Tensor]) -> None:
        if not params:
            raise ValueError("FlatPopulation needs at least one parameter")
        first = next(iter(params.values()))
        members, opts = first.shape[0], {"dtype": first.dtype, "device": first.device}
        self.layout: list[tuple[str, tuple[int, ...], int, int]] = []  # name, shape, start, stop
        start = 0
        for name, p in params.items():
            if p.shape[0] != members or p.dtype != first.dtype or p.device != first.device:
                raise ValueError(f"FlatPopulation: {name} is not stacked like the others")
            size = math.prod(p.shape[1:])
            self.layout.append((name, tuple(p.shape[1:]), start, start + size))
            start += size
        self.flat = {state: torch.zeros(members, start, **opts) for state in STATES}
        self.views = {state: self._views(buffer) for state, buffer in self.flat.items()}
        self.load_(params)

    def _views(self, buffer: Tensor) -> dict[str, Tensor]:
        members = buffer.shape[0]
        return {name: buffer[:, lo:hi].view(members, *shape) for name, shape, lo, hi in self.layout}

    @torch.no_grad()
    def load_(self, params: dict[str, Tensor]) -> None:
        """Copy stacked ``params`` (same names and shapes) into the parameter buffer."""
        for name, view in self.views["params"].items():
            view.copy_(params[name])

    def named_lists(self) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """The update's tensor lists as the named views (one tensor per parameter and state),
        for the update terms that read whole tensors (ORTHO, the trust ratio)."""
        return tuple(list(self.views[state].values()) for state in STATES)  # type: ignore[return-value]

    def update_lists(self) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """The update's tensor lists (params, grads, exp_avg, exp_avg_sq): one buffer each."""
        return tuple([self.flat[state]] for state in STATES)  # type: ignore[return-value]
