"""The ``evo`` command line: the typer app (:mod:`evo.cli.app`), its commands by concern,
tables and progress bars. The top layer: it may import every other part of ``evo``."""

from __future__ import annotations

import sys

from evo.api.shadowing import shadowing_problem


def main(argv: list[str] | None = None) -> None:
    """The ``evo`` console script (and ``python -m evo``).

    First makes sure ``optimizers``, ``storage`` and ``workers`` are evo's own (a user's
    ``optimizers.py`` in the current folder would hide them): if not, one line and exit 2.
    The app is imported only then, so importing this package stays free.
    """
    problem = shadowing_problem()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    from evo.cli.app import main as app_main

    app_main(argv)
