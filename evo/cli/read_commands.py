"""The commands that read the store: ``evo runs``, ``best``, ``show``, ``export`` and ``upgrade``.

``runs``, ``best`` and ``show`` open the store read-only and start without torch, numpy, Ray
or Alembic (tests/test_cli_imports.py): whatever else they need is imported when asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evo.cli.support import (
    DEFAULT_DB,
    TOP_DEFAULT,
    DbOption,
    RunArg,
    best_title,
    console,
    has_evolved,
    next_steps,
    open_store,
    print_best,
    ranked_with_fixed,
    say,
    say_lines,
    show_best,
)
from evo.cli.tables import runs_table
from evo.errors import UsageError
from evo.evidence.search_order import RankBy

if TYPE_CHECKING:
    from storage import Store
    from storage.records import RunRecord


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
        console().print(runs_table(records, closed, best))


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
            from evo.cli.versus import best_versus

            comparisons = best_versus(store, run_record, vs)
        if holdout:
            if task is not None:
                raise UsageError("give --holdout or --task, not both")
            from evo.cli.versus import holdout_entries

            entries, tasks = holdout_entries(store, run_record, top)
            what = f"held-out fitness, {run_record.scope.holdout_budget_key}"
            title = best_title(run_record.name, entries, top, what)
        else:
            entries, tasks = ranked_with_fixed(store, run_record.id, top, task), None
        if as_json:
            listed = [e.model_dump(mode="json") for e in entries]
            payload = {"entries": listed, "paired": [v.as_json() for v in comparisons]} if vs else listed
            typer.echo(json.dumps(payload, indent=2))
            return
        if holdout:
            scope = run_record.scope
            show_best(store, entries, tasks, scope.holdout_budget_key or "", scope.seeds, title)
        else:
            print_best(store, run_record, top, task, entries)
            if task is None:
                _say_search_pick(store, run_record)
        if not has_evolved(entries):
            say_lines(next_steps(run_record, db, entries))
        for v in comparisons:
            for line in v.lines():
                typer.echo(line)


def _say_search_pick(store: Store, run: RunRecord) -> None:
    """Under lr-robust or normalised fitness, name the GA's own rank-1 (what export writes)."""
    from evo.config.fitness_mode import plain_mean_fitness
    from evo.config.stored_view import stored_view
    from evo.evidence.search_order import ranked_genomes

    if plain_mean_fitness(run.config):
        return
    ranked = ranked_genomes(store, run, "search")
    if ranked:
        view = stored_view(run.config, run.name)
        lr_fitness = f"lr x {list(view.evaluation.lr_multipliers)} by {view.evaluation.lr_aggregate}"
        typer.echo(
            f"the GA's own fitness ({lr_fitness}, normalize {view.fitness.normalize}) ranks "
            f"{ranked[0].entry_key[:10]} first ({ranked[0].fitness:.4f}): evo export writes it; "
            "--by mean writes this table's first"
        )


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
            from evo.runner.timing import timing_rich_table

            console().print(timing_rich_table(run_record.name, store.generations(run_record.id)))
            return
        genome = store.genome(genome_hash)
    console().print(f"[bold]{genome.hash}[/bold]")
    console().print(genome.describe(), highlight=False)
    canonical = genome.canonical()
    if canonical != genome:
        console().print(f"canonical: {canonical.describe()}", highlight=False)
    typer.echo(json.dumps(genome.to_seed_dict(), indent=2))


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
    class_name: Annotated[
        str | None,
        typer.Option("--class-name", help="Class name (default: after what it exports, e.g. AdamOptimizer)."),
    ] = None,
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
    variants aggregated, normalised: evo.evidence.search_order); for a run with the default fitness
    that is evo best's order, which --by mean always gives.
    """
    from evo.evidence.export_choice import ranked_genome, run_steps
    from evo.evidence.provenance import registry_provenance, run_provenance
    from evo.report.optimizer_file import write_optimizer_file
    from optimizers.registry import REGISTRY

    if rank is not None and genome_hash is not None:
        raise UsageError("give --rank or --genome, not both")
    entry = REGISTRY.get(genome_hash) if genome_hash is not None else None
    if genome_hash is not None and entry is not None and entry.genome is None:
        raise UsageError(f"--genome {genome_hash}: not a genome entry of the registry; it cannot be exported")
    if run_name is None:
        if entry is None:
            raise UsageError("give a RUN, or --genome with a registry genome name (e.g. adam, evo_seed_best)")
        genome, steps = entry.genome, total_steps or 1000
        provenance = registry_provenance(genome_hash, genome)
    else:
        with open_store(db, read_only=True) as store:
            run_record = store.get_run(run_name)
            if entry is not None:
                genome = entry.genome
            elif genome_hash is not None:
                genome = store.genome(genome_hash)
            else:
                genome = ranked_genome(store, run_record, rank or 1, by, rank_flag="--rank")
            provenance = run_provenance(store, run_record, genome)
        steps = total_steps or run_steps(run_record)
    from evo.evidence.known_rule import class_name_for

    class_name = class_name or class_name_for(genome, genome_hash if entry is not None else None)
    try:
        path = write_optimizer_file(
            genome, output, class_name=class_name, total_steps=steps, provenance=provenance
        )
    except ValueError as exc:
        raise UsageError(f"--class-name: {exc}") from None
    say(f"wrote {path} ({class_name}: {genome.describe()})")


def upgrade(db: DbOption = DEFAULT_DB) -> None:
    """Upgrade a database written by an older evo to this schema version (reads never do)."""
    from storage.orm import SCHEMA_VERSION

    with open_store(db):
        pass
    say(f"{db} is at schema version {SCHEMA_VERSION}")
