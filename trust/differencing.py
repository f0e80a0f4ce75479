"""Detect the differencing attack on aggregates, with a memory no caller can flush.

A k-threshold alone does not stop a consumer from asking for the count of a group A (≥ k
members) and then of a group B that is A plus or minus one entity (also ≥ k): the difference of
the two answers is about that one entity. :class:`DifferencingGuard` remembers the member sets
of the aggregate groups released to each consumer and refuses (``differencing_suspected``) a
new group whose symmetric difference with a remembered one is non-zero but smaller than the
agreement's k. Re-asking the identical group is allowed (difference zero).

The memory (:class:`GroupMemory`) is the node's store, so that it holds across restarts and is
shared by every replica of the node; a check and the remembering of what it released are one
step, serialized per consumer (two replicas cannot each release one half of a differencing
pair). What it guarantees and what it does not:

- a group is remembered for the agreement's ``retention_days`` (what the consumer may keep the
  answers for), and is never evicted earlier: a consumer cannot flush the memory with harmless
  queries. Instead, once ``max_groups`` groups of one consumer are held, further aggregates are
  refused (``differencing_memory_full``) until old groups expire: the guard fails closed;
- memory is per consumer member across all its agreements with this node, so two agreements
  whose areas overlap cannot be played against each other; the k of the agreement under which
  the new group is asked applies;
- members are stored as 64-bit keyed hashes (BLAKE2b keyed with a secret kept in the store,
  the same on every replica), so the table reveals no ids;
- not covered: differences spread over more than two groups (A, B, C ... each pair ≥ k apart),
  collusion between different consumers, aggregates other providers forward (each provider
  guards its own members), and groups larger than ``max_members`` (not remembered). Combine it
  with rate limits and retention rules, not instead of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from trust.errors import PolicyDenied

__all__ = ["DifferencingGuard", "GroupMemory", "MemoryGroupMemory", "RememberedGroups",
           "memory_full"]

HASH_BYTES = 8
Check = Callable[[Sequence[bytes]], None]


@dataclass(frozen=True, slots=True)
class RememberedGroups:
    """What a release asks the memory to keep: packed member hashes, until ``expires_at``."""

    caller: str
    agreement_id: str
    groups: tuple[bytes, ...]
    now: float
    expires_at: float


class GroupMemory(Protocol):
    """Released groups per consumer, persistent and shared by a node's replicas."""

    async def secret(self) -> bytes:
        """The key of the member hashes (made once, then the same everywhere)."""
        ...

    async def release(self, groups: RememberedGroups, min_size: int, max_size: int,
                      max_groups: int, check: Check) -> None:
        """In one step serialized per ``groups.caller``: pass ``check`` the caller's
        unexpired groups of ``min_size``..``max_size`` members (``check`` raises to refuse,
        and then nothing is kept); refuse with ``differencing_memory_full`` when keeping
        ``groups`` would hold more than ``max_groups``; else keep them and forget the
        caller's expired groups."""
        ...


class MemoryGroupMemory:
    """In-process :class:`GroupMemory` for tests and tools; forgets everything on restart."""

    def __init__(self, secret: bytes = b"renkei-test-only") -> None:
        self._secret = secret
        self._rows: dict[str, list[tuple[float, bytes]]] = {}

    async def secret(self) -> bytes:
        return self._secret

    async def release(self, groups: RememberedGroups, min_size: int, max_size: int,
                      max_groups: int, check: Check) -> None:
        rows = [r for r in self._rows.get(groups.caller, []) if r[0] >= groups.now]
        check([m for _, m in rows if min_size <= len(m) // HASH_BYTES <= max_size])
        if len(rows) + len(groups.groups) > max_groups:
            raise memory_full(max_groups)
        rows.extend((groups.expires_at, g) for g in groups.groups)
        self._rows[groups.caller] = rows


def memory_full(max_groups: int) -> PolicyDenied:
    return PolicyDenied("differencing_memory_full",
                        f"more than {max_groups} aggregate groups released within their "
                        "retention: try again when older ones expire")


class DifferencingGuard:
    """Refuses aggregate groups that differ from a remembered one by 0 < d < k."""

    def __init__(self, memory: GroupMemory, *, max_groups: int = 100_000,
                 max_members: int = 1_000_000) -> None:
        self._memory = memory
        self._max_groups = max_groups
        self._max_members = max_members
        self._secret: bytes | None = None

    async def _hashes(self, members: Iterable[str]) -> bytes:
        if self._secret is None:
            self._secret = await self._memory.secret()
        key = self._secret
        return b"".join(sorted({hashlib.blake2b(m.encode(), key=key,
                                                digest_size=HASH_BYTES).digest()
                                for m in members}))

    async def check(self, caller: str, agreement_id: str, groups: Iterable[Iterable[str]],
                    k: int, now: float, retention_seconds: float) -> None:
        """Refuse if any group differs from a remembered one (or another of ``groups``) by
        0 < d < ``k``; else remember them for ``retention_seconds``.

        ``groups`` are the member-id sets of the groups about to be released (after
        k-suppression). Nothing is remembered when the call is refused.
        """
        packed = [await self._hashes(g) for g in groups]
        packed = [p for p in packed if len(p) // HASH_BYTES <= self._max_members]
        if not packed:
            return
        candidates = [_unpack(p) for p in packed]
        sizes = [len(c) for c in candidates]

        def check(remembered: Sequence[bytes]) -> None:
            olds = [_unpack(r) for r in remembered]
            for i, new in enumerate(candidates):
                for old in olds + candidates[:i]:
                    if abs(len(new) - len(old)) >= k:
                        continue  # sizes alone put them at least k apart
                    if 0 < len(new ^ old) < k:
                        raise PolicyDenied(
                            "differencing_suspected",
                            f"aggregate group differs from a recent one by fewer than {k} "
                            "entities")

        await self._memory.release(
            RememberedGroups(caller, agreement_id, tuple(packed), now, now + retention_seconds),
            max(min(sizes) - k + 1, 0), max(sizes) + k - 1, self._max_groups, check)


def _unpack(packed: bytes) -> frozenset[bytes]:
    return frozenset(packed[i:i + HASH_BYTES] for i in range(0, len(packed), HASH_BYTES))
