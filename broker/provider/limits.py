"""Agreement rate limits on the provider, with counters (and the replay cache, and the
differencing guard's memory) in the store.

``trust.ratelimit`` and ``trust.differencing`` decide; the store keeps their state so that
limits and the guard survive a restart and are shared by the replicas of a node.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from trust.agreement_model import Agreement
from trust.clock import Clock
from trust.differencing import RememberedGroups, memory_full
from trust.errors import RateLimited
from trust.ratelimit import RateLimiter

from ..store.base import Release, Store


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


class StoreGroupMemory:
    """``trust.differencing.GroupMemory`` on the node's store (persistent, shared by replicas;
    the hash key is made once and kept in the store, so every replica hashes alike)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def secret(self) -> bytes:
        value = await self._store.claim_state("differencing", "secret", secrets.token_hex(16))
        return bytes.fromhex(str(value))

    async def release(self, groups: RememberedGroups, min_size: int, max_size: int,
                      max_groups: int, check: Callable[[Sequence[bytes]], None]) -> None:
        kept = await self._store.release_groups(Release(
            groups.caller, groups.agreement_id, groups.groups, groups.now, groups.expires_at,
            min_size, max_size, max_groups), check)
        if not kept:
            raise memory_full(max_groups)


class CallLimits:
    """Request and entity budgets of each (agreement, caller), and each caller's budget of
    refused calls.

    Refused calls count too (issue 12): a refusal under an agreement counts against that
    agreement's requests per minute, and every refusal against the caller's
    ``refused_per_minute``, shared by replicas through the store. Once that is spent, the
    caller's calls are refused as ``rate_limited`` before anything is decided or digested, so
    a member without an agreement cannot make the node work for it at any rate it likes.
    """

    def __init__(self, store: Store, clock: Clock, *, refused_per_minute: int = 60) -> None:
        self._counters = StoreCounters(store)
        self._limiter = RateLimiter(self._counters, clock)
        self._clock = clock
        self._refused_per_minute = refused_per_minute
        # caller -> end of the minute its refusal budget was found spent in: the fast path
        # of every admitted call is this dict lookup, not a store round trip.
        self._blocked: dict[str, float] = {}

    async def before_call(self, caller: str, agreement: Agreement) -> None:
        """Count the request; refuse when the minute's requests or the day's entities are spent."""
        await self._limiter.check(agreement, caller, 0)

    def check_refusals(self, caller: str) -> None:
        """Refuse (``rate_limited``) a caller whose refusal budget of this minute is spent."""
        until = self._blocked.get(caller)
        if until is None:
            return
        now = self._clock.now()
        if now >= until:
            del self._blocked[caller]
            return
        raise RateLimited("rate_limited", f"more than {self._refused_per_minute} refused calls "
                          "per minute", retry_after=until - now)

    async def count_refusal(self, caller: str, agreement: Agreement | None) -> None:
        """Count one refused call of ``caller`` (and against ``agreement``'s request rate)."""
        if agreement is not None:
            try:
                await self._limiter.check(agreement, caller, 0)
            except RateLimited:
                pass  # the call is refused already; the count is what matters
        minute = int(self._clock.now() // 60) * 60
        refused = await self._counters.increment(f"refused|{caller}", minute, 1)
        if refused >= self._refused_per_minute:
            self._blocked[caller] = minute + 60.0
            if len(self._blocked) > 10_000:  # callers are directory members: few; stay bounded
                now = self._clock.now()
                self._blocked = {c: t for c, t in self._blocked.items() if t > now}

    async def charge(self, caller: str, agreement: Agreement | None, entities: int) -> int:
        """Charge entities about to be sent; return how many the day's budget still allows."""
        if agreement is None or entities <= 0:
            return entities
        return await self._limiter.charge(agreement, caller, entities)


def budget_exhausted(agreement: Agreement) -> RateLimited:
    return RateLimited("rate_limited",
                       f"more than {agreement.rate_limits.entities_per_day} entities per day",
                       retry_after=3600.0)
