"""Shared fixtures: PostgreSQL availability policy and the path to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_DSN = os.environ.get("RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"renkei: shared data at {SHARED}", f"renkei: PostgreSQL DSN {PG_DSN}"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}: tests need it beside the clone")
    return SHARED
