"""Injected time: every trust check takes its clock from here, never from the wall directly."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of the current time in epoch seconds."""

    def now(self) -> float:
        """Return the current time as epoch seconds."""
        ...


class SystemClock:
    """The wall clock. The only place in ``trust`` that reads it."""

    __slots__ = ()

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()


class ManualClock:
    """A clock that moves only when told to; for tests and replays."""

    __slots__ = ("_t",)

    def __init__(self, t: float = 1_750_000_000.0) -> None:
        self._t = float(t)

    def now(self) -> float:
        """Return the current manual time."""
        return self._t

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or back, if negative) and return the new time."""
        self._t += seconds
        return self._t

    def set(self, t: float) -> None:
        """Jump to an absolute time."""
        self._t = float(t)
