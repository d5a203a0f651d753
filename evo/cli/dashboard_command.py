"""``evo dashboard``: serve the read-only web view of a store (:mod:`evo.dashboard`) with uvicorn.

FastAPI and uvicorn are imported only when the command runs: the other commands start
without them (and without them installed: ``pip install 'evo[dashboard]'``).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated

import typer

from evo.cli.support import DEFAULT_DB, DbOption, database_exists, say, sqlite_file
from evo.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_REFRESH_S = 2.0
WEB_MODULES = ("fastapi", "starlette", "uvicorn")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Raise UsageError (one line) when ``host:port`` cannot be listened on (in use, no such address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UsageError(
            f"--host {host!r} is not an address of this machine ({exc}); use e.g. 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host"
            ) from None


def dashboard(
    db: DbOption = DEFAULT_DB,
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (another than 127.0.0.1 exposes the runs).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = DEFAULT_PORT,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.2, max=3600, help="Seconds between page re-reads.")
    ] = DEFAULT_REFRESH_S,
) -> None:
    """Serve a live, read-only web view of the store: runs, fitness charts, rankings, genomes."""
    try:
        import uvicorn

        from evo.dashboard.web_app import create_app
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in WEB_MODULES:
            raise
        raise UsageError(
            f"evo dashboard needs FastAPI and uvicorn ({exc.name} is missing); pip install 'evo[dashboard]'"
        ) from None
    if not database_exists(db):
        raise UsageError(f"no database at {sqlite_file(db)}; check --db (or EVO_DB), or start a run first")
    check_port(host, port)
    app = create_app(db, poll_ms=round(refresh * 1000))  # opens the store read-only; bad database: fails here
    if not is_loopback(host):
        say(
            f"warning: serving on {host}: anyone who can reach port {port} of this machine reads every "
            "run in this database (no login, no TLS)"
        )
    say(f"evo dashboard: http://{host}:{port}/ (read-only; Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
