"""Issue 16's pictures: landscape paths, loss-curve bands and the HTML report, rendered from
a small real run (inline executor, landscape tasks, real SQLite store, the CLI in-process).

PNG checks read the real files: signature, the size the figure asks for (IHDR), and not
blank (pixel standard deviation). The browser test loads ``index.html`` in headless
Chromium (skipped with a message where it is missing) with network lookups disabled.
"""

from __future__ import annotations

import base64
import math
import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pytest
import torch
import yaml

from evo.cli.app import main
from evo.evidence.ranking import best
from evo.report.formula import genome_mathml
from evo.report.loss_curves import band, plot_loss_bands, read_curve
from evo.report.trajectories import GENERATOR_SEED, PLANES, contenders, curve_paths, plane_paths, trace
from optimizers.baselines import BASELINE_GENOMES, EVO_SEED_BEST
from optimizers.registry import REGISTRY
from storage import Store
from workers.tasks.landscape_models import Point
from workers.tasks.landscapes import LANDSCAPES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LANDSCAPE_PNGS = {
    "landscape_rastrigin.png": (720, 560),
    "landscape_ackley.png": (720, 560),
    "landscape_rosenbrock.png": (720, 560),
    "landscape_six_hump_camel.png": (720, 560),
    "landscape_ackley_1d.png": (1000, 640),
    "landscape_qubic_1d_1d.png": (1000, 640),
}
REPORT_PNGS = ("fitness.png", "per_task.png", "term_weights.png", "diversity.png")
STEPS = 30
TINY = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "six_hump_camel_direct"],
    "evaluation": {"steps": 12, "seeds": [0, 1, 2], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 2},
    "fixed_entries": ["adam", "sgd_momentum", "alme"],
    "executor": {"kind": "inline", "max_retries": 0},
}
SHOT = (1200, 1600)


def evo(capsys, *args: object) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG header; asserts the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    return struct.unpack(">II", data[16:24])


def assert_picture(path: Path, size: tuple[int, int] | None = None) -> None:
    width, height = png_size(path)
    if size is not None:
        assert (width, height) == size, path
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.std() > 0.05, f"{path.name} looks blank"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    """One finished tiny run and its report, made through the CLI."""
    root = tmp_path_factory.mktemp("pictures")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    url = f"sqlite:///{root / 'evo.db'}"
    report = ("report", "tiny", "--db", url, "-o", root / "report", "--landscape-steps", STEPS)
    for args in (("run", config, "--db", url, "--name", "tiny"), report):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            assert not exc.code, f"evo {args[0]} failed with {exc.code}"
    return {"root": root, "url": url, "report": root / "report"}


# -- paths ------------------------------------------------------------------------------
def test_every_contender_starts_at_the_planes_start_points() -> None:
    plane = PLANES["rosenbrock"]
    rows = plane_paths(plane, contenders(EVO_SEED_BEST, ["adam", "lion"]), 5)
    assert [[p.label for p in row] for row in rows] == [
        ["evolved " + EVO_SEED_BEST.hash[:8], "adam", "lion"]
    ] * 2
    for start, row in zip(plane.starts, rows, strict=True):
        for trail in row:
            assert trail.points[0] == pytest.approx(start) and len(trail.points) == 6
            # the recorded loss of step t is f at the point before it
            assert trail.losses[0] == pytest.approx(float(plane.fn(torch.tensor(start))), rel=1e-5)


def test_adam_path_follows_adam() -> None:
    """The recorded points are torch's Adam iterates (the entry is decoupled-wd Adam)."""
    plane = PLANES["six_hump_camel"]
    trail = plane_paths(plane, contenders(None, ["adam"]), 20)[0][0]
    x = torch.nn.Parameter(torch.tensor([plane.starts[0]]))
    opt = torch.optim.AdamW([x], lr=1e-3, weight_decay=1e-4)
    for t in range(20):
        opt.zero_grad()
        plane.fn(x).sum().backward()
        opt.step()
        assert trail.points[t + 1] == pytest.approx(tuple(x.detach()[0].tolist()), abs=1e-6)


def test_alme_escapes_are_recorded_as_jumps() -> None:
    """ALME on the quartic from its local minimum stagnates and escapes; the recorded jumps
    are the steps ALME itself reports (an independent run with the same generator)."""
    land = LANDSCAPES["qubic_1d"]
    model = Point(1)
    with torch.no_grad():
        model.x.fill_(land.start[0])
    trail = trace(model, land.fn, REGISTRY["alme"], 200, "alme")
    assert trail.jumps, "ALME made no escape"
    x = torch.nn.Parameter(torch.tensor([[land.start[0]]]))
    opt = REGISTRY["alme"].build([x], 200, torch.Generator().manual_seed(GENERATOR_SEED))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = land.fn(x).sum()
        loss.backward()
        return loss

    for _ in range(200):
        opt.step(closure)
    assert trail.jumps == opt.get_stats()["escape_steps"]
    assert trail.points[-1][0] == pytest.approx(x.item(), abs=1e-6)
    adam = trace(Point(1).requires_grad_(), land.fn, REGISTRY["adam"], 50, "adam")
    assert adam.jumps == []


def test_overparameterised_path_starts_at_the_start_point() -> None:
    paths = curve_paths("qubic_1d", contenders(None, ["adam"]), 3)
    for kind in ("direct", "overparam"):
        assert paths[kind][0].points[0][0] == pytest.approx(LANDSCAPES["qubic_1d"].start[0], abs=1e-5)
    assert paths["overparam"][0].points[1] != paths["direct"][0].points[1]  # different parameterisation


@pytest.mark.parametrize("plane", ["rosenbrock", "six_hump_camel"])
def test_population_paths_equal_the_one_at_a_time_paths(plane) -> None:
    """All genome contenders from all starts stacked on the population path give the paths of
    ``trace`` (one GenomeOptimizer at a time), a diverging one included (SGD at lr 1)."""
    wild = BASELINE_GENOMES["sgd_momentum"].model_copy(update={"lr_log10": 0.0})
    chosen = contenders(wild, ["adam", "sgd_momentum", "rmsprop", "evo_seed_best", "lion"])
    alone = plane_paths(PLANES[plane], chosen, 40, one_at_a_time=True)
    together = plane_paths(PLANES[plane], chosen, 40)
    assert any(p.diverged for row in alone for p in row)
    for row_a, row_b in zip(alone, together, strict=True):
        for a, b in zip(row_a, row_b, strict=True):
            assert_same_path(a, b)


def test_population_paths_equal_the_one_at_a_time_paths_through_an_mlp9() -> None:
    chosen = contenders(EVO_SEED_BEST, ["adam", "rmsprop", "alme"])
    alone = curve_paths("qubic_1d", chosen, 15, one_at_a_time=True)
    together = curve_paths("qubic_1d", chosen, 15)
    for kind in ("direct", "overparam"):
        for a, b in zip(alone[kind], together[kind], strict=True):
            assert_same_path(a, b)


def assert_same_path(a, b) -> None:
    assert (a.label, a.diverged, len(a.points), a.jumps) == (b.label, b.diverged, len(b.points), b.jumps)
    for p, q in zip(a.points, b.points, strict=True):
        assert p == pytest.approx(q, rel=1e-4, abs=1e-5), a.label
    assert a.losses == pytest.approx(b.losses, rel=1e-4, abs=1e-5), a.label


# -- loss curves --------------------------------------------------------------------------
def test_band_is_median_and_quartiles_aligned_by_step() -> None:
    curves = [([10, 20, 30], [1.0, 0.5, 0.2]), ([10, 20, 30], [3.0, 1.5, 0.4]), ([10, 20], [2.0, math.nan])]
    b = band(curves)
    assert b.steps == [10, 20, 30] and b.seeds == 3
    assert b.median == pytest.approx([2.0, 1.0, 0.3])
    assert b.q25 == pytest.approx([1.5, 0.75, 0.25]) and b.q75 == pytest.approx([2.5, 1.25, 0.35])


def test_read_curve_is_defensive() -> None:
    assert read_curve({"loss_curve": [1.0, 0.5], "loss_curve_steps": [5, 10]}) == ([5, 10], [1.0, 0.5])
    for bad in (None, {}, {"loss_curve": [1.0]}, {"loss_curve": [1.0], "loss_curve_steps": [1, 2]},
                {"loss_curve": ["x"], "loss_curve_steps": [1]}):  # fmt: skip
        assert read_curve(bad) is None


def test_loss_band_figure(tmp_path) -> None:
    curves = {"a": [([1, 2, 3], [1.0, 0.1, 0.01]), ([1, 2, 3], [2.0, 0.2, 0.02])]}
    bands = {
        t: {"evolved x": band(curves["a"]), "adam": band(curves["a"][:1])} for t in ("t1", "t2", "t3", "t4")
    }
    assert_picture(plot_loss_bands(tmp_path / "loss.png", bands), (1260, 700))


# -- the run's report ---------------------------------------------------------------------
def test_report_draws_every_picture(workspace) -> None:
    out = workspace["report"]
    for name, size in LANDSCAPE_PNGS.items():
        assert_picture(out / name, size)
    for name in REPORT_PNGS:
        assert_picture(out / name)
    md = (out / "report.md").read_text()
    for name in LANDSCAPE_PNGS:
        assert f"({name})" in md


class _Headings(HTMLParser):
    """The text of every ``<h2>`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "h2":
            self._inside, _ = True, self.h2.append("")

    def handle_endtag(self, tag: str) -> None:
        self._inside = self._inside and tag != "h2"

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.h2[-1] += data


def test_markdown_and_html_have_the_same_sections(workspace) -> None:
    md = (workspace["report"] / "report.md").read_text()
    sections = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    page = _Headings()
    page.feed((workspace["report"] / "index.html").read_text())
    assert page.h2 == sections
    for title in ("Best genome's term weights", "Population diversity", "ALME escape events", "Top genomes",
                  "Wall time per generation", "Training vs held-out fitness", "Loss curves"):  # fmt: skip
        assert title in sections


def test_every_picture_written_is_shown_in_both(workspace) -> None:
    out = workspace["report"]
    md, html = (out / "report.md").read_text(), (out / "index.html").read_text()
    pictures = sorted(out.glob("*.png"))
    assert len(pictures) >= len(LANDSCAPE_PNGS) + len(REPORT_PNGS) + 2
    for png in pictures:
        assert f"]({png.name})" in md, png.name
        assert "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode() in html, png.name
    assert md.count("![") == html.count("<img ") == len(pictures)


def test_report_progress_counts_every_picture(workspace, tmp_path) -> None:
    from evo.report.markdown import report_steps, write_report

    calls: list[str] = []
    with Store(workspace["url"]) as store:
        write_report(store, "tiny", tmp_path / "rep", landscape_steps=3, progress=calls.append)
    assert len(calls) == report_steps(True) and "Rosenbrock (2-D)" in calls


def test_report_loss_curves_follow_the_stored_metrics(workspace) -> None:
    """Every member stores its loss curve (interface 1), so the report draws the bands."""
    store = Store(workspace["url"])
    try:
        run = store.get_run("tiny")
        keys = [r.entry_key for r in best(store, run.id, top_k=None)]
        stored = any(read_curve(ev.metrics) for ev in store.evaluations(keys, run.scope.budget_key))
    finally:
        store.close()
    figure = workspace["report"] / "loss_curves.png"
    md = (workspace["report"] / "report.md").read_text()
    assert stored
    assert_picture(figure)
    assert "(loss_curves.png)" in md


def test_html_is_one_page_without_network(workspace) -> None:
    html = (workspace["report"] / "index.html").read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert html.count('src="data:image/png;base64,') >= len(LANDSCAPE_PNGS) + 2
    assert "<math" in html and "evo export tiny --genome" in html
    assert '"fixed_entries"' in html  # the run's config


def test_formula_has_the_genomes_terms() -> None:
    html = genome_mathml(EVO_SEED_BEST)
    canonical = EVO_SEED_BEST.canonical()
    for _, alpha in canonical.terms:
        assert f"<mn>{abs(alpha):.4g}</mn>" in html
    assert "<mi>sign</mi>" in html and "<msqrt>" in html and "warmup over 100 steps" in html


# -- CLI ----------------------------------------------------------------------------------
def test_landscape_command_on_entries_and_on_a_run(workspace, capsys) -> None:
    out = workspace["root"] / "entries"
    code, err = evo(capsys, "landscape", "adam,lion", "-o", out, "--steps", 10, "--db", workspace["url"])
    assert code == 0, err
    for name, size in LANDSCAPE_PNGS.items():
        assert_picture(out / name, size)
    code, err = evo(
        capsys, "landscape", "tiny", "-o", workspace["root"] / "run", "--steps", 5, "--db", workspace["url"]
    )
    assert code == 0, err
    assert len(list((workspace["root"] / "run").glob("landscape_*.png"))) == len(LANDSCAPE_PNGS)


@pytest.mark.parametrize("target", ["adam,nosuch", "no_such_run"])
def test_landscape_command_rejects_unknown_names(workspace, capsys, target) -> None:
    out = workspace["root"] / "bad"
    code, err = evo(capsys, "landscape", target, "-o", out, "--db", workspace["url"])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert not out.exists()


# -- the browser ----------------------------------------------------------------------------
ERROR_HOOK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(e.message || 'resource error'), true);
const __ce = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); __ce(...a); };
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0).length;
  const n = window.__errors.length;
  document.body.setAttribute('data-check', `images=${imgs.length} broken=${broken} errors=${n}`);
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium binary on PATH (install Debian's 'chromium' package; .ci/run does)")


def run_browser(*args: str) -> subprocess.CompletedProcess:
    binary = chromium()
    flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to sandbox as root
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120, check=False)


def test_html_report_in_a_headless_browser(workspace, tmp_path) -> None:
    page = workspace["report"] / "index.html"
    hooked = tmp_path / "hooked.html"
    hooked.write_text(page.read_text().replace("<head>", "<head>" + ERROR_HOOK, 1))
    dom = run_browser("--virtual-time-budget=5000", "--dump-dom", hooked.as_uri())
    n_images = page.read_text().count("<img ")
    assert f'data-check="images={n_images} broken=0 errors=0"' in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "shot.png"
    run_browser(f"--window-size={SHOT[0]},{SHOT[1]}", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), "chromium wrote no screenshot"
    assert_picture(shot, SHOT)
