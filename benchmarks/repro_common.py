"""Shared by the reproduction benchmarks: markdown tables, result files, machine facts.

Each benchmark writes ``benchmarks/results/<name>.json`` (numbers, settings, machine) and
``benchmarks/results/<name>.md`` (the tables it printed). Run the scripts from the
repository root, e.g. ``.venv/bin/python benchmarks/reproduce_nn_optimization.py``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from storage.records import finite_json

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def command_line() -> str:
    """The command that produced the results, as a user would type it."""
    return " ".join([".venv/bin/python", *sys.argv])


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers with ``digits`` significant decimals; NaN / None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.{digits}f}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(fmt(v, digits) for v in value) + ")"
    return str(value)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value, NaN for none)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    spread = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return statistics.fmean(finite), spread


def pm(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± std`` of the values."""
    mean, std = mean_std(values)
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells that are not strings go through :func:`fmt`."""
    cells = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def write_results(name: str, payload: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``<name>.json`` (payload + machine + command) and ``<name>.md``; return the paths."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = finite_json({"benchmark": name, "command": command_line(), "machine": machine(), **payload})
    json_path = RESULTS_DIR / f"{name}.json"
    json_path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    md_path = RESULTS_DIR / f"{name}.md"
    md_path.write_text(f"{markdown.rstrip()}\n\nCommand: `{command_line()}`\n", encoding="utf-8")
    return json_path, md_path


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
