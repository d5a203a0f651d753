"""The project's error root and its one-line message formatter.

It lives in the lowest package so that ``storage`` and ``workers`` (which may import only
``optimizers``) can raise subclasses and format foreign errors the same way; ``evo``'s CLI
catches :class:`EvoError` at the edge, prints its one-line message and exits 2.

Each package keeps its own ``errors`` module, the same concept at four layers: this root,
``storage.errors``, ``workers.errors`` and ``evo.errors`` (all subclasses of :class:`EvoError`).
"""

from __future__ import annotations


class EvoError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""


def one_line(value: object, limit: int | None = None, *, typed: bool = False) -> str:
    """``value`` as a single line: every run of whitespace (newlines too) becomes one space.

    Args:
        value: a message or an exception (``str(value)`` is formatted).
        limit: cut the line to at most this many characters, ending in ``"..."``;
            None keeps it whole (our own messages are never cut; foreign ones, such as a
            database driver's or a training failure's, may be long).
        typed: for an exception, prefix its class name: ``"Type: message"`` (just
            ``"Type"`` when the message is empty).

    Example:
        >>> one_line(ValueError("bad\\n  value"), typed=True)
        'ValueError: bad value'
        >>> one_line("x" * 10, limit=6)
        'xxx...'
    """
    line = " ".join(str(value).split())
    if typed and isinstance(value, BaseException):
        line = f"{type(value).__name__}: {line}" if line else type(value).__name__
    if limit is not None and len(line) > limit:
        line = line[: limit - 3] + "..."
    return line
