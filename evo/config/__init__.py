"""Job configs: the pydantic schema (:mod:`~evo.config.schema`), the YAML source and
``key=value`` overrides, safe YAML, and the ``fixed_entries`` and funnel sections.

Above :mod:`evo.errors` only (besides ``optimizers`` and, lazily, ``workers``' registries)."""
