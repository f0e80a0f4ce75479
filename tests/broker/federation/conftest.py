"""Federation test fixtures; the kit itself lives in ``fedtools.py``."""

from __future__ import annotations

import sys
from pathlib import Path

# Tests run with --import-mode=importlib: make the kit importable as a plain module.
sys.path.insert(0, str(Path(__file__).parent))
