"""This node's tamper-evident audit log: decisions as provider, receipts as consumer.

``trust.audit`` defines entries and hashing; the store serializes appends so the chain stays
linear (one writer thread on SQLite, an advisory lock on PostgreSQL) and keeps the log's RFC 6962
Merkle tree beside it. Every ``checkpoint_every`` entries, and when the node stops, the log
signs a C2SP tlog-checkpoint of its tree (``trust.checkpoint``); peers witness those checkpoints
(``broker.provider.witness`` answers as a witness, ``broker.federation.witnessing`` sends
ours), so the node's own operator cannot rewrite, truncate or reorder the log unnoticed.
The provider signs a receipt for every answered call naming the entry and the tree size and
root just after it; the consumer verifies it against what it actually received and records
it in its own log, so both sides hold evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

import orjson

from trust.audit import AuditEntry, AuditRecord, chain_entry, receipt_record, request_digest
from trust.audit_verify import LogReport, verify_log
from trust.canonical import canonical_bytes
from trust.checkpoint import (
    Checkpoint,
    TreeHead,
    audit_origin,
    log_verifiers,
    open_checkpoint,
    sign_checkpoint,
)
from trust.clock import Clock
from trust.directory import Directory
from trust.errors import AuditError, TrustError
from trust.keys import NodeKey
from trust.merkle import CompactRange, consistency_addresses, consistency_proof, frontier_addresses
from trust.note import NoteVerifier, PublicKeyVerifier
from trust.receipts import digest_entities, make_receipt, verify_receipt
from trust.witness import WitnessKey

from ..store.base import AuditRow, Store

log = logging.getLogger("renkei.audit")
CHECKPOINT_EVERY = 100


class AuditLog:
    def __init__(self, node_id: str, key: NodeKey, store: Store, clock: Clock,
                 directory: Callable[[], Directory], *,
                 checkpoint_every: int = CHECKPOINT_EVERY,
                 on_checkpoint: Callable[[Checkpoint], None] | None = None) -> None:
        self._node_id = node_id
        self._key = key
        self._store = store
        self._clock = clock
        self._directory = directory
        self.origin = audit_origin(node_id)
        self.checkpoint_every = checkpoint_every
        self._on_checkpoint = on_checkpoint

    # -- writing ----------------------------------------------------------------------------
    def digest_request(self, operation: str, request: Any) -> str:
        """SHA-256 of the canonical JSON of a request (what the entry and receipt name)."""
        plain = asdict(request) if is_dataclass(request) and not isinstance(request, type) \
            else request
        return request_digest({"operation": operation,
                               "request": orjson.loads(orjson.dumps(plain, default=str))})

    async def append(self, record: AuditRecord) -> AuditEntry:
        return (await self._append(record))[0]

    async def _append(self, record: AuditRecord) -> tuple[AuditEntry, bytes]:
        """The entry and the tree root just after it."""
        entries: list[AuditEntry] = []

        def build(seq: int, prev_hash: str) -> tuple[str, bytes]:
            entry = chain_entry(record, seq, prev_hash)
            entries.append(entry)
            return entry.entry_hash, canonical_bytes(entry.to_document())

        row = await self._store.append_audit(build)
        if row.seq % self.checkpoint_every == 0:
            await self.checkpoint()
        root = row.tree_root if row.tree_root is not None else await self.root(row.seq)
        return entries[-1], root

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
        entry, root = await self._append(AuditRecord(
            time=self._clock.now(), caller=caller, agreement_id=agreement_id or None,
            operation=operation, request_digest=digest, decision="allow", reason="allowed",
            result_count=len(sent)))
        return make_receipt(self._key, provider=self._node_id, consumer=caller,
                            agreement_id=agreement_id or None, entry_hash=entry.entry_hash,
                            count=len(sent), data_digest=digest_entities(sent),
                            request_digest=digest, now=self._clock.now(), log_size=entry.seq,
                            log_root=root.hex())

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

    async def checkpoint(self) -> Checkpoint | None:
        """Sign the current tree head (done every ``checkpoint_every`` entries and at stop);
        ``None`` while the log is empty. An unchanged tree is not signed twice."""
        size = await self._store.sync_audit_tree()
        if size == 0:
            return None
        heads = await self._store.tree_heads()
        if heads and heads[-1][0] == size:
            return open_checkpoint(heads[-1][1], self.log_keys(), origin=self.origin)
        checkpoint = sign_checkpoint(TreeHead(self.origin, size, await self.root(size)),
                                     self._key)
        if await self._store.add_tree_head(size, checkpoint.format(), self._clock.now()):
            log.info("audit checkpoint at size %d", size)
        if self._on_checkpoint is not None:
            self._on_checkpoint(checkpoint)
        return checkpoint

    async def latest_checkpoint(self) -> Checkpoint | None:
        heads = await self._store.tree_heads()
        return open_checkpoint(heads[-1][1], self.log_keys(), origin=self.origin) \
            if heads else None

    async def checkpoint_at(self, size: int) -> Checkpoint | None:
        for held, note in await self._store.tree_heads():
            if held == size:
                return open_checkpoint(note, self.log_keys(), origin=self.origin)
        return None

    async def root(self, size: int) -> bytes:
        """The tree's root at ``size`` entries, from its stored frontier nodes."""
        addresses = frontier_addresses(size)
        nodes = await self._store.audit_nodes(addresses)
        if len(nodes) != len(addresses):
            raise AuditError("invalid_audit_entry", f"the audit tree has no size {size}")
        return CompactRange(size, [nodes[a] for a in addresses]).root()

    async def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """RFC 6962 consistency proof between two sizes of this log's tree."""
        if not 0 <= old <= new:
            raise AuditError("bad_proof", f"no consistency proof from {old} to {new}")
        if old in (0, new):
            return []
        nodes = await self._store.audit_nodes(consistency_addresses(old, new))
        try:
            return consistency_proof(old, new, nodes.__getitem__)
        except KeyError:
            raise AuditError("bad_proof", f"the audit tree has no size {new}") from None

    def log_keys(self) -> list[NoteVerifier]:
        """Keys whose checkpoints count as this log's: its current key and its directory keys
        that are not revoked."""
        own: list[NoteVerifier] = [PublicKeyVerifier(self.origin,
                                                     self._key.private_key.public_key())]
        try:
            return own + log_verifiers(self._directory(), self._node_id)
        except TrustError:
            return own

    # -- reading ----------------------------------------------------------------------------
    async def head(self) -> tuple[int, str]:
        row = await self._store.audit_head()
        return (row.seq, row.entry_hash) if row else (0, "0" * 64)

    async def entries(self, after_seq: int = 0, limit: int = 10_000) -> list[AuditEntry]:
        return [_entry(r) for r in await self._store.audit_rows(after_seq, limit)]

    async def verify(self, cosigned: Iterable[str] = (),
                     witnesses: Sequence[WitnessKey] = ()) -> LogReport:
        """The whole log against its own checkpoints, the cosigned checkpoints it holds and
        ``cosigned`` (as witnesses returned them), with the witness keys given."""
        rows: list[AuditRow] = []
        after = 0
        while True:
            page = await self._store.audit_rows(after, 10_000)
            if not page:
                break
            rows.extend(page)
            after = page[-1].seq
        entries = [_entry(row) for row in rows]
        held = [note for _, _, note in await self._store.cosigned()]
        return verify_log(
            entries, origin=self.origin, log_keys=self.log_keys(),
            checkpoints=[note for _, note in await self._store.tree_heads()],
            cosigned=[*held, *cosigned], witnesses=witnesses,
            checkpoint_every=self.checkpoint_every,
            legacy_checkpoints=[jws for _, jws in await self._store.checkpoints()],
            legacy_jwks=self._public_keys())

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
    """The entry as stored: its body is authoritative; the index columns must agree.

    An unreadable body still takes its place in the log (as an entry whose hash no content
    yields), so verification names it as edited instead of failing.
    """
    try:
        entry = AuditEntry.from_document(orjson.loads(row.body))
    except (orjson.JSONDecodeError, AuditError):
        return AuditEntry(row.seq, _UNREADABLE, row.prev_hash, row.entry_hash)
    if entry.seq != row.seq or entry.entry_hash != row.entry_hash:
        # The columns and the body were edited apart: report it as an edit of this entry.
        return AuditEntry(entry.seq, entry.record, entry.prev_hash, row.entry_hash)
    return entry


_UNREADABLE = AuditRecord(time=0.0, caller="", agreement_id=None, operation="unreadable",
                          request_digest="", decision="unreadable", reason="unreadable entry")
