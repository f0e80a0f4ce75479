"""What a running node knows about each of its ``[[sources]]``: the one place ``/health``,
``/metrics`` and the log read it from.

The ingest side (``broker.sources.SourceWatch``) writes a ``SourceState`` per source as it
ingests; readers take a snapshot. A failed source is a degraded node, not a dead one: the node
keeps serving what it has, and the state says which source failed, with the stable code. A
source whose ingest waits for disk space (the store's disk is full) is ``paused``: degraded too,
with the code ``store_full``, until the ingest goes on by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

PENDING, INGESTING, PAUSED, OK, FAILED = "pending", "ingesting", "paused", "ok", "failed"
STATES = (PENDING, INGESTING, PAUSED, OK, FAILED)


@dataclass(frozen=True)
class SourceState:
    """One source as last seen: ``state`` is pending, ingesting, paused, ok or failed."""

    name: str
    state: str = PENDING
    code: str = ""  # the stable code of the last failure (or store_full while paused)
    message: str = ""  # the failure as the operator's log shows it (names file and row)
    since: float = 0.0  # when the source entered this state (clock seconds)
    read: int = 0  # counts of the last finished run
    mapped: int = 0
    quarantined: int = 0
    failures: int = 0  # failed runs since the node started
    total_read: int = 0  # records of every run since the node started (metrics counters)
    total_mapped: int = 0
    total_quarantined: int = 0

    def public(self) -> dict[str, object]:
        """The open ``/health`` detail: state and code, never file paths or row contents."""
        out: dict[str, object] = {"name": self.name, "state": self.state}
        if self.code:
            out["code"] = self.code
        if self.state == OK:
            out.update(read=self.read, mapped=self.mapped, quarantined=self.quarantined)
        return out


class SourceBoard:
    """The current ``SourceState`` of every configured source, in config order."""

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self._states = {name: SourceState(name) for name in names}

    def states(self) -> tuple[SourceState, ...]:
        return tuple(self._states.values())

    def get(self, name: str) -> SourceState:
        return self._states.get(name) or SourceState(name)

    def ingesting(self, name: str, now: float) -> None:
        self._states[name] = replace(self.get(name), state=INGESTING, since=now)

    def succeeded(self, name: str, now: float, read: int, mapped: int,
                  quarantined: int) -> None:
        old = self.get(name)
        self._states[name] = replace(old, state=OK, code="", message="", since=now,
                                     read=read, mapped=mapped, quarantined=quarantined,
                                     total_read=old.total_read + read,
                                     total_mapped=old.total_mapped + mapped,
                                     total_quarantined=old.total_quarantined + quarantined)

    def paused(self, name: str, now: float, code: str, message: str) -> None:
        """The source's ingest waits (for disk space): it goes on by itself, nothing is lost."""
        self._states[name] = replace(self.get(name), state=PAUSED, code=code, message=message,
                                     since=now)

    def resumed(self, name: str, now: float) -> None:
        """A paused ingest goes on."""
        old = self.get(name)
        if old.state == PAUSED:
            self._states[name] = replace(old, state=INGESTING, code="", message="", since=now)

    def failed(self, name: str, now: float, code: str, message: str) -> SourceState:
        old = self.get(name)
        new = replace(old, state=FAILED, code=code, message=message, failures=old.failures + 1,
                      since=now)
        self._states[name] = new
        return new

    @property
    def degraded(self) -> bool:
        return any(s.state in (FAILED, PAUSED) for s in self._states.values())
