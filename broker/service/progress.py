"""How far a long ingest is: percent, rate and time left, from the input file's size.

The ingest reports ``(done, total, rows)``: bytes of the file for text sources (CSV, JSON, JSON
Lines); for xlsx ``total`` is 0 (unknown), so only rows and rate are told. ``IngestProgress``
turns those reports into what an operator reads: a line such as
``ingest shops: 42% (12.1 of 28.9 MB), 51,000 rows, 8,200 rows/s, about 12 s left``.
``ProgressLog`` writes such a line at most every ``every`` seconds, for a log or a console that
is not a terminal (a terminal gets a live bar instead, in the CLI).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

MB = 1_000_000


@dataclass
class IngestProgress:
    """The state of one run: what was done, out of what, since when."""

    name: str
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int = 0
    rows: int = 0

    def update(self, done: int, total: int, rows: int) -> None:
        self.done, self.total, self.rows = done, total, rows

    def fraction(self) -> float | None:
        """Done out of total (0..1), or None when the total is not known."""
        if self.total <= 0:
            return None
        return min(1.0, self.done / self.total)

    def rate(self, now: float | None = None) -> float:
        """Rows per second so far."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        return self.rows / elapsed if elapsed > 0 else 0.0

    def seconds_left(self, now: float | None = None) -> float | None:
        """Time left at the pace so far, or None while it cannot be told: no total, or less
        than 1% done (the first rows' pace says little about the rest), or all done."""
        fraction = self.fraction()
        if fraction is None or fraction < 0.01 or fraction >= 1:
            return None
        elapsed = (time.monotonic() if now is None else now) - self.started
        return elapsed * (1 - fraction) / fraction

    def line(self, now: float | None = None) -> str:
        parts = [f"ingest {self.name}:"]
        fraction = self.fraction()
        if fraction is not None:
            unit, size = ("MB", MB) if self.total >= MB else ("kB", 1000)
            parts.append(f"{fraction:.0%} ({self.done / size:.1f} of "
                         f"{self.total / size:.1f} {unit}),")
        parts.append(f"{self.rows:,} rows, {self.rate(now):,.0f} rows/s")
        left = self.seconds_left(now)
        if left is not None:
            parts[-1] += ","
            parts.append(f"about {_duration(left)} left")
        return " ".join(parts)


class ProgressLog:
    """Writes ``progress.line()`` through ``write`` at most once every ``every`` seconds."""

    def __init__(self, progress: IngestProgress, write: Callable[[str], None],
                 every: float = 10.0) -> None:
        self.progress = progress
        self._write = write
        self._every = every
        self._last = progress.started

    def __call__(self, done: int, total: int, rows: int) -> None:
        self.progress.update(done, total, rows)
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._write(self.progress.line(now))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
