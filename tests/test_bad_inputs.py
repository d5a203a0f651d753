"""Issue 13: every bad input is one line on stderr, exit 2, no traceback, database unchanged.

A table of bad inputs over config files, overrides, CLI arguments, databases (empty,
garbage, another program's SQLite file, a newer schema version, an older one for a read
command) and output paths, run in-process through ``evo.cli.app.main`` against real files. For
each: exit status 2, exactly one stderr line starting ``error:``, and every database file
byte-identical (sha256 of the folder's files before and after).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import yaml
from tiny_job import TINY

from evo.cli.app import main

BIG = 2**64
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)

BAD_CONFIG_TEXTS = {
    "recursive alias": "a: &a [1, *a]\n",
    "billion laughs": LAUGHS,
    "alias of a task list": "tasks: &t [qubic_1d_direct]\nfixed_entries: *t\n",
    "deep nesting": "tasks: " + "[" * 500 + "]" * 500 + "\n",
    "over 1 MiB": "# " + "x" * (1 << 20) + "\ntasks: [qubic_1d_direct]\n",
    "not a mapping": "- a\n- b\n",
    "scalar": "42\n",
    "tabs": "tasks:\n\t- x\n",
    "unclosed bracket": "tasks: [qubic_1d_direct\n",
    "duplicate key": "seed: 1\nseed: 2\ntasks: [qubic_1d_direct]\n",
    "unknown top key": "tasks: [qubic_1d_direct]\nbogus: 1\n",
    "no tasks": "seed: 1\n",
    "binary bytes": "\udcff",
    "python tag": "tasks: !!python/object/apply:os.system [echo]\n",
    "seed beyond 64 bits": f"tasks: [qubic_1d_direct]\nseed: {BIG}\n",
    "evaluation seed beyond 64 bits": f"tasks: [qubic_1d_direct]\nevaluation: {{seeds: [{BIG}]}}\n",
    "huge steps": "tasks: [qubic_1d_direct]\nevaluation: {steps: 100000000000}\n",
    "huge population": "tasks: [qubic_1d_direct]\npopulation: {size: 10000000000}\n",
    "inf cpus": "tasks: [qubic_1d_direct]\nexecutor: {cpus_per_actor: .inf}\n",
    "nan cpus": "tasks: [qubic_1d_direct]\nexecutor: {cpus_per_actor: .nan}\n",
}

BAD_OVERRIDES = [
    f"seed={BIG}", "seed=-1", "seed=1.5", "seed=abc", f"evaluation.seeds=[{BIG}]", "evaluation.seeds=[-1]",
    "evaluation.seeds=[]", "evaluation.seeds=[0, 0]", "evaluation.steps=0", "evaluation.steps=1e30",
    "evaluation.steps=100000000000", "evaluation.genomes_per_request=0", "evaluation.device=tpu",
    "evaluation.selection_split=train", "population.size=1", "population.size=10000000000",
    "population.elites=5", "population.tournament_k=9", "population.generations=0",
    "population.generations=100000000000", "executor.num_actors=0", "executor.num_actors=1000000",
    "executor.cpus_per_actor=0", "executor.cpus_per_actor=.inf", "executor.gpus_per_actor=1.5",
    "executor.gpus_per_actor=-1", "executor.gpus_per_actor=yes", "executor.max_retries=-1",
    "executor.max_retries=1000", "executor.kind=slurm", "tasks=[]", "tasks=[nope]", "fixed_entries=[nope]",
    "seed=&a [*a]", "tasks=[a, *b]", "storage.url=nonsense", "name=bad name", "nokey", "=1", "a..b=1",
    "seed.x=1", "evaluation=3", "bogus=1", "evaluation.bogus=1",
]


def _digest(folder: Path) -> dict[str, str]:
    """sha256 of every database file, and of every non-empty WAL (uncommitted content).

    A read-only SQLite reader of a WAL database may leave an empty ``-wal`` and its
    ``-shm`` index behind (SQLite's shared memory, no content); those are not compared.
    """
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and (p.name.endswith(".db") or (p.name.endswith("-wal") and p.stat().st_size))
    }


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> dict:
    """A folder with a finished run 'tiny' and the bad databases."""
    root = tmp_path_factory.mktemp("bad")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    db = root / "evo.db"
    try:
        main(["run", str(config), "--db", f"sqlite:///{db}"])
    except SystemExit as exc:
        assert not exc.code
    (root / "empty.db").write_bytes(b"")
    (root / "garbage.db").write_bytes(b"this is not a database\n" * 100)
    with sqlite3.connect(root / "other.db") as con:
        con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.close()
    newer = root / "newer.db"
    newer.write_bytes(db.read_bytes())
    with sqlite3.connect(newer) as con:
        con.execute("UPDATE alembic_version SET version_num = '0099'")
    con.close()
    older = root / "older.db"
    older.write_bytes(db.read_bytes())
    with sqlite3.connect(older) as con:
        con.execute("UPDATE alembic_version SET version_num = '0002'")
    con.close()
    (root / "afile.txt").write_text("a plain file")
    (root / "adir").mkdir()
    return {"root": root, "config": config, "db": db}


def _cases() -> list[tuple[str, list[str]]]:
    """(id, argv) with placeholders: {root}, {config}, {db}, {bad} (a config file's path)."""
    cases: list[tuple[str, list[str]]] = []
    for name in BAD_CONFIG_TEXTS:
        cases.append((f"config: {name}", ["run", "{bad:" + name + "}", "--db", "sqlite:///{root}/evo.db"]))
    for override in BAD_OVERRIDES:
        db = [] if override.startswith("storage.url") else ["--db", "sqlite:///{root}/evo.db"]
        cases.append((f"override: {override}", ["run", "{config}", override, *db]))
    url = "sqlite:///{root}/evo.db"
    cases += [
        ("cli: --top -1", ["best", "tiny", "--top", "-1", "--db", url]),
        ("cli: --top 0", ["best", "tiny", "--top", "0", "--db", url]),
        ("cli: --top abc", ["best", "tiny", "--top", "abc", "--db", url]),
        ("cli: --total-steps 0", ["export", "tiny", "-o", "{root}/x.py", "--total-steps", "0", "--db", url]),
        ("cli: --rank 0", ["export", "tiny", "-o", "{root}/x.py", "--rank", "0", "--db", url]),
        ("cli: --rank 999", ["export", "tiny", "-o", "{root}/x.py", "--rank", "999", "--db", url]),
        ("cli: rank and genome", ["export", "tiny", "-o", "{root}/x.py", "--rank", "1", "--genome", "ab",
                                  "--db", url]),
        ("cli: bad class name", ["export", "tiny", "-o", "{root}/x.py", "--class-name", "1x", "--db", url]),
        ("cli: missing run arg", ["best", "--db", url]),
        ("cli: unknown command", ["frobnicate"]),
        ("cli: unknown option", ["runs", "--bogus", "--db", url]),
        ("cli: unknown run", ["best", "nope", "--db", url]),
        ("cli: unknown task", ["best", "tiny", "--task", "nope", "--db", url]),
        ("cli: unknown genome", ["show", "ffffffffffff", "--db", url]),
        ("cli: short genome prefix", ["show", "ab", "--db", url]),
        ("cli: --landscape-steps -1", ["report", "tiny", "-o", "{root}/rep", "--landscape-steps", "-1",
                                       "--db", url]),
        ("cli: landscape unknown entries", ["landscape", "nope,adam", "-o", "{root}/ls", "--db", url]),
        ("cli: --steps 0", ["landscape", "adam", "-o", "{root}/ls", "--steps", "0"]),
        ("cli: missing config", ["run", "{root}/nope.yaml", "--db", url]),
        ("cli: config is a folder", ["run", "{root}/adir", "--db", url]),
        ("cli: bad --name", ["run", "{config}", "--name", "bad name!", "--db", url]),
        ("cli: bad --db URL", ["runs", "--db", "nonsense://"]),
        ("cli: --db is a folder", ["runs", "--db", "sqlite:///{root}/adir"]),
        ("cli: missing database", ["runs", "--db", "sqlite:///{root}/missing.db"]),
        ("cli: resume unknown run", ["resume", "nope", "--db", url]),
    ]
    for kind in ("empty", "garbage", "other", "newer", "older"):
        db = f"sqlite:///{{root}}/{kind}.db"
        cases += [
            (f"db {kind}: runs", ["runs", "--db", db]),
            (f"db {kind}: best", ["best", "tiny", "--db", db]),
            (f"db {kind}: show", ["show", "ffffffffffff", "--db", db]),
            (f"db {kind}: export", ["export", "tiny", "-o", "{root}/x.py", "--db", db]),
            (f"db {kind}: report", ["report", "tiny", "-o", "{root}/rep_" + kind, "--db", db]),
        ]
        if kind not in ("older", "empty"):  # a writing command sets these up: not bad inputs
            cases.append((f"db {kind}: run", ["run", "{config}", "--db", db]))
    cases += [
        ("out: export -o a folder", ["export", "tiny", "-o", "{root}/adir", "--db", url]),
        ("out: export -o under a file", ["export", "tiny", "-o", "{root}/afile.txt/x.py", "--db", url]),
        ("out: export -o unwritable", ["export", "tiny", "-o", "/proc/evo-test/x.py", "--db", url]),
        ("out: report -o a file", ["report", "tiny", "-o", "{root}/afile.txt", "--db", url]),
        ("out: report -o under a file", ["report", "tiny", "-o", "{root}/afile.txt/rep", "--db", url]),
        ("out: report -o unwritable", ["report", "tiny", "-o", "/proc/evo-test/rep", "--db", url]),
        ("out: landscape -o under a file", ["landscape", "adam", "-o", "{root}/afile.txt/l", "--steps", "3"]),
        ("out: landscape -o unwritable", ["landscape", "adam", "-o", "/proc/evo-test/ls", "--steps", "3"]),
    ]
    return cases


CASES = _cases()


def _fill(arg: str, ws: dict) -> str:
    if arg.startswith("{bad:"):
        name = arg[5:-1]
        path = ws["root"] / f"bad_{abs(hash(name))}.yaml"
        text = BAD_CONFIG_TEXTS[name]
        path.write_bytes(b"\xff\xfe\x00garbage" if text == "\udcff" else text.encode())
        return str(path)
    return arg.format(root=ws["root"], config=ws["config"])


def test_there_are_at_least_90_bad_inputs() -> None:
    assert len(CASES) >= 90, len(CASES)


@pytest.mark.parametrize(("argv"), [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_database_unchanged(ws, capsys, argv) -> None:
    args = [_fill(a, ws) for a in argv]
    before = _digest(ws["root"])
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert "Traceback" not in err
    assert _digest(ws["root"]) == before
