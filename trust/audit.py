"""The append-only audit log: records, entries and their hash chain.

Each entry carries a sequence number and the hash of the previous entry; its own hash is
SHA-256 over the RFC 8785 bytes of everything else. The entry hashes are also the leaves of the
log's RFC 6962 Merkle tree (leaf ``i`` is :func:`entry_leaf` of entry ``i + 1``), whose signed
and witnessed tree heads (``trust.checkpoint``, ``trust.witness``) anchor the log outside the
node; ``trust.audit_verify`` checks both. Storage is the broker's.

How each kind of tampering shows, and what only tree heads reveal: ``trust.audit_chain`` and
``trust.audit_verify``. Logs written before the Merkle tree have JWS checkpoints over the
chain head; :func:`verify_legacy_checkpoint` still reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trust import _doc
from trust.audit_chain import (
    GENESIS_HASH,
    Finding,
    LegacyCheckpoint,
    entry_leaf,
    verify_legacy_checkpoint,
    walk_chain,
)
from trust.canonical import canonical_bytes, sha256_hex
from trust.errors import AuditError
from trust.receipts import EntityDigest, Receipt, digest_entities, make_receipt, verify_receipt

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditRecord",
    "EntityDigest",
    "Finding",
    "LegacyCheckpoint",
    "Receipt",
    "chain_entry",
    "digest_entities",
    "entry_leaf",
    "make_receipt",
    "receipt_record",
    "request_digest",
    "verify_legacy_checkpoint",
    "verify_receipt",
    "walk_chain",
]

_ENTRY_DOC = "renkei-audit-entry/v1"
_ENTRY = _doc.Reader(AuditError, "invalid_audit_entry")
_RECORD_FIELDS = ("time", "caller", "agreement_id", "operation", "request_digest", "decision",
                  "reason", "result_count", "details")


def request_digest(request: Any) -> str:
    """SHA-256 hex of the canonical JSON of a request description (for ``request_digest``)."""
    return sha256_hex(canonical_bytes(request))


@dataclass(frozen=True)
class AuditRecord:
    """What happened: one decision on one request (or a receipt, on the consumer side)."""

    time: float
    caller: str
    agreement_id: str | None
    operation: str
    request_digest: str
    decision: str
    reason: str
    result_count: int = 0
    details: Mapping[str, str | int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def to_document(self) -> dict[str, Any]:
        return {name: (dict(self.details) if name == "details" else getattr(self, name))
                for name in _RECORD_FIELDS}


@dataclass(frozen=True)
class AuditEntry:
    """A record placed in the chain: ``seq``, the record, ``prev_hash`` and ``entry_hash``."""

    seq: int
    record: AuditRecord
    prev_hash: str
    entry_hash: str

    def __getattr__(self, name: str) -> Any:
        # Record fields read through the entry (entry.caller, entry.decision, ...).
        if name in _RECORD_FIELDS:
            return getattr(self.record, name)
        raise AttributeError(name)

    def to_document(self) -> dict[str, Any]:
        """Storage form, flat: ``seq``, the record fields, ``prev_hash``, ``entry_hash``."""
        return {"seq": self.seq, **self.record.to_document(), "prev_hash": self.prev_hash,
                "entry_hash": self.entry_hash}

    @classmethod
    def from_document(cls, d: Mapping[str, Any]) -> AuditEntry:
        w = "audit entry"
        d = _ENTRY.obj(d, w)
        _ENTRY.keys(d, w, required=("seq", *_RECORD_FIELDS, "prev_hash", "entry_hash"))
        return cls(_ENTRY.integer(d, "seq", w, minimum=1), _record_from_document(d),
                   _ENTRY.string(d, "prev_hash", w, max_len=64),
                   _ENTRY.string(d, "entry_hash", w, max_len=64))

    def computed_hash(self, seq: int | None = None) -> str:
        """The hash this entry's content yields (optionally as if numbered ``seq``)."""
        return _entry_hash(self.seq if seq is None else seq, self.record, self.prev_hash)


def _record_from_document(d: Mapping[str, Any]) -> AuditRecord:
    w = "audit entry"
    details = _ENTRY.obj(d["details"], f"{w}.details")
    for key, value in details.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            _ENTRY.fail(f"{w}.details.{str(key)[:64]} must be a string or an integer")
    return AuditRecord(
        time=_ENTRY.number(d, "time", w),
        caller=_ENTRY.string(d, "caller", w, max_len=1024, allow_empty=True),
        agreement_id=_ENTRY.optional_string(d, "agreement_id", w, max_len=1024),
        operation=_ENTRY.string(d, "operation", w, max_len=1024),
        request_digest=_ENTRY.string(d, "request_digest", w, max_len=1024, allow_empty=True),
        decision=_ENTRY.string(d, "decision", w, max_len=1024),
        reason=_ENTRY.string(d, "reason", w, max_len=1 << 16, allow_empty=True),
        result_count=_ENTRY.integer(d, "result_count", w),
        details=dict(details),
    )


def _entry_hash(seq: int, record: AuditRecord, prev_hash: str) -> str:
    body = {"type": _ENTRY_DOC, "seq": seq, **record.to_document(), "prev_hash": prev_hash}
    return sha256_hex(canonical_bytes(body))


def chain_entry(record: AuditRecord, seq: int, prev_hash: str) -> AuditEntry:
    """The entry for ``record`` at ``seq`` after the entry whose hash is ``prev_hash``.

    The first entry of a log is ``seq=1`` with ``prev_hash=GENESIS_HASH``.
    """
    if seq < 1:
        raise AuditError("invalid_audit_entry", "seq starts at 1")
    return AuditEntry(seq, record, prev_hash, _entry_hash(seq, record, prev_hash))


def receipt_record(receipt: Receipt, receipt_jws: str, now: float) -> AuditRecord:
    """The consumer's own audit record of a verified receipt (append it with ``chain_entry``)."""
    return AuditRecord(
        time=now,
        caller=receipt.provider,
        agreement_id=receipt.agreement_id,
        operation="receipt",
        request_digest=receipt.request_digest,
        decision="receipt",
        reason="received",
        result_count=receipt.count,
        details=_receipt_details(receipt, receipt_jws),
    )


def _receipt_details(receipt: Receipt, receipt_jws: str) -> dict[str, str | int]:
    details: dict[str, str | int] = {
        "provider_entry_hash": receipt.entry_hash, "data_digest": receipt.data_digest,
        "receipt_digest": sha256_hex(receipt_jws.encode("ascii"))}
    if receipt.log_size is not None and receipt.log_root is not None:
        details["provider_log_size"] = receipt.log_size
        details["provider_log_root"] = receipt.log_root
    return details
