"""Agreement rate limits: requests per minute and entities per day, per consumer and agreement.

Counters live behind :class:`CounterStore` so they survive a restart (the broker implements it
on SQLite or PostgreSQL; :class:`MemoryCounterStore` is for tests and dev nodes). Windows are
fixed: the minute window starts on the minute, the day window at local midnight
(``day_offset_seconds``, default JST = UTC+9). Fixed windows allow up to twice the rate across a
window edge; that is accepted for simplicity and stated here so nobody relies on more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trust.agreement_model import Agreement, RateLimits
from trust.clock import Clock
from trust.errors import InvalidArgument, RateLimited

__all__ = ["CounterStore", "MemoryCounterStore", "RateLimiter", "RateStatus"]

JST_OFFSET = 9 * 3600


class CounterStore(Protocol):
    """Persistent counters keyed by (key, window)."""

    async def increment(self, key: str, window: int, amount: int) -> int:
        """Add ``amount`` (may be 0 to read, or negative to give back) and return the new total.

        ``window`` is the window's start as epoch seconds; a store may forget windows that
        ended more than a day ago.
        """
        ...


class MemoryCounterStore:
    """In-process :class:`CounterStore`; forgets everything on restart."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}

    async def increment(self, key: str, window: int, amount: int) -> int:
        total = self._counts.get((key, window), 0) + amount
        self._counts[(key, window)] = total
        if len(self._counts) > 100_000:
            newest = max(w for _, w in self._counts)
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= newest - 2 * 86400}
        return total


@dataclass(frozen=True, slots=True)
class RateStatus:
    """What is left in the current windows after this call."""

    remaining_requests: int
    remaining_entities: int


class RateLimiter:
    """Checks and charges an agreement's rate limits for one caller."""

    def __init__(self, counter_store: CounterStore, clock: Clock, *,
                 day_offset_seconds: int = JST_OFFSET) -> None:
        self._store = counter_store
        self._clock = clock
        self._offset = day_offset_seconds

    def _windows(self) -> tuple[float, int, int]:
        now = self._clock.now()
        minute = int(now // 60) * 60
        day = int((now + self._offset) // 86400) * 86400 - self._offset
        return now, minute, day

    async def check(self, agreement: Agreement, caller: str, entities: int = 0) -> RateStatus:
        """Count one request and, if ``entities`` > 0, charge that many entities.

        Raises ``RateLimited`` (with ``retry_after``) when the request rate is exceeded, when
        the day's entity budget is already spent, or when charging ``entities`` would exceed
        it (in which case nothing is charged).
        """
        return await self.check_limits(agreement.id, agreement.rate_limits, caller, entities)

    async def check_limits(self, agreement_id: str, limits: RateLimits, caller: str,
                           entities: int = 0) -> RateStatus:
        """:meth:`check` for callers holding a decision's limits rather than the agreement."""
        if entities < 0:
            raise InvalidArgument("invalid_argument", "entities must be >= 0")
        now, minute, day = self._windows()
        base = f"{agreement_id}|{caller}"
        requests = await self._store.increment(f"{base}|req", minute, 1)
        if requests > limits.requests_per_minute:
            raise RateLimited("rate_limited",
                              f"more than {limits.requests_per_minute} requests per minute",
                              retry_after=minute + 60 - now)
        used = await self._store.increment(f"{base}|ent", day, entities)
        if used > limits.entities_per_day or (entities == 0 and used >= limits.entities_per_day):
            if entities:
                await self._store.increment(f"{base}|ent", day, -entities)
            raise RateLimited("rate_limited",
                              f"more than {limits.entities_per_day} entities per day",
                              retry_after=day + 86400 - now)
        return RateStatus(limits.requests_per_minute - requests, limits.entities_per_day - used)

    async def charge(self, agreement: Agreement, caller: str, entities: int) -> int:
        """Charge up to ``entities`` against today's budget; return how many may be sent.

        For streaming: call per batch and send only the returned number of entities. The part
        over budget is given back, so the counter ends exactly at the limit.
        """
        if entities <= 0:
            return 0
        _, _, day = self._windows()
        key = f"{agreement.id}|{caller}|ent"
        used = await self._store.increment(key, day, entities)
        excess = min(max(used - agreement.rate_limits.entities_per_day, 0), entities)
        if excess:
            await self._store.increment(key, day, -excess)
        return entities - excess
