"""Fixtures for the trust tests; the federation kit itself lives in ``fedkit.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Tests run with --import-mode=importlib, so make the kit importable as a plain module.
sys.path.insert(0, str(Path(__file__).parent))

from fedkit import NAMES, T0, Federation, key_for  # noqa: E402

from trust.clock import ManualClock  # noqa: E402
from trust.directory import DirectoryHolder  # noqa: E402


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def fed(clock: ManualClock) -> Federation:
    f = Federation(clock, key_for("authority"), {m: key_for(m) for m in NAMES})
    f.holder = DirectoryHolder(f.authority.public_jwk())
    f.holder.update(f.publish(), clock.now())
    return f
