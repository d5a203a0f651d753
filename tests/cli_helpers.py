"""Running the ``evo`` CLI in-process from tests, and fingerprinting a SQLite file."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from evo.cli.app import main


def evo(capsys, *args: object) -> tuple[int, str, str]:
    """Run ``evo ARGS`` in-process; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fingerprint(db: Path) -> tuple[str, list[str]]:
    """The file's bytes and its logical content (which also sees a WAL not yet merged)."""
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    with sqlite3.connect(db) as con:
        dump = list(con.iterdump())
    con.close()
    return digest, dump
