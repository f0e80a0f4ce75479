"""Agreement rate limits on the provider, with counters (and the replay cache) in the store.

``trust.ratelimit`` decides; the store keeps the counters so that limits survive a restart and
are shared by the replicas of a node.
"""

from __future__ import annotations

from trust.agreement_model import Agreement
from trust.clock import Clock
from trust.errors import RateLimited
from trust.ratelimit import RateLimiter

from ..store.base import Store


class StoreCounters:
    """``trust.ratelimit.CounterStore`` on the node's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def increment(self, key: str, window: int, amount: int) -> int:
        return await self._store.increment_counter(key, window, amount)


class StoreReplayCache:
    """``trust.tokens.ReplayCache`` on the node's store (persistent, shared by replicas)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def remember(self, jti: str, issuer: str, binding: str | None,
                       expires_at: float) -> bool:
        return await self._store.remember_jti(jti, issuer, binding, expires_at,
                                              self._clock.now())


class CallLimits:
    """Request and entity budgets of each (agreement, caller)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._limiter = RateLimiter(StoreCounters(store), clock)

    async def before_call(self, caller: str, agreement: Agreement) -> None:
        """Count the request; refuse when the minute's requests or the day's entities are spent."""
        await self._limiter.check(agreement, caller, 0)

    async def charge(self, caller: str, agreement: Agreement | None, entities: int) -> int:
        """Charge entities about to be sent; return how many the day's budget still allows."""
        if agreement is None or entities <= 0:
            return entities
        return await self._limiter.charge(agreement, caller, entities)


def budget_exhausted(agreement: Agreement) -> RateLimited:
    return RateLimited("rate_limited",
                       f"more than {agreement.rate_limits.entities_per_day} entities per day",
                       retry_after=3600.0)
