"""Detect the simple differencing attack on aggregates.

A k-threshold alone does not stop a consumer from asking for the count of a group A (≥ k
members) and then of a group B that is A plus or minus one entity (also ≥ k): the difference of
the two answers is about that one entity. :class:`DifferencingGuard` remembers, per caller and
agreement, the member sets of recently released aggregate groups and refuses
(``differencing_suspected``) a new group whose symmetric difference with a remembered one is
non-zero but smaller than k. Re-asking the identical group is allowed (difference zero).

Memory is bounded: members are stored as 64-bit keyed hashes (BLAKE2b with a per-process
secret, so the table reveals no ids), sets are kept for ``window_seconds``, at most
``max_groups_per_key`` per caller/agreement, and at most ``max_members`` hashes in total
(oldest evicted first). What it does not cover: differences spread over more than two queries
(A, B, C ... each pair ≥ k apart), collusion between callers or across agreements, groups
forgotten because they fell out of the window or the memory budget, and a restart (the state is
in memory). Combine it with rate limits and retention rules, not instead of them.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict, deque
from collections.abc import Iterable

from trust.errors import PolicyDenied

__all__ = ["DifferencingGuard"]


class DifferencingGuard:
    """Remembers recent aggregate groups per (caller, agreement) and refuses near-duplicates."""

    def __init__(self, *, window_seconds: float = 86400.0, max_groups_per_key: int = 256,
                 max_members: int = 2_000_000, secret: bytes | None = None) -> None:
        self._window = window_seconds
        self._max_groups = max_groups_per_key
        self._max_members = max_members
        self._secret = secret or os.urandom(16)
        # (caller, agreement) → deque of (released_at, frozenset of member hashes); LRU order.
        self._groups: OrderedDict[tuple[str, str], deque[tuple[float, frozenset[int]]]] = (
            OrderedDict())
        self._stored = 0

    def _hash(self, member_id: str) -> int:
        digest = hashlib.blake2b(member_id.encode(), key=self._secret, digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def check(self, caller: str, agreement_id: str, groups: Iterable[Iterable[str]], k: int,
              now: float) -> None:
        """Refuse if any group differs from a remembered one by 0 < d < k; else remember them.

        ``groups`` are the member-id sets of the groups about to be released (after
        k-suppression). Nothing is remembered when the call is refused.
        """
        key = (caller, agreement_id)
        history = self._groups.get(key)
        if history is not None:
            self._expire(history, now)
        candidates = [frozenset(self._hash(m) for m in group) for group in groups]
        remembered = list(history) if history else []
        for i, new in enumerate(candidates):
            others = [old for _, old in remembered] + candidates[:i]
            for old in others:
                if abs(len(new) - len(old)) >= k:
                    continue  # sizes alone put them at least k apart
                distance = len(new ^ old)
                if 0 < distance < k:
                    raise PolicyDenied(
                        "differencing_suspected",
                        f"aggregate group differs from a recent one by fewer than {k} entities")
        self._remember(key, candidates, now)

    def _expire(self, history: deque[tuple[float, frozenset[int]]], now: float) -> None:
        while history and history[0][0] < now - self._window:
            self._stored -= len(history.popleft()[1])

    def _remember(self, key: tuple[str, str], groups: list[frozenset[int]], now: float) -> None:
        history = self._groups.setdefault(key, deque())
        self._groups.move_to_end(key)
        for group in groups:
            if len(group) > self._max_members:
                continue  # cannot be held within budget; documented as not covered
            history.append((now, group))
            self._stored += len(group)
            if len(history) > self._max_groups:
                self._stored -= len(history.popleft()[1])
        while self._stored > self._max_members and self._groups:
            oldest_key, oldest = next(iter(self._groups.items()))
            if oldest:
                self._stored -= len(oldest.popleft()[1])
            if not oldest:
                del self._groups[oldest_key]

    @property
    def stored_members(self) -> int:
        """Member hashes currently held (bounded by ``max_members``)."""
        return self._stored
