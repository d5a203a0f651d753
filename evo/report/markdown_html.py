"""The small markdown of the report's text as HTML: inline spans and the blocks other modules
write (:class:`evo.report.model.Markdown`: the paired statistics, the timing table).

Inline: `` `code` `` becomes ``<code>``, ``**bold**`` becomes ``<b>``, everything else is
escaped. Blocks, separated by blank lines or by a change of kind: lines starting ``- ``
(a bulleted list), lines starting ``|`` (a pipe table: header, alignment row ``|---|---:|``,
rows; ``\\|`` is a literal bar), ``### `` headings, and paragraphs (the other lines).
"""

from __future__ import annotations

import re
from html import escape

from markupsafe import Markup

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline(text: str) -> Markup:
    """Escaped ``text`` with its code spans and bold spans as HTML elements."""
    pieces = str(text).split("`")
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(f"<code>{escape(piece)}</code>")
        else:
            out.append(_BOLD.sub(r"<b>\1</b>", escape(piece)))
    return Markup("".join(out))


def _cells(line: str) -> list[str]:
    body = line.strip().removeprefix("|").removesuffix("|")
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def _table(lines: list[str]) -> str:
    head = _cells(lines[0])
    rule = _cells(lines[1]) if len(lines) > 1 and set(lines[1]) <= set("|-: ") else None
    rows = [_cells(line) for line in lines[(2 if rule else 1) :]]
    align = ["right" if (c.endswith(":") and rule) else "left" for c in (rule or [""] * len(head))]

    def row(cells: list[str], tag: str) -> str:
        return (
            "<tr>"
            + "".join(
                f'<{tag} style="text-align:{a}">{inline(c)}</{tag}>'
                for c, a in zip(cells, align, strict=False)
            )
            + "</tr>"
        )

    return "<table>" + row(head, "th") + "".join(row(r, "td") for r in rows) + "</table>"


def _kind(line: str) -> str:
    if line.startswith("- "):
        return "list"
    if line.lstrip().startswith("|"):
        return "table"
    if line.startswith("### "):
        return "heading"
    return "text"


def block(markdown: str) -> Markup:
    """A markdown block (see the module docstring) as HTML."""
    groups: list[tuple[str, list[str]]] = []
    for line in str(markdown).splitlines():
        if not line.strip():
            groups.append(("blank", []))
            continue
        kind = _kind(line)
        if groups and groups[-1][0] == kind and kind != "heading":
            groups[-1][1].append(line)
        else:
            groups.append((kind, [line]))
    html = []
    for kind, lines in groups:
        if kind == "list":
            html.append("<ul>" + "".join(f"<li>{inline(line[2:])}</li>" for line in lines) + "</ul>")
        elif kind == "table":
            html.append(_table(lines))
        elif kind == "heading":
            html.append(f"<h3>{inline(lines[0][4:])}</h3>")
        elif kind == "text":
            html.append(f"<p>{inline(' '.join(lines))}</p>")
    return Markup("\n".join(html))
