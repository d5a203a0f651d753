"""The project's error root.

It lives in the lowest package so that ``storage`` and ``workers`` (which may import only
``optimizers``) can raise subclasses; ``evo``'s CLI catches :class:`EvoError` at the edge,
prints its one-line message and exits 2.
"""


class EvoError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""
