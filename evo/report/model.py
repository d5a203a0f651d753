"""The report model: what one run's report says, built once from the store and rendered twice.

:class:`Report` holds the title, the summary items and the ordered :class:`Section` list;
``report.md`` and ``index.html`` are two Jinja2 templates over this one object
(:mod:`evo.report.render`), so both files have the same sections, the same tables and the
same pictures. A section is a title, its figures (PNG files in the report folder) and its
parts, each one of:

* :class:`Text`: a paragraph of inline markdown (`` `code` `` and ``**bold**``);
* :class:`Items`: a bulleted (or numbered) list of inline-markdown items;
* :class:`Table`: a header, rows of cell text and per-column alignment;
* :class:`Markdown`: a block written by another module (paired statistics, timings) as
  markdown, kept verbatim in ``report.md`` and converted to HTML (:mod:`evo.report.markdown_html`);
* :class:`Code`: preformatted text (a command, the run's config);
* :class:`Formula`: a rule as MathML (HTML) with its plain-text form (markdown).

The model holds text only (no store, no figure object), so it is cheap to compare and test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Figure:
    """A picture in the report folder: its file name and caption."""

    file: str
    caption: str


@dataclass(frozen=True)
class Text:
    """A paragraph (inline markdown)."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class Items:
    """A list of inline-markdown items, numbered or bulleted."""

    items: tuple[str, ...]
    numbered: bool = False
    kind: Literal["items"] = "items"


@dataclass(frozen=True)
class Table:
    """A table; ``align`` has one of ``"l"``/``"r"`` per column; ``fixed_rows`` are the
    indices of rows that belong to fixed entries (set in italics in HTML)."""

    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[str, ...]
    fixed_rows: tuple[int, ...] = ()
    kind: Literal["table"] = "table"

    def __post_init__(self) -> None:
        if len(self.align) != len(self.head) or any(len(r) != len(self.head) for r in self.rows):
            raise ValueError(f"table {self.head}: every row and the alignment need {len(self.head)} cells")


@dataclass(frozen=True)
class Markdown:
    """A markdown block written by another module (bullets, pipe tables, paragraphs)."""

    text: str
    kind: Literal["markdown"] = "markdown"


@dataclass(frozen=True)
class Code:
    """Preformatted text; ``language`` tags the markdown fence."""

    text: str
    language: str = ""
    kind: Literal["code"] = "code"


@dataclass(frozen=True)
class Formula:
    """A rule as MathML for the page and as text for the markdown."""

    mathml: str
    text: str
    kind: Literal["formula"] = "formula"


Part = Text | Items | Table | Markdown | Code | Formula


@dataclass
class Section:
    """One ``## `` section of the report."""

    title: str
    parts: list[Part] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Report:
    """The whole report of one run."""

    title: str
    summary: list[str]
    sections: list[Section]

    @property
    def figures(self) -> list[Figure]:
        """Every figure of every section, in order."""
        return [f for s in self.sections for f in s.figures]


def note(title: str, text: str) -> Section:
    """A section without data: its title and one line saying why."""
    return Section(title, [Text(text)])
