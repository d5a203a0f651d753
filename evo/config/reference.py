"""The configuration reference page, generated from the pydantic schema so it cannot drift.

``python -m evo.config.reference > docs/configuration.md`` (``make docs``) writes it; a test
regenerates it and compares it with the page. Every field of :class:`~evo.config.schema.JobConfig`
appears, nested sections (and the models inside lists, such as funnel rungs and a user's
optimizer) each in their own table, in the schema's order: its key, type with the schema's
bounds, default and one-line description.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

INTRO = """\
# Configuration reference

A job config is a YAML file (`configs/quick.yaml` is the embedded default). Every key below
is validated by pydantic when the file is read: an unknown key, a value out of range or a
wrong type is one line naming the field, exit status 2, nothing stored. Any key can be set
on the command line as an override, validated like the file:

```bash
evo run configs/quick.yaml population.size=24 evaluation.steps=300 'evaluation.seeds=[0,1,2]'
```

Override values are read as YAML (`population.size=24` is a number, `tasks=[digits]` a list,
`executor.address=null` empty). "The paper's code" is the original research code evo
re-implements; its values are noted where a default differs or matters for reproductions.

This page is generated from the schema (`evo/config/schema.py`) by
`python -m evo.config.reference > docs/configuration.md` (`make docs`); a test fails when
the two differ.
"""

_BOUNDS = (
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "<="),
    (annotated_types.Lt, "lt", "<"),
)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation holds (itself, or inside lists, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def type_text(annotation: Any) -> str:
    """A reader's name for a field's type: ``integer``, ``list of string``, ``one of `a`, `b```..."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_text(a) for a in args)
    if origin in (list, tuple):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"section `{annotation.__name__}`"
    names = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null", Any: "any"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def bounds_text(field: FieldInfo) -> str:
    """The field's numeric and length bounds, e.g. ``>= 1, <= 1000000``."""
    parts = []
    for item in field.metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attr)}")
        if isinstance(item, annotated_types.MinLen):
            parts.append(f"length >= {item.min_length}")
        if isinstance(item, annotated_types.MaxLen):
            parts.append(f"length <= {item.max_length}")
    return ", ".join(parts)


def default_text(field: FieldInfo) -> str:
    """The default as YAML would spell it, ``required`` without one, ``(section)`` for a section."""
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section_table(model: type[BaseModel]) -> str:
    """The markdown table of one model's fields."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        kind = type_text(field.annotation)
        bounds = bounds_text(field)
        if bounds:
            kind += f" ({bounds})"
        cells = (f"`{key}`", kind, default_text(field), field.description or "")
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def sections(root: type[BaseModel], path: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """(dotted path, model) for the root and every model nested in it, depth first, each once;
    a model inside a list is written ``key[]``."""
    yield path, root
    for name, field in root.model_fields.items():
        key = field.alias or name
        in_list = typing.get_origin(field.annotation) in (list, tuple) or any(
            typing.get_origin(a) in (list, tuple) for a in typing.get_args(field.annotation)
        )
        for model in dict.fromkeys(_models_in(field.annotation)):
            yield from sections(model, f"{path}{'.' if path else ''}{key}{'[]' if in_list else ''}")


def _docstring(model: type[BaseModel]) -> str:
    text = " ".join((model.__doc__ or "").split())
    return text.replace(":mod:", "").replace(":class:", "").replace("``", "`")


def reference_page() -> str:
    """The whole page (markdown)."""
    from evo.config.schema import JobConfig

    parts = [INTRO]
    for path, model in sections(JobConfig):
        title = f"Top level (`{model.__name__}`)" if not path else f"`{path}` (`{model.__name__}`)"
        parts.append(f"## {title}\n\n{_docstring(model)}\n\n{section_table(model)}\n")
    return "\n".join(parts)


def dotted_fields(root: type[BaseModel] | None = None) -> list[str]:
    """Every field's dotted key (``evaluation.steps``, ``evaluation.funnel[].keep``, ...)."""
    from evo.config.schema import JobConfig

    keys = []
    for path, model in sections(root or JobConfig):
        keys.extend(f"{path}{'.' if path else ''}{f.alias or n}" for n, f in model.model_fields.items())
    return keys


if __name__ == "__main__":
    print(reference_page(), end="")
