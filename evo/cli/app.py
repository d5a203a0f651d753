"""The ``evo`` command line (typer + rich).

::

    evo run CONFIG [--db URL] [--address ADDR] [--name N] [key=value ...]
    evo resume RUN [--db URL] [--address ADDR]
    evo runs | best RUN [--top K] [--task T] [--json] | show GENOME|RUN
    evo export [RUN] [--rank K | --genome HASH|NAME] [--class-name N] -o FILE.py
    evo calibrate EXPORTED.py|RUN --task NAME [--steps N] [-o OUT.py]
    evo compare CONFIG [key=value ...] [--run RUN] | report RUN [RUN ...] -o DIR
    evo run CONFIG --repeats N;  evo best RUN --holdout | --vs ENTRY|all

Tables and JSON go to stdout, progress and messages to stderr. A user error (any
:class:`~optimizers.errors.EvoError`: bad config or override, unknown run, task or genome,
missing data, GPUs asked where there are none) prints one line ``error: ...`` and exits 2;
every check runs before the first write, so the database is left as it was. Ctrl-C (or
SIGTERM) marks the run ``paused`` and says how to resume it (exit 130). ``evo run`` on a run name that
already exists resumes it (its results-relevant config must be unchanged).

This module holds the app and its entry point; the commands live in :mod:`evo.cli.run_commands`,
:mod:`evo.cli.read_commands` and :mod:`evo.cli.picture_commands`, what they share in :mod:`evo.cli.support`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from typer._click import exceptions as click_errors  # typer >= 0.25 vendors click here

from evo.cli import calibrate_command as cli_calibrate
from evo.cli import dashboard_command as cli_dashboard
from evo.cli import picture_commands as cli_pictures
from evo.cli import read_commands as cli_read
from evo.cli import run_commands as cli_run
from evo.cli import version_option as cli_version
from evo.cli.support import EXIT_INTERRUPTED, EXIT_USER_ERROR
from optimizers.errors import EvoError, one_line

app = typer.Typer(
    name="evo",
    help="Evolve PyTorch optimizers with a genetic algorithm on Ray; results in SQLite.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # for every command too
)
app.callback()(cli_version.version_option)
# The order here is the order of `evo --help`.
app.command()(cli_run.run)
app.command()(cli_run.resume)
app.command()(cli_read.runs)
app.command()(cli_read.best)
app.command()(cli_read.show)
app.command()(cli_read.export)
app.command()(cli_calibrate.calibrate)
app.command()(cli_run.compare)
app.command()(cli_pictures.report)
app.command()(cli_pictures.landscape)
app.command()(cli_read.upgrade)
app.command()(cli_dashboard.dashboard)


def usage_line(exc: click_errors.ClickException) -> str:
    """A click/typer usage error as one line: command, what is wrong, where help is."""
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"error: {where}{one_line(exc.format_message())}{hint}"


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry: run the app; every user error is one line on stderr and exit 2.

    A usage error (missing argument, unknown option, ``--top -1``) is printed as one line
    by :func:`usage_line` instead of click's usage box; an :class:`EvoError` from any
    command as ``error: <one line>``; anything else is a bug and keeps its traceback.
    """
    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="evo", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()  # plain `evo` / `evo CMD`: the help, as asked
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        print(usage_line(exc), file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except EvoError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    sys.exit(code if isinstance(code, int) else 0)
