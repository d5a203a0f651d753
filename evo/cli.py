"""The ``evo`` command line (typer + rich).

::

    evo run CONFIG [--db URL] [--address ADDR] [--name N] [key=value ...]
    evo resume RUN [--db URL] [--address ADDR]
    evo runs | best RUN [--top K] [--task T] [--json] | show GENOME|RUN
    evo export [RUN] [--rank K | --genome HASH|NAME] [--class-name N] -o FILE.py
    evo compare CONFIG [key=value ...] [--run RUN] | report RUN [RUN ...] -o DIR
    evo run CONFIG --repeats N;  evo best RUN --holdout | --vs ENTRY|all

Tables and JSON go to stdout, progress and messages to stderr. A user error (any
:class:`~optimizers.errors.EvoError`: bad config or override, unknown run, task or genome,
missing data, GPUs asked where there are none) prints one line ``error: ...`` and exits 2;
every check runs before the first write, so the database is left as it was. Ctrl-C (or
SIGTERM) marks the run ``paused`` and says how to resume it (exit 130). ``evo run`` on a run name that
already exists resumes it (its results-relevant config must be unchanged).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from typer._click import exceptions as click_errors  # typer >= 0.25 vendors click here

from evo.errors import UsageError
from evo.lease import refuse_if_live, shown_status
from evo.search_ranking import RankBy
from evo.tables import best_table, runs_table
from optimizers.errors import EvoError, one_line

if TYPE_CHECKING:
    from evo.config import JobConfig
    from evo.executor import Executor
    from evo.ranking import RankedEntry
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import RunRecord

DEFAULT_DB = "sqlite:///runs/evo.db"
TOP_DEFAULT = 10
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="evo",
    help="Evolve PyTorch optimizers with a genetic algorithm on Ray; results in SQLite.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
PIPE_WIDTH = 160
"""Table width when stdout is not a terminal and COLUMNS is unset (rich would use 80)."""


def _console(stderr: bool = False) -> Console:
    """A console on the current stdout/stderr; wide when writing to a pipe or file."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=PIPE_WIDTH)
    return console


def say(message: str) -> None:
    """One plain message line on stderr."""
    _console(stderr=True).print(message, highlight=False, markup=False)


DbOption = Annotated[str, typer.Option("--db", envvar="EVO_DB", help="SQLAlchemy URL of the result store.")]
ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="YAML job config file.")]
RunArg = Annotated[str, typer.Argument(metavar="RUN", help="Run name or id.")]
OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="KEY=VALUE", help="Config overrides key.sub=value, e.g. population.size=8."),
]
ConfigDbOption = Annotated[
    str | None, typer.Option("--db", envvar="EVO_DB", help="SQLAlchemy URL of the store (default: config's).")
]
AddressOption = Annotated[
    str | None, typer.Option("--address", help="Join this Ray cluster (e.g. 'auto' or 'head:6379').")
]


def sqlite_file(url: str) -> Path | None:
    """The file behind an SQLite URL; None for other databases and in-memory SQLite."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # the store reports a bad URL itself
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def database_exists(url: str) -> bool:
    """False only for an SQLite URL whose file is not there (other databases: assume yes)."""
    path = sqlite_file(url)
    return path is None or path.exists()


@contextmanager
def open_store(url: str, create: bool = False, read_only: bool = False) -> Iterator[Store]:
    """The store at ``url``, closed (its engine disposed) on the way out.

    Args:
        create: make a missing SQLite file; otherwise a missing file is a user error
            (a mistyped ``--db`` must not leave an empty database behind).
        read_only: the read commands' open: nothing is created, upgraded or written.
    """
    from storage import Store

    if not create and not database_exists(url):
        raise UsageError(f"no database at {sqlite_file(url)}; check --db (or EVO_DB), or start a run first")
    store = Store(url, read_only=read_only)
    try:
        yield store
    finally:
        store.close()


def option_values(
    db: str | None = None, address: str | None = None, name: str | None = None
) -> dict[str, str]:
    """The options ``--db``, ``--address``, ``--name`` as config values (the ones given):
    plain overrides of ``storage.url``, ``executor.address`` and ``name``, set after the
    ``key=value`` ones and validated with the rest of the config in its one parse."""
    given = {"storage.url": db, "executor.address": address, "name": name}
    return {key: value for key, value in given.items() if value is not None}


def ranked_with_fixed(store: Store, run_id: int, top: int, task: str | None = None) -> list[RankedEntry]:
    """The ``top`` best evolved entries plus every fixed entry, in rank order.

    The fixed entries are always shown, whatever their rank: the table answers "where does
    evolution stand against the known optimizers".
    """
    from evo.ranking import best

    return best(store, run_id, top_k=top, task=task, fixed_too=True)


def _print_best(
    store: Store,
    run: RunRecord,
    top: int = TOP_DEFAULT,
    task: str | None = None,
    entries: list[RankedEntry] | None = None,
) -> None:
    if entries is None:
        entries = ranked_with_fixed(store, run.id, top, task)
    tasks = [task] if task else list(run.scope.tasks)
    title = f"run {run.name!r}: best {top} evolved entries and the fixed entries (fitness, higher is better)"
    if any(e.lr_tuned for e in entries):
        title += "; fixed entries lr-tuned per task over the run's fixed_lr_grid"
    _console().print(best_table(entries, tasks, title=title))


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (``docker stop``, ``kill``) like Ctrl-C: the run is paused, not lost."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _drive(store: Store, run: RunRecord, cfg: JobConfig, executor: Executor, db_url: str) -> None:
    """Run ``run`` (configured by ``cfg``) to its end on ``executor``, then print the final table."""
    from evo.driver import Driver
    from evo.progress import RichProgress

    try:
        with sigterm_as_interrupt(), RichProgress(_console(stderr=True)) as progress:
            Driver(store, run, executor, progress, cfg=cfg).run()
    except KeyboardInterrupt:
        say(f"interrupted: run {run.name!r} is paused; continue it with: evo resume {run.name} --db {db_url}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_best(store, store.get_run(run.id))
    say(f"export the winner with: evo export {run.name} --db {db_url} -o evolved_optimizer.py")


@app.command()
def run(
    config: ConfigArg,
    overrides: OverridesArg = None,
    db: ConfigDbOption = None,
    address: AddressOption = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Run name (default: the config's, else the file stem).")
    ] = None,
    repeats: Annotated[
        int,
        typer.Option("--repeats", min=1, help="Independent runs NAME-r0.. (GA seeds seed, seed+1, ...)."),
    ] = 1,
) -> None:
    """Start a run, or resume the run of that name if it exists."""
    from evo.config import load_config
    from evo.driver import create_run, find_run
    from evo.executor import make_executor
    from evo.preflight import preflight
    from evo.repeats import repeat_configs

    base = load_config(config, overrides or [], option_values(db, address, name))
    preflight(base)
    url = base.storage.url
    todo = []
    for run_name, cfg in repeat_configs(base, base.name or config.stem, repeats):
        existing = None
        if database_exists(url):
            with open_store(url) as store:
                existing = find_run(store, run_name, cfg)
                if existing is not None and existing.status == "finished":
                    say(f"run {run_name!r} already finished; its results:")
                    _print_best(store, existing)
                    continue
                if existing is not None:
                    refuse_if_live(existing)
        todo.append((run_name, cfg, existing))
    if not todo:
        return
    # The executor starts before the store is written (or even created): a cluster that
    # cannot run the job fails with the database as it was.
    with make_executor(base.executor) as executor, open_store(url, create=True) as store:
        for run_name, cfg, existing in todo:
            if existing is None:
                existing = create_run(store, cfg, run_name)
            else:
                say(f"run {run_name!r} exists ({shown_status(existing)}); resuming it")
            _drive(store, existing, cfg, executor, url)
    if repeats > 1:
        names = " ".join(n for n, _ in repeat_configs(base, base.name or config.stem, repeats))
        say(f"compare the repeats with: evo report {names} --db {url} -o report/")


@app.command()
def resume(run_name: RunArg, db: DbOption = DEFAULT_DB, address: AddressOption = None) -> None:
    """Continue a run from its first missing evaluation."""
    from evo.driver import stored_config
    from evo.preflight import preflight

    with open_store(db) as store:
        run_record = store.get_run(run_name)
        cfg = stored_config(run_record, option_values(address=address))
        preflight(cfg)
        if run_record.status == "finished":
            say(f"run {run_record.name!r} already finished; its results:")
            _print_best(store, run_record)
            return
        refuse_if_live(run_record)
        from evo.executor import make_executor

        with make_executor(cfg.executor) as executor:
            _drive(store, run_record, cfg, executor, db)


@app.command()
def runs(db: DbOption = DEFAULT_DB) -> None:
    """List the stored runs."""
    with open_store(db, read_only=True) as store:
        records = store.list_runs()
        closed, best = {}, {}
        for record in records:
            generations = store.generations(record.id)
            closed[record.id] = len(generations)
            finite = [g.best_fitness for g in generations if g.best_fitness == g.best_fitness]
            if finite:
                best[record.id] = max(finite)
        _console().print(runs_table(records, closed, best))


@app.command()
def best(
    run_name: RunArg,
    db: DbOption = DEFAULT_DB,
    top: Annotated[int, typer.Option("--top", min=1, help="How many evolved entries.")] = TOP_DEFAULT,
    task: Annotated[str | None, typer.Option("--task", help="Rank on this task only.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    holdout: Annotated[bool, typer.Option("--holdout", help="Rank on the held-out tasks.")] = False,
    vs: Annotated[
        list[str] | None,
        typer.Option("--vs", help="Best genome vs this fixed entry, paired ('all': every one)."),
    ] = None,
) -> None:
    """The best evolved genomes of a run, with every fixed entry ranked alongside."""
    with open_store(db, read_only=True) as store:
        run_record = store.get_run(run_name)
        comparisons = []
        if vs:  # paired statistics (numpy): imported only when asked for
            from evo.cli_paired import best_versus

            comparisons = best_versus(store, run_record, vs)
        if holdout:
            if task is not None:
                raise UsageError("give --holdout or --task, not both")
            from evo.cli_paired import holdout_entries

            entries, tasks = holdout_entries(store, run_record, top)
            title = (
                f"run {run_record.name!r}: ranked by held-out fitness ({run_record.scope.holdout_budget_key})"
            )
        else:
            entries, tasks = ranked_with_fixed(store, run_record.id, top, task), None
        if as_json:
            listed = [e.model_dump(mode="json") for e in entries]
            payload = {"entries": listed, "paired": [v.as_json() for v in comparisons]} if vs else listed
            typer.echo(json.dumps(payload, indent=2))
            return
        if holdout:
            _console().print(best_table(entries, tasks, title=title))
        else:
            _print_best(store, run_record, top, task, entries)
            if task is None:
                _say_search_pick(store, run_record)
        for v in comparisons:
            typer.echo(v.line())


def _say_search_pick(store: Store, run: RunRecord) -> None:
    """Under lr-robust or normalised fitness, name the GA's own rank-1 (what export writes)."""
    from evo.search_ranking import plain_mean_fitness, ranked_genomes

    if plain_mean_fitness(run.config):
        return
    ranked = ranked_genomes(store, run, "search")
    if ranked:
        evaluation, fitness = run.config.get("evaluation") or {}, run.config.get("fitness") or {}
        lr_fitness = f"lr x {evaluation.get('lr_multipliers')} by {evaluation.get('lr_aggregate')}"
        typer.echo(
            f"the GA's own fitness ({lr_fitness}, normalize {fitness.get('normalize')}) ranks "
            f"{ranked[0].entry_key[:10]} first ({ranked[0].fitness:.4f}): evo export writes it; "
            "--by mean writes this table's first"
        )


@app.command()
def show(
    genome_hash: Annotated[
        str, typer.Argument(metavar="GENOME|RUN", help="Genome hash or unique prefix, or a run name.")
    ],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Print one stored genome (update rule, hash, JSON), or a run's per-generation timing."""
    with open_store(db, read_only=True) as store:
        run_record = next((r for r in store.list_runs() if r.name == genome_hash), None)
        if run_record is not None:
            from evo.generation_timing import timing_rich_table

            _console().print(timing_rich_table(run_record.name, store.generations(run_record.id)))
            return
        genome = store.genome(genome_hash)
    _console().print(f"[bold]{genome.hash}[/bold]")
    _console().print(genome.describe(), highlight=False)
    canonical = genome.canonical()
    if canonical != genome:
        _console().print(f"canonical: {canonical.describe()}", highlight=False)
    typer.echo(json.dumps(genome.to_seed_dict(), indent=2))


@app.command()
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="Python file to write.")],
    run_name: Annotated[
        str | None, typer.Argument(metavar="[RUN]", help="Run name or id (optional with a registry name).")
    ] = None,
    db: DbOption = DEFAULT_DB,
    rank: Annotated[int | None, typer.Option("--rank", min=1, help="K-th best evolved genome.")] = None,
    genome_hash: Annotated[
        str | None, typer.Option("--genome", help="Genome hash or prefix, or a registry name (adam, ...).")
    ] = None,
    class_name: Annotated[str, typer.Option("--class-name", help="Class name.")] = "EvolvedOptimizer",
    total_steps: Annotated[
        int | None, typer.Option("--total-steps", min=1, help="Cosine horizon (default: the run's steps).")
    ] = None,
    by: Annotated[
        RankBy,
        typer.Option(
            "--by", help="Rank by the GA's own fitness (search) or by evo best's mean at the genome's lr."
        ),
    ] = "search",
) -> None:
    """Write a genome as a standalone torch.optim.Optimizer file (needs only torch).

    Without --genome: the run's rank-1 (or --rank K) evolved genome as the GA ranked it (lr
    variants aggregated, normalised: evo.search_ranking); for a run with the default fitness
    that is evo best's order, which --by mean always gives.
    """
    from evo.export_info import registry_provenance, run_provenance
    from optimizers.export import write_optimizer_file
    from optimizers.registry import REGISTRY

    if rank is not None and genome_hash is not None:
        raise UsageError("give --rank or --genome, not both")
    entry = REGISTRY.get(genome_hash) if genome_hash is not None else None
    if genome_hash is not None and entry is not None and entry.genome is None:
        raise UsageError(f"--genome {genome_hash}: not a genome entry of the registry; it cannot be exported")
    if run_name is None:
        if entry is None:
            raise UsageError("give a RUN, or --genome with a registry genome name (e.g. adam, evo_seed_best)")
        genome, provenance, steps = entry.genome, registry_provenance(genome_hash), total_steps or 1000
    else:
        with open_store(db, read_only=True) as store:
            run_record = store.get_run(run_name)
            if entry is not None:
                genome = entry.genome
            elif genome_hash is not None:
                genome = store.genome(genome_hash)
            else:
                genome = _ranked_genome(store, run_record, rank or 1, by)
            provenance = run_provenance(store, run_record, genome)
        steps = total_steps or int(run_record.config.get("evaluation", {}).get("steps", 1000))
    try:
        path = write_optimizer_file(
            genome, output, class_name=class_name, total_steps=steps, provenance=provenance
        )
    except ValueError as exc:
        raise UsageError(f"--class-name: {exc}") from None
    say(f"wrote {path} ({class_name}: {genome.describe()})")


def _ranked_genome(store: Store, run_record: RunRecord, rank: int, by: RankBy) -> Genome:
    """The ``rank``-th best evolved (non-fixed) genome of the run, ranked ``by``."""
    from evo.search_ranking import ranked_genomes

    ranked = ranked_genomes(store, run_record, by)
    if not ranked:
        raise UsageError(f"run {run_record.name!r} has no evaluated genome yet; run or resume it first")
    if rank > len(ranked):
        raise UsageError(f"--rank {rank}: run {run_record.name!r} has only {len(ranked)} ranked genomes")
    return ranked[rank - 1].genome


@app.command()
def compare(
    config: ConfigArg,
    overrides: OverridesArg = None,
    db: ConfigDbOption = None,
    address: AddressOption = None,
    against: Annotated[
        str | None, typer.Option("--run", help="Also: that run's best genome vs every fixed entry (paired).")
    ] = None,
) -> None:
    """Score only the fixed entries, on the config's tasks, seeds and budget."""
    from evo.compare import score_fixed
    from evo.config import load_config
    from evo.executor import make_executor
    from evo.preflight import preflight
    from evo.progress import RichProgress

    cfg = load_config(config, overrides or [], option_values(db, address))
    preflight(cfg)
    with (
        make_executor(cfg.executor) as executor,
        open_store(cfg.storage.url, create=True) as store,
        RichProgress(_console(stderr=True)) as progress,
    ):
        entries = score_fixed(store, cfg, executor, progress)
        if against is not None:
            from evo.cli_paired import best_versus

            comparisons = best_versus(store, store.get_run(against), ["all"])
    tuned = f", lr-tuned per task over {cfg.fixed_lr_grid}" if len(cfg.fixed_lr_grid) > 1 else ""
    _console().print(best_table(entries, cfg.tasks, title=f"fixed entries ({cfg.budget_key}{tuned})"))
    for v in comparisons if against is not None else []:
        typer.echo(v.line())


@app.command()
def report(
    run_names: Annotated[list[str], typer.Argument(metavar="RUN...", help="Run(s); several: their spread.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the report files.")],
    db: DbOption = DEFAULT_DB,
    landscape_steps: Annotated[
        int | None,
        typer.Option("--landscape-steps", min=0, help="Steps per path (0: none; default: run's, <= 500)."),
    ] = None,
) -> None:
    """Write plots, a markdown report and a self-contained index.html of a run (or the spread of several)."""
    from evo.report import write_report

    if len(run_names) > 1:
        from evo.repeats import write_repeats_report

        with open_store(db, read_only=True) as store:
            path = write_repeats_report(store, run_names, output)
        typer.echo(path.read_text(encoding="utf-8"))
        say(f"wrote {path} and {path.with_name('index.html')}")
        return
    with open_store(db, read_only=True) as store:
        run_record = store.get_run(run_names[0])
        path = write_report(store, run_record.id, output, landscape_steps=landscape_steps)
    say(f"wrote {path} and {path.with_name('index.html')}")


@app.command()
def landscape(
    target: Annotated[
        str, typer.Argument(metavar="RUN_OR_ENTRIES", help="A run name or id, or entries: adam,alme.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the landscape PNGs.")],
    db: DbOption = DEFAULT_DB,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Steps per path (default: the run's, else 500).")
    ] = None,
) -> None:
    """Draw optimizer paths on the landscapes: a run's best genome and fixed entries, or named entries."""
    from evo.landscape_plots import draw_landscapes
    from evo.ranking import best
    from evo.report_pictures import DEFAULT_STEPS, run_steps, shown_entries
    from evo.tables import entry_name
    from evo.trajectories import contenders
    from optimizers.registry import REGISTRY

    names = [n.strip() for n in target.split(",")]
    if all(n in REGISTRY for n in names):
        chosen = contenders(None, names)
        n_steps = steps or DEFAULT_STEPS
    elif "," in target or not database_exists(db):
        unknown = ", ".join(n for n in names if n not in REGISTRY)
        raise UsageError(
            f"{target!r} is not a run in {db} and names unknown optimizer(s) {unknown}; "
            f"known: {', '.join(sorted(REGISTRY))}"
        )
    else:
        with open_store(db, read_only=True) as store:
            run_record = store.get_run(target)
            best_entry, fixed = shown_entries(best(store, run_record.id, top_k=None))
        fixed_names = [entry_name(r) for r in fixed if entry_name(r) in REGISTRY]
        if best_entry is None and not fixed_names:
            raise UsageError(f"run {run_record.name!r} has no evaluated genome or fixed entry yet")
        chosen = contenders(best_entry.genome if best_entry else None, fixed_names)
        n_steps = steps or run_steps(run_record)
    for _, path in draw_landscapes(output, chosen, n_steps):
        say(f"wrote {path}")


@app.command()
def upgrade(db: DbOption = DEFAULT_DB) -> None:
    """Upgrade a database written by an older evo to this schema version (reads never do)."""
    from storage.schema import SCHEMA_VERSION

    with open_store(db):
        pass
    say(f"{db} is at schema version {SCHEMA_VERSION}")


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
