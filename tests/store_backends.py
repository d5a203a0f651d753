"""The store backends the storage tests run on, as pytest parameters (PostgreSQL skipped with
its reason where ``EVO_TEST_POSTGRES_URL`` is not set)."""

from __future__ import annotations

import pytest

from storage.testing import BACKENDS, postgres_skip_reason

BACKEND_PARAMS = [
    pytest.param(
        b,
        marks=pytest.mark.skipif(
            b == "postgresql" and postgres_skip_reason() is not None, reason=str(postgres_skip_reason())
        ),
    )
    for b in BACKENDS
]
