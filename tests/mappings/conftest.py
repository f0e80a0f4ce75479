"""Shared helpers for the mapping tests: where the real data is, and small builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings import compile_rule, load_rules
from mappings.compiler import CompiledRule
from mappings.loader import bundled_rules

ROOT = Path(__file__).resolve().parents[2]
REALDATA = ROOT.parent / "shared" / "realdata"
NANAO = REALDATA / "japan" / "nanao"
TAKAMATSU = REALDATA / "japan" / "takamatsu"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def compiled(name: str, **params: object) -> CompiledRule:
    """The bundled rule set ``name``, compiled."""
    return compile_rule(load_rules(bundled_rules(name)), params or None)


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not beside the repository")
    return REALDATA
