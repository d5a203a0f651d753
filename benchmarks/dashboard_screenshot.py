"""The screenshot in the docs: ``evo dashboard``'s run page in headless Chromium, during a run.

By default a small job (inline executor, two training tasks, a held-out task, four fixed
entries) is started into a temporary SQLite file, the dashboard is served on it, and the run
page is captured once ``--after`` generations have closed (status "running", the chart, the
ranked table and the paired comparisons all drawn). With ``--db`` and ``--run`` an existing
run is captured instead.

Usage::

    python benchmarks/dashboard_screenshot.py                 # writes docs/pictures/dashboard.png
    python benchmarks/dashboard_screenshot.py --db sqlite:///runs/evo.db --run quick -o shot.png

Needs Chromium on PATH and websocket-client (the dev extra).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_common import ROOT, evo, start_dashboard, stop, wait_for_run

sys.path.insert(0, str(ROOT / "tests"))
from browser_helpers import Browser

JOB = {
    "name": "demo",
    "seed": 7,
    "tasks": ["two_moons", "rosenbrock_direct"],
    "holdout_tasks": ["six_hump_camel_direct"],
    "evaluation": {"steps": 60, "seeds": [0, 1, 2], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 8, "elites": 2, "tournament_k": 3, "generations": 30},
    "fixed_entries": ["adam", "sgd_momentum", "rmsprop", "lion"],
    "executor": {"kind": "inline", "max_retries": 0},
}
DRAWN = """(() => {{
  const done = document.getElementById('generations-done');
  return Boolean(done && Number(done.textContent) >= {after} && document.querySelector('#ranking-body table')
    && document.querySelector('#paired-body table') && document.querySelector('#fitness-chart .point'));
}})()"""


def capture(base: str, run: str, after: int, output: Path) -> None:
    with Browser(width=1200, height=900) as browser:
        browser.goto(f"{base}/runs/{run}")
        browser.wait_for(DRAWN.format(after=after), timeout_s=600, every_s=0.5)
        browser.screenshot(output)
        browser.evaluate("1")
        if browser.errors:
            raise RuntimeError(f"JavaScript errors on the page: {browser.errors}")
    print(f"wrote {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="An existing store (default: a new run in a temporary file).")
    parser.add_argument("--run", default=JOB["name"], help="The run to show.")
    parser.add_argument("--after", type=int, default=8, help="Capture once this many generations closed.")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "pictures" / "dashboard.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        driver = server = None
        try:
            url = args.db
            if url is None:
                config = Path(tmp) / "demo.yaml"
                config.write_text(yaml.safe_dump(JOB))
                url = f"sqlite:///{Path(tmp) / 'evo.db'}"
                driver = evo("run", str(config), "--db", url)
                wait_for_run(url, driver)
            server, base = start_dashboard(url, refresh_s=1.0)
            capture(base, args.run, args.after if args.db is None else 0, args.output)
        finally:
            stop(server)
            stop(driver)


if __name__ == "__main__":
    main()
