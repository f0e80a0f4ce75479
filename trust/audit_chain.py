"""What the audit hash chain alone can tell, and the checkpoints logs wrote before the tree.

Sequence numbers and hash links fail differently under each kind of tampering, which is what
lets :func:`walk_chain` name the entry exactly:

- **edited** — an entry's content no longer matches its hash, or (content and hash both
  rewritten) the next entry's ``prev_hash`` no longer matches it;
- **deleted** — a gap in the sequence numbers;
- **inserted** — an entry that is not part of the chain: its sequence number is held by another
  entry too, or it links to nothing; also an entry re-numbered by +1 without re-hashing;
- **reordered** — genuine entries (their links check out) in the wrong storage order.

A *consistent* rewrite (everything from the change onwards re-hashed) passes the chain; only a
tree head signed before the change, and held where the node's operator cannot reach it,
reveals it (``trust.audit_verify``). Entry hashes are also the leaves of the log's Merkle tree:
:func:`entry_leaf`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trust import _doc
from trust.canonical import loads_strict
from trust.errors import AuditError, AuthenticationError, DocumentError, KeyMaterialError
from trust.jwk import SUPPORTED_ALGORITHMS, public_key_from_jwk
from trust.jws import parse_compact, verify_parsed
from trust.merkle import leaf_hash

if TYPE_CHECKING:
    from trust.audit import AuditEntry

__all__ = [
    "CHECKPOINT_TYP",
    "GENESIS_HASH",
    "LEGACY_CHECKPOINT_DOC",
    "Finding",
    "LegacyCheckpoint",
    "entry_leaf",
    "verify_legacy_checkpoint",
    "walk_chain",
]

GENESIS_HASH = "0" * 64
CHECKPOINT_TYP = "renkei-checkpoint+jws"
LEGACY_CHECKPOINT_DOC = "renkei-audit-checkpoint/v1"
_CHECKPOINT = _doc.Reader(AuditError, "bad_checkpoint")


def entry_leaf(entry_hash: str) -> bytes:
    """The Merkle leaf hash of an entry: RFC 6962 leaf over the 32 bytes of its entry hash.

    Hashing the entry hash (not the entry) lets a consumer holding only a receipt check that
    receipt's entry against the provider's tree, and lets logs begun before the tree join it
    unchanged.
    """
    try:
        raw = bytes.fromhex(entry_hash)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise AuditError("invalid_audit_entry", "an entry hash is 64 hex digits")
    return leaf_hash(raw)


@dataclass(frozen=True)
class LegacyCheckpoint:
    """A pre-Merkle signed statement: "my audit chain had ``head_hash`` at ``seq``"."""

    node: str
    seq: int
    head_hash: str
    time: int


def verify_legacy_checkpoint(jws: str, jwks: Iterable[Mapping[str, Any]]) -> LegacyCheckpoint:
    """Verify a pre-Merkle JWS checkpoint against the node's public keys (by ``kid``)."""
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
        if d["type"] != LEGACY_CHECKPOINT_DOC:
            _CHECKPOINT.fail("not a checkpoint")
        return LegacyCheckpoint(_CHECKPOINT.string(d, "node", "checkpoint", max_len=64),
                                _CHECKPOINT.integer(d, "seq", "checkpoint", minimum=1),
                          _CHECKPOINT.string(d, "head_hash", "checkpoint", max_len=64),
                          _CHECKPOINT.integer(d, "time", "checkpoint"))
    except (AuthenticationError, KeyMaterialError, DocumentError) as exc:
        raise AuditError("bad_checkpoint", getattr(exc, "message", str(exc))) from exc


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a log, and the first entry it concerns.

    ``problem`` is one of ``edited``, ``deleted``, ``inserted``, ``reordered`` (named exactly
    by the hash chain), ``rewritten`` (a consistent chain that disagrees with a signed tree
    head), ``truncated`` (entries missing at the end), ``bad_checkpoint``,
    ``checkpoint_deleted``, ``checkpoint_gap``. ``first_seq``..``last_seq`` is where the first
    changed entry is: one entry when exact, a range when only tree heads bound it (a consistent
    rewrite is pinned down to the nearest genuine tree heads on either side); ``None`` when
    the finding is about a checkpoint, not an entry. ``position`` is the index in the list
    verified, where there is one.
    """

    problem: str
    first_seq: int | None
    message: str
    last_seq: int | None = None
    position: int | None = None

    @property
    def exact(self) -> bool:
        return self.first_seq is not None and self.last_seq in (None, self.first_seq)


class _Bad(Exception):
    def __init__(self, problem: str, seq: int | None, position: int | None, message: str):
        super().__init__(message)
        self.finding = Finding(problem, seq, message, position=position)


def walk_chain(entries: Sequence[AuditEntry]) -> Finding | None:
    """Follow the hash chain in storage order; the first anomaly, or ``None``.

    Exact for every tampering that does not re-hash the rest of the chain; a consistent rewrite
    needs tree heads (``trust.audit_verify``).
    """
    try:
        _walk(entries)
    except _Bad as bad:
        return bad.finding
    return None


def _walk(entries: Sequence[AuditEntry]) -> None:
    positions: dict[int, list[int]] = {}
    for i, e in enumerate(entries):
        positions.setdefault(e.seq, []).append(i)
    referenced = {e.prev_hash for e in entries}
    by_seq_hash = {(e.seq, e.entry_hash) for e in entries}
    exp_seq, exp_prev = 1, GENESIS_HASH
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
                bad = max(e.seq - 1, 1)
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


