"""The markdown blocks other modules write (paired statistics, timings) become HTML in
``index.html``: lists, pipe tables (with escaped bars), headings and paragraphs, read back
with the standard library's HTML parser."""

from __future__ import annotations

from html.parser import HTMLParser

from evo.report.markdown_html import block, inline

BLOCK = """- a vs b: better on `2` of 3 tasks
- **note** <b>not a tag</b>

| vs | rule | p |
|---|---|---:|
| adam | 1*ADAM_TERM \\| lr 1e-3 | 0.5000 |

### Held-out
closing words
on two lines
"""


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag in ("td", "th"):
            self._in_cell, _ = True, self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_cell = self._in_cell and tag not in ("td", "th")

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def test_block_turns_lists_tables_headings_and_paragraphs_into_html() -> None:
    page = Cells()
    page.feed(str(block(BLOCK)))
    assert page.tags.count("li") == 2 and page.tags.count("tr") == 2 and page.tags.count("h3") == 1
    assert page.cells == ["vs", "rule", "p", "adam", "1*ADAM_TERM | lr 1e-3", "0.5000"]
    html = str(block(BLOCK))
    assert "<code>2</code>" in html and "<b>note</b>" in html and "&lt;b&gt;not a tag&lt;/b&gt;" in html
    assert "<p>closing words on two lines</p>" in html
    assert 'style="text-align:right">0.5000' in html


def test_inline_escapes_outside_code_and_inside() -> None:
    assert str(inline("a < b `x<y` **c**")) == "a &lt; b <code>x&lt;y</code> <b>c</b>"
