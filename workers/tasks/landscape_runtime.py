"""A landscape task ready to train: a model whose output is the point, the gap as loss.

The training loss is the gap ``f(model()) - f_min`` (same gradients as f); see
:mod:`workers.fitness` for the divergence rule and the score. Start points come from a
stream seeded by the landscape's name and the seed, so ``{fn}_direct`` and
``{fn}_overparam`` start at the same point for the same seed. A member's placed initial
weights are computed once per process and (task, seed); ``pretrain=True`` runs the seed's
Adam initialisation phase before the exact placement (see :mod:`workers.tasks.landscape_models`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import nn

from workers.fitness import landscape_divergence_bound, landscape_score
from workers.population.stacked_forward import PopulationContext, chunk, population_forward
from workers.seeding import MemberStreams, make_generator
from workers.tasks.landscape_models import place_at
from workers.tasks.landscapes import Landscape
from workers.tasks.models import build_model
from workers.tasks.runtime import Score

Tensor = torch.Tensor

_PLACED: dict[tuple[str, int, bool], dict[str, Tensor]] = {}
_PLACED_LOCK = threading.Lock()


class LandscapeRuntime:
    """Full-batch minimisation of an analytic function through a point-producing model (a Runtime)."""

    def __init__(
        self,
        task: str,
        landscape: Landscape,
        model_factory: Callable[[], nn.Module],
        device: torch.device,
        pretrain: bool = False,
    ) -> None:
        self.task, self.landscape, self.model_factory, self.device = task, landscape, model_factory, device
        self.pretrain = pretrain

    def streams(self, seed: int) -> MemberStreams:
        return MemberStreams.create(self.task, seed, self.device)

    def start_point(self, seed: int) -> Tensor:
        """The member's start point [D] (CPU)."""
        return self.landscape.start_point(make_generator(self.landscape.name, seed, "start"))

    def model_for(self, seed: int, streams: MemberStreams) -> nn.Module:
        """A model initialised from the member's ``init`` stream whose output is the start point."""
        model = build_model(self.model_factory, streams.init, "cpu")
        key = (self.task, seed, self.pretrain)
        with _PLACED_LOCK:
            if key not in _PLACED:
                place_at(model, self.start_point(seed), pretrain=self.pretrain)
                _PLACED[key] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.load_state_dict(_PLACED[key])
        return model.to(self.device)

    def gap(self, points: Tensor) -> Tensor:
        """Gap to the global minimum of points [..., D] -> [...]."""
        return self.landscape.gap(self.landscape.fn(points))

    @torch.no_grad()
    def divergence_bound(self, model: nn.Module) -> float:
        return landscape_divergence_bound(float(self.gap(model()).sum()))

    def cursor(self, streams: MemberStreams) -> None:
        return None

    def batch(self, cursor: None, streams: MemberStreams) -> None:
        return None

    def loss(self, model: nn.Module, batch: None) -> Tensor:
        return self.gap(model()).sum()  # model() is [1, D]

    def _score(self, point: Tensor) -> Score:
        """Score of a final point [1, D]."""
        value = float(self.landscape.fn(point).sum())
        gap = value - self.landscape.f_min
        distance = float(self.landscape.distance_to_minimizer(point).sum())
        return Score(
            landscape_score(gap), {"final_gap": gap, "final_value": value, "distance_to_min": distance}
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> Score:
        model.eval()
        return self._score(model())

    def population_batch(self, cursors: list[None], streams: list[MemberStreams]) -> None:
        return None

    def population_loss(
        self,
        model: nn.Module,
        params: dict[str, Tensor],
        buffers: dict[str, Tensor],
        batch: None,
        generators: list[torch.Generator],
    ) -> Tensor:
        points = population_forward(
            model, params, buffers, None, PopulationContext(True, generators)
        )  # [P, 1, D]
        return self.gap(points).sum(-1)  # [P]

    @torch.no_grad()
    def population_evaluate(
        self, model: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor], chunk_size: int
    ) -> list[Score]:
        members = next(iter(params.values())).shape[0]
        points = population_forward(model, chunk(params, 0, members), buffers, None, PopulationContext(False))
        return [self._score(points[i]) for i in range(members)]
