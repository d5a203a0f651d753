"""docs/configuration.md is the schema's: regenerated it is the same page, and it documents
every field of every section pydantic's own JSON schema of ``JobConfig`` lists."""

from __future__ import annotations

import re
from pathlib import Path

from evo.config.reference import reference_page
from evo.config.schema import JobConfig

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_the_page_is_what_the_generator_writes_now() -> None:
    assert PAGE.read_text(encoding="utf-8") == reference_page(), (
        "docs/configuration.md is stale: run `make docs`"
    )


def _sections(page: str) -> dict[str, str]:
    """Model name -> the text of its section (headings end with ``(`ModelName`)``)."""
    parts = re.split(r"^## .*\(`(\w+)`\)\n", page, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_field_of_every_section_is_documented() -> None:
    schema = JobConfig.model_json_schema(by_alias=True)
    models = {"JobConfig": schema, **schema.get("$defs", {})}
    sections = _sections(reference_page())
    missing = [
        f"{model}.{key}"
        for model, spec in models.items()
        if "properties" in spec
        for key in spec["properties"]
        if f"| `{key}` |" not in sections.get(model, "")
    ]
    assert len(models) > 5 and not missing
