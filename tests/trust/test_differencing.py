"""DifferencingGuard: refuses an aggregate group that differs from a remembered one by < k."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from trust.differencing import DifferencingGuard, MemoryGroupMemory
from trust.errors import PolicyDenied

IDS = [f"urn:ngsi-ld:Resident:jp-172022:{i}" for i in range(40)]
DAY = 86400.0


async def refused(guard: DifferencingGuard, groups: Sequence[Sequence[str]], k: int = 5,
                  now: float = 0.0, caller: str = "jp-gov-cao", agreement: str = "agr",
                  retention: float = DAY) -> str:
    """The refusal's code, or "" when the groups were released."""
    try:
        await guard.check(caller, agreement, groups, k, now, retention)
    except PolicyDenied as err:
        return err.code
    return ""


async def test_group_minus_one_entity_is_refused() -> None:
    guard = DifferencingGuard(MemoryGroupMemory())
    assert not await refused(guard, [IDS[:20]])
    assert await refused(guard, [IDS[:19]]) == "differencing_suspected"  # A minus one
    assert await refused(guard, [IDS[:21]]) == "differencing_suspected"  # A plus one
    assert await refused(guard, [IDS[1:21]]) == "differencing_suspected"  # swap: distance 2


async def test_identical_far_and_disjoint_groups_are_allowed() -> None:
    guard = DifferencingGuard(MemoryGroupMemory())
    assert not await refused(guard, [IDS[:20]])
    assert not await refused(guard, [IDS[:20]])  # re-asking the same thing reveals nothing
    assert not await refused(guard, [IDS[:15]])  # distance 5 == k is allowed
    assert not await refused(guard, [IDS[20:40]])


async def test_refused_groups_are_not_remembered() -> None:
    guard = DifferencingGuard(MemoryGroupMemory())
    assert not await refused(guard, [IDS[:20]])
    assert await refused(guard, [IDS[:19]])
    # IDS[:18] is 1 away from the refused IDS[:19] (not remembered) but 2 from IDS[:20].
    assert await refused(guard, [IDS[:18]])
    assert not await refused(guard, [IDS[:14]])


async def test_near_duplicate_groups_within_one_answer_are_refused() -> None:
    assert await refused(DifferencingGuard(MemoryGroupMemory()), [IDS[:20], IDS[:19]])


async def test_memory_is_per_consumer_across_its_agreements_for_their_retention() -> None:
    guard = DifferencingGuard(MemoryGroupMemory())
    assert not await refused(guard, [IDS[:20]], retention=3600)
    assert not await refused(guard, [IDS[:19]], caller="jp-372013")  # another consumer
    # Another agreement of the same consumer (overlapping areas) does not start afresh.
    assert await refused(guard, [IDS[:19]], agreement="agr-2")
    assert not await refused(guard, [IDS[:18]], now=3601)  # the remembered group expired


async def test_harmless_traffic_cannot_flush_the_memory() -> None:
    """The flush attack: many harmless groups, then "all" and "all but one"."""
    guard = DifferencingGuard(MemoryGroupMemory(), max_groups=1000)
    assert not await refused(guard, [IDS[:30]])
    for i in range(300):
        assert not await refused(guard, [[f"urn:other:{i}:{j}" for j in range(6)]])
    assert await refused(guard, [IDS[:29]]) == "differencing_suspected"


async def test_a_full_memory_refuses_instead_of_forgetting() -> None:
    guard = DifferencingGuard(MemoryGroupMemory(), max_groups=3)
    for start in range(0, 30, 10):
        assert not await refused(guard, [IDS[start:start + 10]], k=2)
    assert await refused(guard, [IDS[30:40]], k=2) == "differencing_memory_full"
    assert await refused(guard, [IDS[:9]], k=2) == "differencing_suspected"
    assert not await refused(guard, [IDS[30:40]], k=2, now=DAY + 1)  # after expiry


@pytest.mark.parametrize("secret", [b"k" * 16, b"other-secret"])
async def test_members_are_kept_as_keyed_hashes(secret: bytes) -> None:
    memory = MemoryGroupMemory(secret)
    guard = DifferencingGuard(memory)
    assert not await refused(guard, [IDS[:3]], k=2)
    kept = [g for rows in memory._rows.values() for _, g in rows]
    assert kept and all(len(g) == 3 * 8 for g in kept)
    assert all(i.encode() not in g for g in kept for i in IDS[:3])
    assert await refused(guard, [IDS[:4]], k=2)
