"""Pictures of optimizer paths (see :mod:`evo.report.trajectories`): one PNG per landscape.

* :func:`plot_plane`: filled contours of a 2-D surface (colour ``log10(f - f_min + 1e-3)``
  where the plane asks for it, else ``f``), each optimizer's paths from every start in
  one colour, escape jumps as dashed segments with a ring where they land, start points as
  squares, global minima as stars, the end of a diverged path as a cross; one legend.
* :func:`plot_curve`: a 1-D landscape, direct and overparameterised side by side; top row
  the curve with each path's points ``(x_t, f(x_t))``, bottom row ``x_t`` per step with the
  global minimiser as a line.

Every function draws on its own :class:`~matplotlib.figure.Figure` (Agg), writes ``path``
and returns it.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path as FilePath

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evo.output_paths import writable_folder, writing
from evo.report.trajectories import CURVES, PLANES, Contender, Path, Plane, curve_paths, plane_paths
from workers.tasks.landscapes import LANDSCAPES, Landscape

DPI = 100
GRID = 200
LOG_FLOOR = 1e-3
EVOLVED_COLOR = "crimson"


def colors(labels: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """One colour per label: the evolved genome (``evolved ...``) crimson, the others tab10 minus red."""
    palette = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 3]
    out, i = {}, 0
    for label in labels:
        if label.startswith("evolved"):
            out[label] = to_rgba(EVOLVED_COLOR)
        else:
            out[label] = to_rgba(palette[i % len(palette)])
            i += 1
    return out


def surface(plane: Plane, n: int = GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X, Y, Z`` on an ``n x n`` grid; Z is ``log10(f - f_min + 1e-3)`` for log planes."""
    xs = torch.linspace(*plane.xlim, n, dtype=torch.float64)
    ys = torch.linspace(*plane.ylim, n, dtype=torch.float64)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    z = plane.fn(torch.stack([grid_x, grid_y], dim=-1))
    if plane.log_color:
        z = torch.log10(z - plane.f_min + LOG_FLOOR)
    return grid_x.numpy(), grid_y.numpy(), z.numpy()


def plot_plane(path: FilePath, plane: Plane, paths: Sequence[Sequence[Path]], steps: int) -> FilePath:
    """Contours of ``plane`` with ``paths[start][optimizer]`` drawn over them."""
    fig = Figure(figsize=(7.2, 5.6))
    ax = fig.subplots()
    grid_x, grid_y, z = surface(plane)
    filled = ax.contourf(grid_x, grid_y, z, levels=40, cmap="viridis")
    ax.contour(grid_x, grid_y, z, levels=15, colors="white", linewidths=0.3, alpha=0.5)
    bar = fig.colorbar(filled, ax=ax, shrink=0.9)
    bar.set_label(f"log10(f - f_min + {LOG_FLOOR:g})" if plane.log_color else "f(x, y)")
    labels = [p.label for p in paths[0]] if paths else []
    palette = colors(labels)
    for row in paths:
        for trail in row:
            _draw_path(ax, trail, palette[trail.label])
    for sx, sy in plane.starts:
        ax.plot(sx, sy, "s", color="white", markeredgecolor="black", markersize=8, zorder=5)
    for mx, my in plane.minimizers:
        ax.plot(mx, my, "*", color="gold", markeredgecolor="black", markersize=16, zorder=6)
    ax.set_xlim(*plane.xlim)
    ax.set_ylim(*plane.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"{plane.title}: {steps} steps from {len(plane.starts)} starts")
    handles = [Line2D([], [], color=palette[label], linewidth=2, label=label) for label in labels]
    handles += [
        Line2D([], [], color="black", linestyle="--", linewidth=1, label="escape jump"),
        Line2D([], [], marker="s", linestyle="", color="white", markeredgecolor="black", label="start"),
        Line2D([], [], marker="*", linestyle="", color="gold", markeredgecolor="black", markersize=12,
               label="global minimum"),
        Line2D([], [], marker="x", linestyle="", color="black", label="diverged (left the plane)"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return _save(fig, path)


def _draw_path(ax, trail: Path, color: tuple[float, ...]) -> None:
    """Solid segments for steps, dashed ones for escape jumps, a dot at the end."""
    points = np.asarray(trail.points, dtype=float)
    if len(points) == 0:
        return
    cuts = [0, *trail.jumps, len(points)]
    for a, b in itertools.pairwise(cuts):
        piece = points[a:b]
        if len(piece) > 1:
            ax.plot(piece[:, 0], piece[:, 1], color=color, linewidth=1.6, alpha=0.95)
    for t in trail.jumps:
        (x0, y0), (x1, y1) = points[t - 1], points[t]
        ax.plot([x0, x1], [y0, y1], color=color, linestyle="--", linewidth=1.2)
        ax.plot(x1, y1, "o", markerfacecolor="none", markeredgecolor=color, markersize=6)
    end = points[-1]
    ax.plot(end[0], end[1], "x" if trail.diverged else "o", color=color, markersize=6,
            markeredgecolor="black" if not trail.diverged else color, zorder=4)  # fmt: skip


def plot_curve(
    path: FilePath, landscape: Landscape, paths: dict[str, Sequence[Path]], steps: int
) -> FilePath:
    """A 1-D landscape: direct and overparameterised paths of every optimizer."""
    fig = Figure(figsize=(10, 6.4))
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": [3, 2]})
    labels = [p.label for p in paths["direct"]]
    palette = colors(labels)
    x_min = landscape.minimizers[0][0]
    start = landscape.start[0] if landscape.start else 0.0
    panels = (
        ("direct", "direct (the point is the parameter)"),
        ("overparam", "overparameterised (the point is an MLP9's output)"),
    )
    for col, (kind, title) in enumerate(panels):
        trails = paths[kind]
        xs_all = [v[0] for t in trails for v in t.points] + [x_min, start]
        lo, hi = min(xs_all), max(xs_all)
        pad = max(0.5, 0.15 * (hi - lo))
        lo, hi = lo - pad, hi + pad
        grid = torch.linspace(lo, hi, 800, dtype=torch.float64)
        top, bottom = axes[0][col], axes[1][col]
        top.plot(grid.numpy(), landscape.fn(grid[:, None]).numpy(), color="0.35", linewidth=1.5, zorder=1)
        for trail in trails:
            xs = torch.tensor([p[0] for p in trail.points], dtype=torch.float64)
            fx = landscape.fn(xs[:, None]).numpy()
            c = palette[trail.label]
            top.plot(xs.numpy(), fx, ".", color=c, markersize=3, alpha=0.6, zorder=2)
            top.plot(xs[-1].item(), fx[-1], "x" if trail.diverged else "o", color=c, markersize=8, zorder=3,
                     markeredgecolor="black" if not trail.diverged else c)  # fmt: skip
            bottom.plot(range(len(trail.points)), xs.numpy(), color=c, linewidth=1.4)
            for t in trail.jumps:
                bottom.plot(
                    [t - 1, t], [xs[t - 1].item(), xs[t].item()], color=c, linestyle="--", linewidth=1
                )
        top.plot(x_min, landscape.f_min, "*", color="gold", markeredgecolor="black", markersize=16, zorder=4)
        top.plot(start, float(landscape.fn(torch.tensor([[start]]))[0]), "s", color="white",
                 markeredgecolor="black", markersize=8, zorder=4)  # fmt: skip
        top.set_xlim(lo, hi)
        top.set_title(title, fontsize=10)
        top.set_xlabel("x")
        top.set_ylabel("f(x)")
        bottom.axhline(x_min, color="gold", linestyle="-", linewidth=2, zorder=0)
        bottom.set_xlabel("step")
        bottom.set_ylabel("x")
        bottom.grid(alpha=0.3)
    fig.suptitle(f"{landscape.name} (1-D): {steps} steps from x = {start:g}")
    handles = [Line2D([], [], color=palette[label], linewidth=2, label=label) for label in labels]
    handles += [
        Line2D([], [], marker="*", linestyle="", color="gold", markeredgecolor="black", markersize=12,
               label="global minimum"),
        Line2D([], [], marker="s", linestyle="", color="white", markeredgecolor="black", label="start"),
        Line2D([], [], color="black", linestyle="--", label="escape jump"),
        Line2D([], [], marker="x", linestyle="", color="black", label="diverged (end)"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save(fig, path)


def _save(fig: Figure, path: FilePath) -> FilePath:
    path = FilePath(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    return path


def draw_landscapes(
    out_dir: FilePath,
    contenders_: Sequence[Contender],
    steps: int,
    done: Callable[[str], None] | None = None,
    processes: int | None = None,
) -> list[tuple[str, FilePath]]:
    """Every picture for ``contenders_``: ``landscape_{plane}.png`` for the 2-D planes and
    ``landscape_{name}_1d.png`` for the curves; returns ``(title, path)`` in drawing order
    (:class:`LandscapeDrawing`, waited for at once)."""
    return LandscapeDrawing(out_dir, contenders_, steps, processes).wait(done)


class LandscapeDrawing:
    """The :data:`PICTURES` landscape pictures, started on construction, collected by :meth:`wait`.

    The pictures are independent: with ``processes`` > 1 (default: the CPUs this process may
    use, at most one per picture) each is computed and drawn in its own worker process
    (``forkserver``: the workers fork from a server that imported torch, matplotlib and what
    torch's first optimizer imports, once; none inherits this process's state), the two 1-D
    curves (an MLP9 each, the longest) first, while the caller goes on with other work; else
    they are drawn one after the other in :meth:`wait`. The paths run on one torch thread per
    process: their tensors are small, and a second thread's hand-offs cost more than it computes.
    """

    def __init__(
        self, out_dir: FilePath, contenders_: Sequence[Contender], steps: int, processes: int | None = None
    ) -> None:
        self.out_dir = writable_folder(out_dir)
        self.contenders, self.steps = list(contenders_), steps
        self.jobs = [("plane", name) for name in PLANES] + [("curve", name) for name in CURVES]
        workers = min(len(self.jobs), _usable_cpus() if processes is None else processes)
        self.pool: ProcessPoolExecutor | None = None
        self.futures: dict[Future, int] = {}
        if workers > 1:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__, "torch._dynamo"])  # what a first Optimizer imports
            self.pool = ProcessPoolExecutor(workers, mp_context=context)
            longest_first = sorted(range(len(self.jobs)), key=lambda i: self.jobs[i][0] != "curve")
            for i in longest_first:
                job = self.pool.submit(draw_one, self.out_dir, *self.jobs[i], self.contenders, steps)
                self.futures[job] = i

    def wait(self, done: Callable[[str], None] | None = None) -> list[tuple[str, FilePath]]:
        """``(title, path)`` of every picture in drawing order; ``done(title)`` after each.

        A pool that breaks (a worker killed; a script without a ``__main__`` guard, which the
        workers' start re-runs) leaves the remaining pictures to be drawn here."""
        drawn: dict[int, tuple[str, FilePath]] = {}
        if self.pool is not None:
            try:
                for future in as_completed(self.futures):
                    drawn[self.futures[future]] = future.result()
                    if done is not None:
                        done(drawn[self.futures[future]][0])
            except BrokenProcessPool:
                pass
            finally:
                self.pool.shutdown(cancel_futures=True)
        for i, job in enumerate(self.jobs):
            if i not in drawn:
                drawn[i] = draw_one(self.out_dir, *job, self.contenders, self.steps)
                if done is not None:
                    done(drawn[i][0])
        return [drawn[i] for i in range(len(self.jobs))]


def draw_one(
    out_dir: FilePath, kind: str, name: str, contenders_: Sequence[Contender], steps: int
) -> tuple[str, FilePath]:
    """One picture of :func:`draw_landscapes`: a plane (``kind="plane"``) or a 1-D curve."""
    with torch_threads(1):
        if kind == "plane":
            plane = PLANES[name]
            paths = plane_paths(plane, contenders_, steps)
            return plane.title, plot_plane(out_dir / f"landscape_{name}.png", plane, paths, steps)
        curves = curve_paths(name, contenders_, steps)
        image = plot_curve(out_dir / f"landscape_{name}_1d.png", LANDSCAPES[name], curves, steps)
        return f"{name} (1-D)", image


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


PICTURES = len(PLANES) + len(CURVES)
"""Pictures :func:`draw_landscapes` draws."""


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (the previous number restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
