"""This node as a witness of its peers' audit logs (C2SP tlog-witness, tlog-cosignature).

A peer submits each new checkpoint of its own log with a consistency proof from the last one
this node cosigned; ``trust.witness.cosign`` decides, and the store records the new head by
compare-and-set before the cosignature is returned. Because the record lives in the store, a
witness refuses a smaller or forked tree also after its own restart, and replicas of one node
share one record. A member may submit only its own log (origin ``renkei.audit/<member>``),
signed by one of its non-revoked directory keys, and at most ``per_minute`` checkpoints a
minute (a store counter, shared by replicas): past that, ``rate_limited`` before any parsing
or signature check, so a member cannot make its witness verify and store without end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from trust.checkpoint import TreeHead, log_verifiers, member_of_origin
from trust.clock import Clock
from trust.directory import Directory
from trust.errors import AuditError, RateLimited, WitnessError
from trust.keys import NodeKey
from trust.witness import cosign, parse_add_checkpoint, witness_name

from ..store.base import Store

log = logging.getLogger("renkei.witness")
LIST_LIMIT = 100


@dataclass(frozen=True)
class CosignedPage:
    checkpoints: tuple[str, ...]
    witness_key: str
    more: bool


class AuditWitness:
    def __init__(self, node_id: str, store: Store, directory: Callable[[], Directory],
                 witness_key: NodeKey, statement: str, clock: Clock, *,
                 per_minute: int = 60) -> None:
        self._node_id = node_id
        self._store = store
        self._directory = directory
        self._key = witness_key
        self.name = witness_name(node_id)
        self.statement = statement
        self._clock = clock
        self._per_minute = per_minute

    async def add_checkpoint(self, caller: str, body: bytes) -> str:
        """Cosign the caller's checkpoint; returns the cosignature line. Raises
        ``WitnessError`` with the tlog-witness reason, ``RateLimited`` past ``per_minute``."""
        now = self._clock.now()
        minute = int(now // 60) * 60
        if await self._store.increment_counter(f"witness|{caller}", minute, 1) \
                > self._per_minute:
            raise RateLimited("rate_limited", f"more than {self._per_minute} checkpoints per "
                              "minute: the next one covers this one", retry_after=minute + 60 - now)
        request = parse_add_checkpoint(body)
        try:
            origin = TreeHead.parse(request.checkpoint.text).origin
        except AuditError as exc:
            raise WitnessError("invalid_request", exc.message) from exc
        member = member_of_origin(origin)
        if member is None or member != caller or member == self._node_id:
            raise WitnessError("unknown_log", f"{caller} may submit only its own audit log")
        keys = log_verifiers(self._directory(), member) or None
        for _ in range(3):  # a concurrent submission may move the head between read and write
            held = await self._store.witness_head(origin)
            latest = TreeHead(origin, held[0], held[1]) if held else None
            cosigned = cosign(request, log_keys=keys, latest=latest, witness_key=self._key,
                              name=self.name, now=self._clock.now())
            head = cosigned.head
            if await self._store.witness_advance(origin, held, head.size, head.root,
                                                 cosigned.cosigned_checkpoint().format(),
                                                 self._clock.now()):
                log.info("cosigned %s at size %d", origin, head.size)
                return cosigned.cosignature.line()
        raise WitnessError("size_conflict", "the head moved during the request",
                           known_size=held[0] if held else 0)

    async def list_cosigned(self, origin: str, min_size: int, limit: int) -> CosignedPage:
        limit = min(limit or LIST_LIMIT, LIST_LIMIT)
        rows = await self._store.witness_cosigned(origin, min_size, limit + 1)
        return CosignedPage(tuple(note for _, note in rows[:limit]), self.statement,
                            len(rows) > limit)


async def witness_key(store: Store) -> NodeKey:
    """This node's Ed25519 witness (cosigner) key, made once and shared by its replicas.

    It lives in the store, not beside the node key: replicas must cosign with one key, and
    whoever runs this node could forge its cosignatures with either copy anyway."""
    held = await store.claim_state("audit", "witness_key", NodeKey.generate("EdDSA").private_jwk())
    return NodeKey.from_private_jwk(held)
