"""A population of MLPs trained on cross-entropy, forward and backward written out by hand.

For a ``Sequential`` of ``Linear`` layers (with bias) and ``ReLU``/``Tanh`` between them,
stacked parameters ``W_l [P, out, in]``, ``b_l [P, out]`` and inputs ``x [P, B, in]``:

.. math::

    z_l &= b_l + h_{l-1} W_l^T \\quad (\\text{baddbmm}), \\quad h_l = a(z_l), \\quad h_0 = x \\\\
    \\ell_i &= \\tfrac1B \\sum_b -\\log \\mathrm{softmax}(z_L)_{i b y_{ib}} \\quad [P]

and, for the seed gradient ``s_i`` (1 for a live member, 0 for a frozen one), the gradients
autograd computes for ``sum_i where(alive_i, l_i, 0)``, with the very same ATen calls in the
same order: ``g = s / B`` expanded over the batch, ``nll_loss_backward``,
``_log_softmax_backward_data``; per layer from the top ``dW_l = (h_{l-1}^T g)^T``,
``db_l = sum_b g``, ``g = a'(g W_l)`` (``threshold_backward`` / ``tanh_backward`` on the
layer's output). So every number is the autograd path's bit for bit
(``tests/test_stacked_mlp.py``), but without autograd's graph and with every activation,
gradient and temporary written into buffers allocated once per batch size and reused each
step: on a CPU the autograd path allocates some ten fresh activation-sized tensors per
step, which glibc serves from fresh pages (mmap or a trimmed heap), and those page faults
cost as much as the backward's arithmetic for the two-moons MLP.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

Tensor = torch.Tensor

IGNORE_INDEX = -100
"""``F.cross_entropy``'s default ``ignore_index``."""


def supports(model: nn.Module) -> bool:
    """True for a ``Sequential`` of biased ``Linear`` layers with ``ReLU``/``Tanh`` between them."""
    if not isinstance(model, nn.Sequential) or len(model) == 0:
        return False
    for index, layer in enumerate(model):
        linear_slot = index % 2 == 0
        if linear_slot != isinstance(layer, nn.Linear):
            return False
        if isinstance(layer, nn.Linear) and (layer.bias is None or parametrize.is_parametrized(layer)):
            return False
        if not linear_slot and not isinstance(layer, nn.ReLU | nn.Tanh):
            return False
    return isinstance(model[len(model) - 1], nn.Linear)


class StackedMLP:
    """The forward and backward of P stacked MLPs (see the module docstring) into reused buffers.

    Call :meth:`loss` then :meth:`backward` once per step; the returned gradients live in
    buffers that the next step overwrites (its own, or those given to :meth:`bind`).
    """

    def __init__(self, model: nn.Sequential, params: dict[str, Tensor]) -> None:
        if not supports(model):
            raise ValueError(f"StackedMLP cannot run {type(model).__name__}")
        self.layers = []  # (weight name, bias name, activation after it or None)
        for index in range(0, len(model), 2):
            after = model[index + 1] if index + 1 < len(model) else None
            kind = None if after is None else "relu" if isinstance(after, nn.ReLU) else "tanh"
            self.layers.append((f"{index}.weight", f"{index}.bias", kind))
        self.params = params
        self.grads = {name: torch.empty_like(p) for name, p in params.items()}
        self._buffers: dict[int, dict[str, list[Tensor] | Tensor]] = {}
        self._saved: dict[str, Tensor] | None = None

    def bind(self, params: dict[str, Tensor], grads: dict[str, Tensor]) -> None:
        """From now on read the parameters from ``params`` and write the gradients into
        ``grads`` (tensors shaped like the current parameters, by name: e.g. the views of flat
        buffers, :mod:`workers.population.flat_state`)."""
        shapes = {n: p.shape for n, p in self.params.items()}
        for given in (params, grads):
            if {n: t.shape for n, t in given.items()} != shapes:
                raise ValueError("StackedMLP.bind: tensors must match the parameters by name and shape")
        self.params, self.grads = params, grads

    def _buffers_for(self, batch: int) -> dict:
        if batch not in self._buffers:
            members = next(iter(self.params.values())).shape[0]
            first = self.params[self.layers[0][0]]
            opts = {"dtype": first.dtype, "device": first.device}
            outs = [self.params[w].shape[1] for w, _, _ in self.layers]
            ins = [self.params[w].shape[2] for w, _, _ in self.layers]
            self._buffers[batch] = {
                "z": [torch.empty(members, batch, o, **opts) for o in outs],  # layer outputs (activated)
                "log_probs": torch.empty(members * batch, outs[-1], **opts),
                "dz": [torch.empty(members, batch, o, **opts) for o in outs[:-1]],  # d loss / d h_l
                "dwt": [torch.empty(members, i, o, **opts) for i, o in zip(ins, outs, strict=True)],
            }
        return self._buffers[batch]

    @torch.no_grad()
    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Per-member mean cross-entropy [P] of inputs ``x [P, B, in]``, labels ``y [P, B]``."""
        buf = self._buffers_for(x.shape[1])
        h = x
        for (w, b, kind), z in zip(self.layers, buf["z"], strict=True):
            torch.baddbmm(self.params[b].unsqueeze(1), h, self.params[w].transpose(1, 2), out=z)
            if kind == "relu":
                torch.relu_(z)
            elif kind == "tanh":
                torch.tanh_(z)
            h = z
        logits = h.flatten(0, 1)
        log_probs = torch._log_softmax(logits, 1, False, out=buf["log_probs"])
        labels = y.flatten()
        per_example, total_weight = torch.ops.aten.nll_loss_forward(log_probs, labels, None, 0, IGNORE_INDEX)
        self._saved = {"x": x, "y": y, "labels": labels, "total_weight": total_weight, "buf": buf}
        return per_example.view(y.shape).mean(1)

    @torch.no_grad()
    def backward(self, alive: Tensor) -> dict[str, Tensor]:
        """Gradients of ``sum_i where(alive_i, loss_i, 0)`` for the last :meth:`loss`, by name."""
        if self._saved is None:
            raise RuntimeError("StackedMLP.backward needs a loss first")
        x, y, buf = self._saved["x"], self._saved["y"], self._saved["buf"]
        members, batch = y.shape
        everyone = bool(alive.all())  # the usual case: the seed of the last such step, reused
        per_example = buf.get("seed_all_alive") if everyone else None
        if per_example is None:
            seed = torch.where(alive, torch.ones((), dtype=x.dtype, device=x.device).expand(members), 0.0)
            per_example = (seed.unsqueeze(1).expand(members, batch) / batch).reshape(-1)  # mean's backward
            if everyone:
                buf["seed_all_alive"] = per_example
        saved = self._saved
        g = torch.ops.aten.nll_loss_backward(
            per_example, buf["log_probs"], saved["labels"], None, 0, IGNORE_INDEX, saved["total_weight"]
        )
        g = torch.ops.aten._log_softmax_backward_data(g, buf["log_probs"], 1, x.dtype)
        g = g.view(members, batch, -1)
        for index in range(len(self.layers) - 1, -1, -1):
            w, b, _ = self.layers[index]
            h_in = x if index == 0 else buf["z"][index - 1]
            torch.bmm(h_in.transpose(1, 2), g, out=buf["dwt"][index])
            self.grads[w].copy_(buf["dwt"][index].transpose(1, 2))
            torch.sum(g, 1, keepdim=True, out=self.grads[b].unsqueeze(1))
            if index == 0:
                break
            dz = buf["dz"][index - 1]
            torch.bmm(g, self.params[w], out=dz)
            if self.layers[index - 1][2] == "relu":
                torch.ops.aten.threshold_backward.grad_input(dz, h_in, 0, grad_input=dz)
            else:
                torch.ops.aten.tanh_backward.grad_input(dz, h_in, grad_input=dz)
            g = dz
        self._saved = None
        return self.grads
