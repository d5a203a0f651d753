"""The dashboard's HTML: one shell per page; ``static/dashboard.js`` fills it from the JSON API.

A shell carries its page kind and parameters as JSON in ``<script id="page-data">``; the
script draws the tables and the SVG charts itself (no CDN, nothing fetched from elsewhere).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

NAV = '<nav><a href="/">runs</a></nav>'


def _data_json(data: dict[str, Any]) -> str:
    """``data`` as JSON that cannot end the ``<script>`` element it sits in."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(kind: str, title: str, data: dict[str, Any]) -> str:
    """The shell of page ``kind`` (runs, run, genome, compare) with ``data`` for its script."""
    payload = _data_json({"page": kind, **data})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · evo dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
</head><body data-page="{escape(kind)}">
<header>{NAV}<h1 id="title">{escape(title)}</h1><p id="message" class="message" hidden></p></header>
<main id="main"></main>
<script id="page-data" type="application/json">{payload}</script>
<script src="/static/dashboard.js"></script>
</body></html>"""


def error_page(code: int, message: str) -> str:
    """A page for an unknown run or genome (404) or a database error, with the one-line reason."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{code} · evo dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css"></head>
<body data-page="error"><header>{NAV}<h1>{code}</h1></header>
<main><p class="message">{escape(message)}</p></main></body></html>"""
