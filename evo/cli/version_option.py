"""``evo --version``: the app's option, printed before any command runs."""

from __future__ import annotations

from typing import Annotated

import typer

from evo.api.version import DISTRIBUTION, package_version


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"evo {package_version()} (distribution {DISTRIBUTION})")
        raise typer.Exit()


def version_option(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Evolve PyTorch optimizers with a genetic algorithm on Ray; results in SQLite."""
