"""YAML for configs and overrides, safe against hostile files.

PyYAML's ``safe_load`` builds no objects, but it still follows aliases: a recursive alias
(``a: &a [1, *a]``) recurses until Python gives up, and a "billion laughs" file (nine
levels of nine aliases) expands to 9**9 nodes. Configs have no need for aliases, so this
loader refuses every alias (``*name``) with one line saying where; it also rejects a key
given twice in one mapping (PyYAML keeps the last silently), documents over
:data:`MAX_BYTES` and nesting deeper than :data:`MAX_DEPTH`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from optimizers.errors import one_line

MAX_BYTES = 1 << 20
"""Largest config file or override value read (1 MiB; real configs are under 2 KiB)."""
MAX_DEPTH = 64
"""Deepest nesting of lists and mappings accepted (configs nest three levels)."""


class YAMLRefused(ValueError):
    """The text is not acceptable YAML for a config; the message is one line."""


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys or deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} is not allowed in a config (write the value out)",
                event.start_mark,
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_unique_mapping(loader: _SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping reports it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_SafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _too_large(n_bytes: int) -> None:
    if n_bytes > MAX_BYTES:
        raise YAMLRefused(f"{n_bytes} bytes, over the {MAX_BYTES >> 10} KiB a config may have")


def load_file(path: Path) -> Any:
    """The data in the file ``path`` (its size checked before it is read).

    Raises:
        YAMLRefused: too large, or what :func:`load` refuses.
        OSError, UnicodeDecodeError: unreadable.
    """
    _too_large(path.stat().st_size)
    return load(path.read_text(encoding="utf-8"))


def load(text: str) -> Any:
    """The data in ``text``. Raises :class:`YAMLRefused` (one line) on anything refused."""
    _too_large(len(text.encode("utf-8", errors="replace")))
    try:
        return yaml.load(text, Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        raise YAMLRefused(one_line(exc)) from None
    except RecursionError:
        raise YAMLRefused(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
