"""Regular expressions written by callers (idPattern, q ``~=``): linear time, bounded size.

Python's ``re`` backtracks: a pattern like ``(.|.)*Z`` takes exponential time and would stall
the node's event loop, which serves HTTP and gRPC alike. Callers' patterns therefore go to RE2
(google-re2), whose matching is linear in the input, with a length limit and a memory cap.
"""

from __future__ import annotations

from typing import Any

import re2

from ..errors import BadRequest

MAX_PATTERN_LENGTH = 256
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a caller's typo is a 400, not a line in the node's log
_OPTIONS.max_mem = 8 << 20


def compile_pattern(pattern: str, what: str = "pattern") -> Any:
    """A compiled RE2 pattern (``search``/``fullmatch`` like ``re``), or ``BadRequest``."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise BadRequest(f"{what} longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise BadRequest(f"{what} is not a valid regular expression: {detail}") from None
