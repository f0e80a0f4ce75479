"""Signed receipts: the provider's evidence to the consumer of what it delivered.

After a call the provider signs a receipt naming its audit entry hash, its audit log's size and
RFC 6962 root right after that entry (``trust.merkle``), the number of entities returned and a
digest of their bytes; the consumer checks it against what it actually received
and records it in its own audit log (``trust.audit.receipt_record``). Either side can later
prove what crossed the wire without keeping the data itself, and the consumer holds a tree head
of the provider's log signed by the provider: evidence the provider cannot take back when it
later shows its witnesses (or an auditor) a log without that entry.

The data digest is SHA-256 over the returned entities' bytes in order, each prefixed by its
length as 8 bytes big-endian, so no two different sequences share a digest by concatenation.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

from trust import _doc
from trust.canonical import canonical_bytes, loads_strict
from trust.directory import Directory
from trust.errors import AuditError, AuthenticationError, DocumentError
from trust.jwk import SUPPORTED_ALGORITHMS
from trust.jws import parse_compact, verify_parsed
from trust.keys import NodeKey

__all__ = ["EntityDigest", "Receipt", "digest_entities", "make_receipt", "verify_receipt"]

RECEIPT_TYP = "renkei-receipt+jws"
_RECEIPT_DOC = "renkei-receipt/v2"
_RECEIPT_V1 = "renkei-receipt/v1"  # from providers before the Merkle log: no log size or root
_MAX_RECEIPT = 4096
_READ = _doc.Reader(AuditError, "bad_receipt")
_FIELDS = ("type", "provider", "consumer", "agreement_id", "entry_hash", "count",
           "data_digest", "request_digest", "time")
_LOG_FIELDS = ("log_size", "log_root")


_length_prefix = struct.Struct(">Q").pack  # 8 bytes, big-endian, as EntityDigest.update


class EntityDigest:
    """Incremental :func:`digest_entities`, for results that are streamed in batches."""

    __slots__ = ("_hash", "count")

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0

    def update(self, entity_bytes: bytes) -> None:
        self._hash.update(len(entity_bytes).to_bytes(8, "big"))
        self._hash.update(entity_bytes)
        self.count += 1

    def update_many(self, batch: Iterable[bytes]) -> None:
        # Hashing a joined chunk costs one call instead of two per entity (same digest).
        items = batch if isinstance(batch, list | tuple) else list(batch)
        for at in range(0, len(items), 1024):
            chunk = items[at:at + 1024]
            prefixes = map(_length_prefix, map(len, chunk))
            self._hash.update(b"".join(chain.from_iterable(zip(prefixes, chunk, strict=True))))
        self.count += len(items)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def digest_entities(entities: Iterable[bytes]) -> str:
    """SHA-256 hex over the entity bytes in order, each length-prefixed (8 bytes, big-endian)."""
    digest = EntityDigest()
    digest.update_many(entities)
    return digest.hexdigest()


@dataclass(frozen=True)
class Receipt:
    """A verified receipt."""

    provider: str
    consumer: str
    agreement_id: str | None
    entry_hash: str
    count: int
    data_digest: str
    request_digest: str
    time: int
    log_size: int | None = None
    log_root: str | None = None  # hex


def make_receipt(key: NodeKey, *, provider: str, consumer: str, agreement_id: str | None,
                 entry_hash: str, count: int, data_digest: str, request_digest: str,
                 now: float, log_size: int | None = None, log_root: str | None = None) -> str:
    """The provider's signed receipt (compact JWS with its node key).

    ``log_size`` and ``log_root`` (hex) are the provider's audit tree just after the entry.
    Without them the receipt is written in the v1 form (kept for tests of old receipts;
    the broker always names its tree).
    """
    document: dict[str, object] = {
        "type": _RECEIPT_V1, "provider": provider, "consumer": consumer,
        "agreement_id": agreement_id, "entry_hash": entry_hash, "count": count,
        "data_digest": data_digest, "request_digest": request_digest, "time": int(now)}
    if log_size is not None and log_root is not None:
        document.update(type=_RECEIPT_DOC, log_size=log_size, log_root=log_root)
    return key.sign_compact(canonical_bytes(document), RECEIPT_TYP)


def verify_receipt(receipt: str, directory: Directory, *, provider: str, consumer: str,
                   count: int, data_digest: str, now: float,
                   leeway_seconds: float = 300.0) -> Receipt:
    """Verify a receipt from ``provider`` and check it matches what ``consumer`` received.

    Raises ``AuditError("bad_receipt")`` if it is not a valid receipt signed by a current key of
    the provider, and ``AuditError("receipt_mismatch")`` if it names another party, another
    count or another data digest than the consumer computed itself.
    """
    try:
        parsed = parse_compact(receipt, max_bytes=_MAX_RECEIPT, algorithms=SUPPORTED_ALGORITHMS)
        if parsed.header.get("typ") != RECEIPT_TYP:
            _READ.fail("not a receipt")
        key = directory.signing_key(provider, parsed.kid, now, leeway=leeway_seconds)
        verify_parsed(parsed, key.public_key, key.algorithm)
        d = _READ.obj(loads_strict(parsed.payload, max_bytes=_MAX_RECEIPT), "receipt")
        v2 = d.get("type") == _RECEIPT_DOC
        _READ.keys(d, "receipt", required=_FIELDS + (_LOG_FIELDS if v2 else ()))
        if not v2 and d["type"] != _RECEIPT_V1:
            _READ.fail("not a receipt")
        agreement_id = d["agreement_id"]
        if agreement_id is not None and not isinstance(agreement_id, str):
            _READ.fail("receipt.agreement_id must be a string or null")
        checked = Receipt(
            provider=_READ.string(d, "provider", "receipt", max_len=64),
            consumer=_READ.string(d, "consumer", "receipt", max_len=64),
            agreement_id=agreement_id,
            entry_hash=_READ.string(d, "entry_hash", "receipt", max_len=64),
            count=_READ.integer(d, "count", "receipt"),
            data_digest=_READ.string(d, "data_digest", "receipt", max_len=64),
            request_digest=_READ.string(d, "request_digest", "receipt", max_len=64),
            time=_READ.integer(d, "time", "receipt"),
            log_size=_READ.integer(d, "log_size", "receipt", minimum=1) if v2 else None,
            log_root=_READ.string(d, "log_root", "receipt", max_len=64) if v2 else None,
        )
    except (AuthenticationError, DocumentError) as exc:
        raise AuditError("bad_receipt", exc.message) from exc
    if checked.provider != provider or checked.consumer != consumer:
        raise AuditError("receipt_mismatch", "receipt names other parties")
    if checked.count != count:
        raise AuditError("receipt_mismatch",
                         f"receipt says {checked.count} entities, {count} were received")
    if checked.data_digest != data_digest:
        raise AuditError("receipt_mismatch", "receipt digest differs from the data received")
    return checked
