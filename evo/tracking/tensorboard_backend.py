"""TensorBoard: one event-file folder per evo run, one step per generation.

The run's folder is ``<dir>/<run name>``; a marker file in it holds the run's identity, so
that a later run of the same name (another database, or after the first was deleted) gets
``<dir>/<run name>@<created>`` instead of adding steps to a stranger's curves. A resumed
driver writes a new event file in the same folder (TensorBoard reads them as one run) and
first reads the folder back with TensorBoard's own ``EventAccumulator`` to skip the steps
already there. Scalars are flushed after every generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evo.config.tracking import TensorBoardTracking
from evo.tracking.backend import TrackingBackend
from evo.tracking.run_summary import RunIdentity, Winner

MARKER = ".evo-run"
CONFIG_TAG = "config"
TEXT_SUFFIX = "/text_summary"
"""What ``SummaryWriter.add_text`` appends to a tag in the event file."""


def run_folder(root: Path, identity: RunIdentity) -> Path:
    """The folder of ``identity``'s events: ``root/name``, unless another run's events are there."""
    folder = root / identity.name
    marker = folder / MARKER
    if marker.is_file() and marker.read_text().strip() == identity.uid:
        return folder
    if folder.is_dir() and any(folder.iterdir()):
        return root / f"{identity.name}@{identity.stamp}"
    return folder


def logged_tags(folder: Path) -> tuple[dict[str, int], set[str]]:
    """Last step per scalar tag, and the text tags, of the event files in ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    steps = {tag: max(e.step for e in accumulator.Scalars(tag)) for tag in tags.get("scalars", [])}
    return steps, set(tags.get("tensors", []))


class TensorBoardBackend(TrackingBackend):
    """Scalars and text through ``torch.utils.tensorboard.SummaryWriter``."""

    name = "tensorboard"

    def __init__(self, section: TensorBoardTracking) -> None:
        self.root = Path(section.dir).expanduser()
        self.folder: Path | None = None
        self._writer: Any = None
        self._texts: set[str] = set()

    def open(self, identity: RunIdentity) -> dict[str, int]:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = run_folder(self.root, identity)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / MARKER).write_text(identity.uid + "\n")
        steps, self._texts = logged_tags(self.folder)
        self._writer = SummaryWriter(log_dir=str(self.folder))
        return steps

    def log_run_start(self, params: dict[str, str], config_text: str) -> None:
        if CONFIG_TAG + TEXT_SUFFIX not in self._texts:
            self._writer.add_text(CONFIG_TAG, _code_block(config_text), global_step=0)
            self._writer.flush()

    def log_metrics(self, step: int, walltime: float, metrics: dict[str, float]) -> None:
        for tag, value in metrics.items():
            self._writer.add_scalar(tag, value, global_step=step, walltime=walltime)

    def end_generation(self) -> None:
        self._writer.flush()

    def log_winner(self, winner: Winner, step: int, export_file: Path | None) -> None:
        self._writer.add_text("winner/rule", _code_block(winner.rule), global_step=step)
        rows = "\n".join(f"| {k} | {v} |" for k, v in winner.hyperparameters.items())
        self._writer.add_text(
            "winner/hyperparameters", "| name | value |\n|---|---|\n" + rows, global_step=step
        )
        self._writer.flush()

    def close(self, finished: bool) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _code_block(text: str) -> str:
    """Markdown that TensorBoard's text tab shows verbatim (indented by four spaces)."""
    return "\n".join("    " + line for line in text.splitlines())
