"""The dashboard's web app (FastAPI): a JSON API over the store and the pages that poll it.

JSON API (what the pages use; scripts may call it too)::

    GET /api/runs                          every run: name, status, generations_done, best_fitness, tasks, ...
    GET /api/runs/{name}[?after=K]         one run and its closed generations (index > K)
    GET /api/runs/{name}/ranking[?top=N]   the N best evolved entries and every fixed entry
    GET /api/runs/{name}/paired            the best genome against each fixed entry, paired by seed
    GET /api/genomes/{hash}[?run=NAME]     a genome: rule, MathML, lineage, per-task scores, export line
    GET /api/compare?runs=A&runs=B[...]    two or more runs side by side (repeats)

An unknown run or genome answers 404 with ``{"detail": "<one line>"}``; a database error 503.
Pages: ``/`` (runs), ``/runs/{name}``, ``/genomes/{hash}``, ``/compare?runs=A&runs=B``: HTML
shells whose script (``static/dashboard.js``, no network beyond this server) reads the API
and redraws every :data:`POLL_MS` milliseconds.

The store is opened once, read-only (SQLite ``mode=ro``; PostgreSQL read-only sessions):
every request is one or a few short read transactions, so a driver writing the same
database is never blocked (SQLite in WAL mode lets readers and one writer work at once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from evo.dashboard import genome_reads, pages, run_reads
from evo.dashboard.snapshot_cache import SnapshotCache
from evo.errors import UsageError
from optimizers.errors import EvoError, one_line
from storage import Store
from storage.errors import StorageError, TaskNotInRunError, UnknownGenomeError, UnknownRunError

STATIC = Path(__file__).with_name("static")
POLL_MS = 2000
"""How often the pages re-read the API by default (``evo dashboard --refresh``)."""
NOT_FOUND = (UnknownRunError, UnknownGenomeError, TaskNotInRunError)


def status_of(exc: EvoError) -> int:
    """HTTP status of a user-facing error: 404 unknown name, 400 bad request, 503 database."""
    if isinstance(exc, NOT_FOUND):
        return 404
    if isinstance(exc, UsageError):
        return 400
    return 503 if isinstance(exc, StorageError) else 500


def create_app(url: str, poll_ms: int = POLL_MS) -> FastAPI:
    """The app over the store at ``url``, opened read-only now (errors raise here, before serving);
    its pages re-read the API every ``poll_ms`` milliseconds.

    Raises:
        DatabaseOpenError, SchemaVersionError: as :class:`storage.Store` with ``read_only``.
    """
    store = Store(url, read_only=True)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="evo dashboard", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.store = store
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(EvoError)
    async def _evo_error(request: Request, exc: EvoError) -> Any:
        code = status_of(exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": one_line(exc)}, status_code=code)
        return HTMLResponse(pages.error_page(code, one_line(exc)), status_code=code)

    _api_routes(app, store)
    _page_routes(app, store, poll_ms)
    return app


def _api_routes(app: FastAPI, store: Store) -> None:
    @app.get("/api/runs")
    def api_runs() -> list[dict[str, Any]]:
        return run_reads.list_runs(store)

    @app.get("/api/runs/{name}")
    def api_run(name: str, after: Annotated[int, Query(ge=-1)] = -1) -> dict[str, Any]:
        return run_reads.run_detail(store, name, after)

    cache = SnapshotCache(store)

    @app.get("/api/runs/{name}/ranking")
    def api_ranking(
        name: str, top: Annotated[int, Query(ge=1, le=1000)] = run_reads.TOP_DEFAULT
    ) -> dict[str, Any]:
        return cache.get(("ranking", name, top), lambda: run_reads.ranking(store, name, top))

    @app.get("/api/runs/{name}/paired")
    def api_paired(name: str) -> dict[str, Any]:
        return cache.get(("paired", name), lambda: run_reads.paired(store, name))

    @app.get("/api/genomes/{genome}")
    def api_genome(genome: str, run: str | None = None) -> dict[str, Any]:
        return genome_reads.genome_detail(store, genome, run)

    @app.get("/api/compare")
    def api_compare(runs: Annotated[list[str], Query()] = ()) -> dict[str, Any]:  # type: ignore[assignment]
        return run_reads.compare(store, _two_or_more(runs))


def _two_or_more(runs: list[str]) -> list[str]:
    names = list(dict.fromkeys(n for n in runs if n))
    if len(names) < 2:
        raise UsageError("compare needs two or more runs: /compare?runs=NAME1&runs=NAME2")
    return names


def _page_routes(app: FastAPI, store: Store, poll_ms: int) -> None:
    @app.get("/", response_class=HTMLResponse)
    def runs_page() -> str:
        return pages.page("runs", "evo runs", {"poll_ms": poll_ms})

    @app.get("/runs/{name}", response_class=HTMLResponse)
    def run_page(name: str) -> str:
        run = store.get_run(name)  # an unknown run: the 404 page, not an empty shell
        return pages.page("run", f"run {run.name}", {"run": run.name, "poll_ms": poll_ms})

    @app.get("/genomes/{genome}", response_class=HTMLResponse)
    def genome_page(genome: str, run: str | None = None) -> str:
        found = store.genome(genome)
        if run is not None:
            run = store.get_run(run).name
        return pages.page("genome", f"genome {found.hash}", {"genome": found.hash, "run": run})

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page(runs: Annotated[list[str], Query()] = ()) -> str:  # type: ignore[assignment]
        names = [store.get_run(n).name for n in _two_or_more(runs)]
        return pages.page("compare", "compare " + ", ".join(names), {"runs": names, "poll_ms": poll_ms})
