"""The append-only audit log: entries, hash chain, signed checkpoints and chain verification.

Each entry carries a sequence number and the hash of the previous entry; its own hash is
SHA-256 over the RFC 8785 bytes of everything else. Storage is the broker's; this module defines
what is stored and how to tell, afterwards, whether it was tampered with. Sequence numbers and
hash links fail differently under each kind of tampering, which is what lets
:func:`verify_chain` name it:

- **edited** — an entry's content no longer matches its hash, or (content and hash both
  rewritten) the next entry's ``prev_hash`` no longer matches it;
- **deleted** — a gap in the sequence numbers (or a signed checkpoint beyond the last entry);
- **inserted** — an entry that is not part of the chain: its sequence number is held by another
  entry too, or it links to nothing; also an entry re-numbered by +1 without re-hashing;
- **reordered** — genuine entries (their links check out) in the wrong storage order;
- **rewritten** — a consistent chain that disagrees with a signed checkpoint: everything from
  the change onwards was re-hashed, which only a checkpoint can reveal.

Checkpoints are JWS over the chain head, signed with the node key; publish or hand them to
peers so that rewriting the whole chain is detectable too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trust import _doc
from trust.canonical import canonical_bytes, loads_strict, sha256_hex
from trust.errors import AuditError, AuthenticationError, DocumentError, KeyMaterialError
from trust.jwk import SUPPORTED_ALGORITHMS, public_key_from_jwk
from trust.jws import parse_compact, verify_parsed
from trust.keys import NodeKey
from trust.receipts import EntityDigest, Receipt, digest_entities, make_receipt, verify_receipt

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditRecord",
    "ChainReport",
    "Checkpoint",
    "EntityDigest",
    "Receipt",
    "chain_entry",
    "digest_entities",
    "make_checkpoint",
    "make_receipt",
    "receipt_record",
    "request_digest",
    "verify_chain",
    "verify_checkpoint",
    "verify_receipt",
]

GENESIS_HASH = "0" * 64
CHECKPOINT_TYP = "renkei-checkpoint+jws"
_ENTRY_DOC = "renkei-audit-entry/v1"
_CHECKPOINT_DOC = "renkei-audit-checkpoint/v1"
_ENTRY = _doc.Reader(AuditError, "invalid_audit_entry")
_CHECKPOINT = _doc.Reader(AuditError, "bad_checkpoint")
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


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: "my audit chain had ``head_hash`` at ``seq``"."""

    node: str
    seq: int
    head_hash: str
    time: int


def make_checkpoint(head: AuditEntry, key: NodeKey, node_id: str, now: float) -> str:
    """Sign the chain head with the node key (compact JWS)."""
    document = {"type": _CHECKPOINT_DOC, "node": node_id, "seq": head.seq,
                "head_hash": head.entry_hash, "time": int(now)}
    return key.sign_compact(canonical_bytes(document), CHECKPOINT_TYP)


def verify_checkpoint(jws: str, jwks: Iterable[Mapping[str, Any]]) -> Checkpoint:
    """Verify a checkpoint against the node's public keys (by ``kid``)."""
    by_kid = {str(j.get("kid")): j for j in jwks}
    try:
        parsed = parse_compact(jws, max_bytes=4096, algorithms=SUPPORTED_ALGORITHMS)
        jwk = by_kid.get(parsed.kid or "")
        if jwk is None or parsed.header.get("typ") != CHECKPOINT_TYP:
            raise AuditError("bad_checkpoint", "checkpoint key is not one of the node's keys")
        key, alg = public_key_from_jwk(jwk)
        verify_parsed(parsed, key, alg)
        d = _CHECKPOINT.obj(loads_strict(parsed.payload, max_bytes=4096), "checkpoint")
        _CHECKPOINT.keys(d, "checkpoint", required=("type", "node", "seq", "head_hash", "time"))
        if d["type"] != _CHECKPOINT_DOC:
            _CHECKPOINT.fail("not a checkpoint")
        return Checkpoint(_CHECKPOINT.string(d, "node", "checkpoint", max_len=64),
                          _CHECKPOINT.integer(d, "seq", "checkpoint", minimum=1),
                          _CHECKPOINT.string(d, "head_hash", "checkpoint", max_len=64),
                          _CHECKPOINT.integer(d, "time", "checkpoint"))
    except (AuthenticationError, KeyMaterialError, DocumentError) as exc:
        raise AuditError("bad_checkpoint", getattr(exc, "message", str(exc))) from exc


@dataclass(frozen=True)
class ChainReport:
    """Outcome of :func:`verify_chain`: ``ok``, or the first problem and where it is.

    ``problem`` is one of ``edited``, ``deleted``, ``inserted``, ``reordered``, ``rewritten``,
    ``bad_checkpoint``; ``bad_seq`` the sequence number concerned; ``position`` the index in
    the list given (None when the problem is something missing).
    """

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    bad_seq: int | None = None
    position: int | None = None
    message: str = "chain verified"
    checkpoints_verified: int = 0


class _Bad(Exception):
    def __init__(self, problem: str, seq: int | None, position: int | None, message: str):
        super().__init__(message)
        self.problem, self.seq, self.position, self.message = problem, seq, position, message


def _walk(entries: Sequence[AuditEntry], start_seq: int, start_hash: str,
          progress: list[Any]) -> tuple[int, str]:
    """Follow the chain in storage order; raise ``_Bad`` at the first anomaly.

    ``progress`` holds ``[seq, hash]`` of the last entry accepted so far.
    """
    positions: dict[int, list[int]] = {}
    for i, e in enumerate(entries):
        positions.setdefault(e.seq, []).append(i)
    referenced = {e.prev_hash for e in entries}
    by_seq_hash = {(e.seq, e.entry_hash) for e in entries}
    exp_seq, exp_prev = start_seq, start_hash
    for i, e in enumerate(entries):
        if e.computed_hash() != e.entry_hash:
            if e.computed_hash(e.seq - 1) == e.entry_hash:
                raise _Bad("inserted", e.seq, i,
                           f"entry {e.seq} was re-numbered up by one: an entry was inserted "
                           "before it")
            if e.computed_hash(e.seq + 1) == e.entry_hash:
                raise _Bad("deleted", e.seq, None,
                           f"entry {e.seq + 1} was re-numbered down by one: entry {e.seq} "
                           "was deleted")
            raise _Bad("edited", e.seq, i, f"entry {e.seq} does not match its hash")
        if len(positions[e.seq]) > 1:
            dups = positions[e.seq]
            unlinked = [p for p in dups if entries[p].entry_hash not in referenced]
            culprit = unlinked[0] if len(unlinked) < len(dups) and unlinked else dups[-1]
            raise _Bad("inserted", e.seq, culprit,
                       f"two entries claim seq {e.seq}; the one at position {culprit} is not "
                       "part of the chain")
        if e.seq == exp_seq:
            if e.prev_hash != exp_prev:
                bad = e.seq - 1 if e.seq > start_seq else e.seq
                raise _Bad("edited", bad, i - 1 if i else i,
                           f"entry {e.seq} does not link to entry {e.seq - 1}: entry "
                           f"{e.seq - 1} was changed and re-hashed")
        elif e.seq > exp_seq:
            missing = range(exp_seq, e.seq)
            if any(s in positions for s in missing):
                genuine = (e.seq - 1, e.prev_hash) in by_seq_hash
                raise _Bad("reordered" if genuine else "inserted", e.seq, i,
                           f"entry {e.seq} appears before entry {exp_seq}" if genuine else
                           f"entry at position {i} (seq {e.seq}) does not link into the chain")
            raise _Bad("deleted", exp_seq, None,
                       f"entries {exp_seq}..{e.seq - 1} are missing")
        else:
            raise _Bad("reordered", e.seq, i, f"entry {e.seq} appears after entry {exp_seq - 1}")
        exp_seq, exp_prev = e.seq + 1, e.entry_hash
        progress[:] = [e.seq, e.entry_hash]
    return exp_seq - 1, exp_prev


def verify_chain(entries: Iterable[AuditEntry], checkpoints: Iterable[str] = (),
                 jwks: Iterable[Mapping[str, Any]] = (), *,
                 anchor: tuple[int, str] | None = None) -> ChainReport:
    """Verify a log (in storage order) and name the first bad entry and what is wrong.

    ``anchor`` is ``(seq, entry_hash)`` of the last entry before ``entries`` when the log was
    pruned; otherwise the chain must start at seq 1 after ``GENESIS_HASH``. ``checkpoints`` are
    checked against ``jwks`` (the node's public keys) and against the entries.
    """
    listed = list(entries)
    start_seq, start_hash = (anchor[0] + 1, anchor[1]) if anchor else (1, GENESIS_HASH)
    progress: list[Any] = [start_seq - 1, start_hash]
    try:
        head_seq, head_hash = _walk(listed, start_seq, start_hash, progress)
        verified = 0
        by_seq = {e.seq: e for e in listed}
        for jws in checkpoints:
            try:
                checkpoint = verify_checkpoint(jws, jwks)
            except AuditError as exc:
                raise _Bad("bad_checkpoint", None, None, exc.message) from exc
            if checkpoint.seq > head_seq:
                raise _Bad("deleted", head_seq + 1, None,
                           f"a checkpoint covers seq {checkpoint.seq} but the log ends at "
                           f"{head_seq}: entries were removed from the end")
            entry = by_seq.get(checkpoint.seq)
            if entry is not None and entry.entry_hash != checkpoint.head_hash:
                raise _Bad("rewritten", checkpoint.seq, listed.index(entry),
                           f"entry {checkpoint.seq} differs from the signed checkpoint: the "
                           "chain up to it was rewritten")
            verified += entry is not None
    except _Bad as bad:
        return ChainReport(False, len(listed), progress[0], progress[1], bad.problem, bad.seq,
                           bad.position, bad.message)
    return ChainReport(True, len(listed), head_seq, head_hash, checkpoints_verified=verified)


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
        details={"provider_entry_hash": receipt.entry_hash, "data_digest": receipt.data_digest,
                 "receipt_digest": sha256_hex(receipt_jws.encode("ascii"))},
    )
