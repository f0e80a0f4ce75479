"""This node's tamper-evident audit log: decisions as provider, receipts as consumer.

``trust.audit`` defines entries, hashing, checkpoints and verification; the store serializes
appends so the chain stays linear (one writer thread on SQLite, an advisory lock on
PostgreSQL). The provider signs a receipt for every answered call; the consumer verifies it
against what it actually received and records it in its own log, so both sides hold evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

import orjson

from trust.audit import (
    AuditEntry,
    AuditRecord,
    ChainReport,
    chain_entry,
    make_checkpoint,
    receipt_record,
    request_digest,
    verify_chain,
)
from trust.canonical import canonical_bytes
from trust.clock import Clock
from trust.directory import Directory
from trust.errors import AuditError, TrustError
from trust.keys import NodeKey
from trust.receipts import digest_entities, make_receipt, verify_receipt

from ..store.base import AuditRow, Store

log = logging.getLogger("renkei.audit")
CHECKPOINT_EVERY = 100


class AuditLog:
    def __init__(self, node_id: str, key: NodeKey, store: Store, clock: Clock,
                 directory: Callable[[], Directory]) -> None:
        self._node_id = node_id
        self._key = key
        self._store = store
        self._clock = clock
        self._directory = directory

    # -- writing ----------------------------------------------------------------------------
    def digest_request(self, operation: str, request: Any) -> str:
        """SHA-256 of the canonical JSON of a request (what the entry and receipt name)."""
        plain = asdict(request) if is_dataclass(request) and not isinstance(request, type) \
            else request
        return request_digest({"operation": operation,
                               "request": orjson.loads(orjson.dumps(plain, default=str))})

    async def append(self, record: AuditRecord) -> AuditEntry:
        entries: list[AuditEntry] = []

        def build(seq: int, prev_hash: str) -> tuple[str, bytes]:
            entry = chain_entry(record, seq, prev_hash)
            entries.append(entry)
            return entry.entry_hash, canonical_bytes(entry.to_document())

        row = await self._store.append_audit(build)
        if row.seq % CHECKPOINT_EVERY == 0:
            await self.checkpoint()
        return entries[-1]

    async def record(self, caller: str, agreement_id: str, operation: str, digest: str,
                     allowed: bool, reason: str, count: int,
                     details: Mapping[str, str | int] | None = None) -> AuditEntry:
        return await self.append(AuditRecord(
            time=self._clock.now(), caller=caller, agreement_id=agreement_id or None,
            operation=operation, request_digest=digest,
            decision="allow" if allowed else "deny", reason=reason, result_count=count,
            details=details or {}))

    async def provide(self, caller: str, agreement_id: str, operation: str, digest: str,
                      sent: Sequence[bytes]) -> str:
        """Audit an answered call and return the signed receipt for the caller."""
        entry = await self.record(caller, agreement_id, operation, digest, True, "allowed",
                                  len(sent))
        return make_receipt(self._key, provider=self._node_id, consumer=caller,
                            agreement_id=agreement_id or None, entry_hash=entry.entry_hash,
                            count=len(sent), data_digest=digest_entities(sent),
                            request_digest=digest, now=self._clock.now())

    async def record_receipt(self, peer: str, receipt: str, received: Sequence[bytes] | None,
                             count: int) -> None:
        """Verify a provider's receipt against what arrived and keep it in our own log."""
        now = self._clock.now()
        try:
            checked = verify_receipt(receipt, self._directory(), provider=peer,
                                     consumer=self._node_id, count=count,
                                     data_digest=digest_entities(received or ()), now=now)
        except TrustError as exc:
            log.warning("peer[%s] sent a receipt that does not verify: %s", peer, exc)
            await self.record(peer, "", "receipt", "", False, exc.code, count)
            return
        await self.append(receipt_record(checked, receipt, now))

    async def checkpoint(self) -> str | None:
        """Sign the current head of the chain (also done every 100 entries and at stop)."""
        row = await self._store.audit_head()
        if row is None:
            return None
        checkpoints = await self._store.checkpoints()
        if checkpoints and checkpoints[-1][0] == row.seq:
            return checkpoints[-1][1]
        jws = make_checkpoint(_entry(row), self._key, self._node_id, self._clock.now())
        await self._store.add_checkpoint(row.seq, jws, self._clock.now())
        return jws

    # -- reading ----------------------------------------------------------------------------
    async def head(self) -> tuple[int, str]:
        row = await self._store.audit_head()
        return (row.seq, row.entry_hash) if row else (0, "0" * 64)

    async def entries(self, after_seq: int = 0, limit: int = 10_000) -> list[AuditEntry]:
        return [_entry(r) for r in await self._store.audit_rows(after_seq, limit)]

    async def verify(self) -> ChainReport:
        """Walk the whole chain and check every checkpoint signature."""
        rows: list[AuditRow] = []
        after = 0
        while True:
            page = await self._store.audit_rows(after, 10_000)
            if not page:
                break
            rows.extend(page)
            after = page[-1].seq
        entries = []
        for position, row in enumerate(rows):
            try:
                entry = _entry(row)
            except AuditError as exc:
                return ChainReport(False, position, row.seq - 1, row.prev_hash, "edited",
                                   row.seq, position, f"entry {row.seq} is unreadable: {exc}")
            entries.append(entry)
        checkpoints = [jws for _, jws in await self._store.checkpoints()]
        return verify_chain(entries, checkpoints, self._public_keys())

    def _public_keys(self) -> list[dict[str, Any]]:
        keys = [self._key.public_jwk()]
        try:
            member = self._directory().member(self._node_id)
        except TrustError:
            member = None
        if member is not None:
            keys += [dict(k.jwk) for k in member.keys]
        return keys


def _entry(row: AuditRow) -> AuditEntry:
    """The entry as stored: its body is authoritative; the index columns must agree."""
    try:
        document = orjson.loads(row.body)
    except orjson.JSONDecodeError as exc:
        raise AuditError("invalid_audit_entry", f"entry {row.seq} is not JSON") from exc
    entry = AuditEntry.from_document(document)
    if entry.seq != row.seq or entry.entry_hash != row.entry_hash:
        # The columns and the body were edited apart: report it as an edit of this entry.
        return AuditEntry(entry.seq, entry.record, entry.prev_hash, row.entry_hash)
    return entry
