"""DifferencingGuard: refuses an aggregate group that differs from a recent one by < k."""

from __future__ import annotations

import pytest

from trust.enforce import DifferencingGuard
from trust.errors import PolicyDenied

IDS = [f"urn:ngsi-ld:Resident:jp-172022:{i}" for i in range(40)]


def _refused(guard: DifferencingGuard, groups, k: int = 5, now: float = 0.0,
             caller: str = "jp-gov-cao", agreement: str = "agr") -> bool:
    try:
        guard.check(caller, agreement, groups, k, now)
    except PolicyDenied as err:
        assert err.code == "differencing_suspected"
        return True
    return False


def test_group_minus_one_entity_is_refused() -> None:
    guard = DifferencingGuard()
    assert not _refused(guard, [IDS[:20]])
    assert _refused(guard, [IDS[:19]])       # the classic: A, then A minus one person
    assert _refused(guard, [IDS[:21]])       # or A plus one
    assert _refused(guard, [IDS[1:21]])      # swap one: distance 2


def test_identical_far_and_disjoint_groups_are_allowed() -> None:
    guard = DifferencingGuard()
    assert not _refused(guard, [IDS[:20]])
    assert not _refused(guard, [IDS[:20]])   # re-asking the same thing reveals nothing new
    assert not _refused(guard, [IDS[:15]])   # distance 5 == k is allowed
    assert not _refused(guard, [IDS[20:40]])


def test_refused_groups_are_not_remembered() -> None:
    guard = DifferencingGuard()
    guard.check("c", "a", [IDS[:20]], 5, 0)
    assert _refused(guard, [IDS[:19]], caller="c", agreement="a")
    # IDS[:18] is 2 away from the refused IDS[:19] but 2 away from IDS[:20] too: still refused.
    assert _refused(guard, [IDS[:18]], caller="c", agreement="a")
    assert not _refused(guard, [IDS[:14]], caller="c", agreement="a")


def test_near_duplicate_groups_within_one_answer_are_refused() -> None:
    assert _refused(DifferencingGuard(), [IDS[:20], IDS[:19]])


def test_memory_is_per_caller_and_agreement_and_window() -> None:
    guard = DifferencingGuard(window_seconds=3600)
    guard.check("jp-gov-cao", "agr", [IDS[:20]], 5, 0)
    assert not _refused(guard, [IDS[:19]], caller="jp-372013")
    assert not _refused(guard, [IDS[:19]], agreement="agr-2")
    assert not _refused(guard, [IDS[:18]], now=3601)  # remembered group has expired


def test_memory_is_bounded() -> None:
    guard = DifferencingGuard(max_members=50, max_groups_per_key=3)
    for start in range(0, 40, 10):
        guard.check("c", "a", [IDS[start:start + 10]], 2, 0)
    assert guard.stored_members <= 30
    for i in range(10):
        guard.check(f"caller-{i}", "a", [IDS[:10]], 2, 0)
    assert guard.stored_members <= 50


def test_members_are_stored_as_keyed_hashes() -> None:
    guard = DifferencingGuard(secret=b"k" * 16)
    guard.check("c", "a", [IDS[:3]], 2, 0)
    stored = [m for history in guard._groups.values() for _, g in history for m in g]
    assert stored and all(isinstance(m, int) for m in stored)
    with pytest.raises(PolicyDenied):
        guard.check("c", "a", [IDS[:4]], 2, 0)
