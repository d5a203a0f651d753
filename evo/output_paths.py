"""Output files and folders the user names (``evo export -o``, ``evo report -o``, ...).

Writing them fails in ordinary ways (the path is a folder, a part of it is a file, no
permission, a read-only file system, a full disk): each becomes an :class:`OutputError`
with one line naming the path, which the CLI prints and exits 2 on. A base module of
``evo`` (beside :mod:`evo.errors`, importing nothing else of ``evo``), so that every layer
that writes a file uses it; the optimizer library only renders text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from optimizers.errors import EvoError, one_line


class OutputError(EvoError):
    """An output file or folder cannot be written."""


def output_error(path: str | Path, exc: OSError, what: str = "file") -> OutputError:
    """The one-line error for ``exc``, raised while writing the output ``path``."""
    reason = exc.strerror or one_line(exc, 200)
    if isinstance(exc, IsADirectoryError):
        hint = f"it is a folder; give a {what} path"
    elif isinstance(exc, NotADirectoryError | FileExistsError):
        hint = "a part of the path is a file, not a folder"
    else:
        hint = "choose a writable location"
    return OutputError(f"cannot write the output {what} {path}: {reason}; {hint}")


@contextmanager
def writing(path: str | Path, what: str = "file") -> Iterator[None]:
    """Turn an ``OSError`` raised inside into :class:`OutputError` for ``path``."""
    try:
        yield
    except OSError as exc:
        raise output_error(path, exc, what) from None


def writable_folder(path: str | Path) -> Path:
    """The folder ``path``, created (parents too) and checked writable before any work.

    Raises:
        OutputError: it is a file, lies under a file, or cannot be created or written.
    """
    folder = Path(path)
    with writing(folder, "folder"):
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(17, "it is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    return folder


def write_text_file(path: str | Path, text: str, what: str = "file") -> Path:
    """Write ``text`` to the file ``path`` (parent folders created); returns the path.

    Raises:
        OutputError: ``path`` is a folder, lies under a file, or cannot be written.
    """
    path = Path(path)
    with writing(path, what):
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path
