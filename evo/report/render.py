"""Render a :class:`evo.report.model.Report` as ``report.md`` and ``index.html`` (Jinja2).

The two templates (``evo/report/templates/report.md.j2`` and ``index.html.j2``, package
data) walk the same model, so both files have the same sections, parts and figures. The
page is self-contained: every figure is embedded as a ``data:image/png;base64`` URI, the CSS
is inline, there is no script. HTML autoescaping is on for the page (text becomes HTML only
through the :func:`evo.report.markdown_html.inline` / ``block`` filters) and off for markdown,
where a ``|`` inside a table cell is written ``\\|``.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from evo.output_paths import writing
from evo.report.markdown_html import block, inline
from evo.report.model import Report

MARKDOWN_TEMPLATE = "report.md.j2"
HTML_TEMPLATE = "index.html.j2"


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def environment(out_dir: Path) -> Environment:
    """The templates' environment; ``data_uri`` reads figures from ``out_dir``."""
    env = Environment(
        loader=PackageLoader("evo.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["inline"] = inline
    env.filters["block"] = block
    env.filters["pre"] = lambda text: Markup(escape(str(text), quote=False))  # quotes stay readable
    env.filters["md_cell"] = lambda text: str(text).replace("|", "\\|")
    env.filters["data_uri"] = lambda name: data_uri(Path(out_dir) / name)
    return env


def render(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write ``out_dir/report.md`` and ``out_dir/index.html``; returns both paths."""
    env = environment(out_dir)
    paths = []
    for template, name in ((MARKDOWN_TEMPLATE, "report.md"), (HTML_TEMPLATE, "index.html")):
        text = env.get_template(template).render(report=report)
        path = Path(out_dir) / name
        with writing(path):
            path.write_text(_tidy(text) if name.endswith(".md") else text, encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def _tidy(markdown: str) -> str:
    """At most one blank line in a row, one newline at the end."""
    lines: list[str] = []
    for line in markdown.splitlines():
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"
