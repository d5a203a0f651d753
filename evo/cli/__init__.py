"""The ``evo`` command line: the typer app (:mod:`evo.cli.app`), its commands by concern,
tables and progress bars. The top layer: it may import every other part of ``evo``."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """The ``evo`` console script (imports the app only when called, so importing this
    package stays free)."""
    from evo.cli.app import main as app_main

    app_main(argv)
