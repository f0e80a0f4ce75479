"""Rate limits: per-minute requests, per-day entities, counters that survive a restart."""

from __future__ import annotations

import pytest
from fedkit import AGENCY, TAKAMATSU, make_agreement

from trust.agreements import RateLimits
from trust.clock import ManualClock
from trust.errors import InvalidArgument, PolicyDenied, RateLimited
from trust.ratelimit import MemoryCounterStore, RateLimiter

# 2025-06-15 00:00:00 JST is 2025-06-14 15:00:00 UTC.
JST_MIDNIGHT = 1_749_913_200
AGREEMENT = make_agreement(rate_limits=RateLimits(requests_per_minute=3, entities_per_day=100))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(JST_MIDNIGHT + 10 * 3600)  # 10:00 JST, on a minute boundary


async def test_requests_per_minute(clock: ManualClock) -> None:
    limiter = RateLimiter(MemoryCounterStore(), clock)
    for left in (2, 1, 0):
        assert (await limiter.check(AGREEMENT, AGENCY)).remaining_requests == left
    clock.advance(20)
    with pytest.raises(RateLimited) as err:
        await limiter.check(AGREEMENT, AGENCY)
    assert err.value.code == "rate_limited" and err.value.retry_after == 40
    assert isinstance(err.value, PolicyDenied)  # maps to 429 but is still a denial
    # Another caller has its own budget; the next minute starts afresh.
    await limiter.check(AGREEMENT, TAKAMATSU)
    clock.advance(40)
    await limiter.check(AGREEMENT, AGENCY)


async def test_entities_per_day_with_jst_midnight(clock: ManualClock) -> None:
    limiter = RateLimiter(MemoryCounterStore(), clock)
    assert (await limiter.check(AGREEMENT, AGENCY, entities=60)).remaining_entities == 40
    clock.advance(60)
    with pytest.raises(RateLimited):
        await limiter.check(AGREEMENT, AGENCY, entities=41)  # refused, nothing charged
    clock.advance(60)
    assert (await limiter.check(AGREEMENT, AGENCY, entities=40)).remaining_entities == 0
    clock.advance(60)
    with pytest.raises(RateLimited) as err:
        await limiter.check(AGREEMENT, AGENCY)  # budget spent: even a bare request is refused
    assert err.value.retry_after == JST_MIDNIGHT + 86400 - clock.now()
    clock.set(JST_MIDNIGHT + 86400)  # midnight in Japan, 15:00 UTC
    assert (await limiter.check(AGREEMENT, AGENCY)).remaining_entities == 100


async def test_charge_truncates_a_stream_at_the_budget(clock: ManualClock) -> None:
    limiter = RateLimiter(MemoryCounterStore(), clock)
    assert await limiter.charge(AGREEMENT, AGENCY, 70) == 70
    assert await limiter.charge(AGREEMENT, AGENCY, 70) == 30
    assert await limiter.charge(AGREEMENT, AGENCY, 70) == 0
    assert await limiter.charge(AGREEMENT, AGENCY, 0) == 0


async def test_a_new_limiter_on_the_same_counters_keeps_counting(clock: ManualClock) -> None:
    # The limiter holds no counts of its own: a limiter built after a restart continues from
    # the counter store (persistence itself is the broker's; see tests/e2e/test_rate_limits.py).
    store = MemoryCounterStore()
    await RateLimiter(store, clock).check(AGREEMENT, AGENCY, entities=90)
    await RateLimiter(store, clock).check(AGREEMENT, AGENCY)
    restarted = RateLimiter(store, clock)
    await restarted.check(AGREEMENT, AGENCY)
    with pytest.raises(RateLimited):
        await restarted.check(AGREEMENT, AGENCY)  # 4th request this minute
    clock.advance(60)
    with pytest.raises(RateLimited):
        await restarted.check(AGREEMENT, AGENCY, entities=11)


async def test_negative_entities_are_refused(clock: ManualClock) -> None:
    with pytest.raises(InvalidArgument):
        await RateLimiter(MemoryCounterStore(), clock).check(AGREEMENT, AGENCY, entities=-1)
