"""Peers as witnesses of each other's audit logs (C2SP tlog-witness, tlog-cosignature).

A log sends each new checkpoint to its witnesses with a consistency proof from the last
checkpoint that witness cosigned (request body as in tlog-witness ``add-checkpoint``)::

    old 1280
    <base64 hash>                      consistency proof, at most 63 lines
    <blank line>
    <the checkpoint, log-signed>

The witness checks, in this order: it knows the log (``unknown_log``); a log key signed it
(``untrusted_checkpoint``); old size ≤ new size (``invalid_request``); old size is the size it
last cosigned (``size_conflict`` with ``known_size``); the proof verifies
(``inconsistent_tree``); at equal sizes the roots agree (``root_conflict``). Then it records
the new tree head, atomically with the check, and returns its cosignature/v1. Because the
recorded head only ever grows along consistency proofs, a smaller or forked tree is refused for
ever; the witness's store is what makes that survive its restarts (see :func:`cosign`).

Cosignatures need Ed25519, and a member's directory key may be ES256, so each node has a
separate Ed25519 witness key and vouches for it with a *witness key statement*: a JWS signed
with its directory key naming the witness name and public key. Verifiers take witness keys only
from statements that verify against the signed directory.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from trust import _doc
from trust.canonical import canonical_bytes, loads_strict
from trust.checkpoint import MAX_CHECKPOINT_BYTES, Checkpoint, TreeHead, open_checkpoint
from trust.directory import Directory
from trust.errors import AuditError, AuthenticationError, DocumentError, WitnessError
from trust.jwk import SUPPORTED_ALGORITHMS
from trust.jws import parse_compact, verify_parsed
from trust.keys import NodeKey
from trust.merkle import HASH_SIZE, MAX_PROOF_LENGTH, verify_consistency
from trust.note import (
    CosignatureV1Signer,
    CosignatureV1Verifier,
    Note,
    NoteSignature,
    NoteVerifier,
    check_key_name,
    open_note,
    parse_note,
)

__all__ = [
    "WITNESS_KEY_TYP",
    "WITNESS_PREFIX",
    "AddCheckpoint",
    "Comparison",
    "Cosigned",
    "WitnessKey",
    "compare_heads",
    "cosign",
    "format_add_checkpoint",
    "make_witness_statement",
    "parse_add_checkpoint",
    "verify_cosignatures",
    "verify_witness_statement",
    "witness_name",
]

WITNESS_PREFIX = "renkei.witness/"
WITNESS_KEY_TYP = "renkei-witness-key+jws"
_STATEMENT_DOC = "renkei-witness-key/v1"
_MAX_REQUEST = MAX_CHECKPOINT_BYTES + (MAX_PROOF_LENGTH + 1) * 48
_READ = _doc.Reader(AuditError, "bad_witness_key")


def witness_name(member_id: str) -> str:
    """The cosigner (key) name of ``member_id``'s witness."""
    return check_key_name(WITNESS_PREFIX + member_id)


def _raw(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class WitnessKey:
    """A verified witness: its member, cosigner name, and cosignature verifier."""

    member: str
    verifier: CosignatureV1Verifier

    @property
    def name(self) -> str:
        return self.verifier.name


def make_witness_statement(node_key: NodeKey, member_id: str, witness_key: NodeKey,
                           now: float) -> str:
    """The node's JWS (directory key) vouching for its Ed25519 witness key."""
    public = witness_key.private_key.public_key()
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise AuditError("bad_witness_key", "a witness key must be Ed25519")
    document = {"type": _STATEMENT_DOC, "member": member_id, "name": witness_name(member_id),
                "public_key": base64.b64encode(_raw(public)).decode(), "issued_at": int(now)}
    return node_key.sign_compact(canonical_bytes(document), WITNESS_KEY_TYP)


def verify_witness_statement(statement: str, directory: Directory) -> WitnessKey:
    """The witness key a statement vouches for, if a non-revoked key of its member signed it.

    Keys past their validity window still count (cosignatures are history, as checkpoints
    are); a revoked member or key voids its statements.
    """
    try:
        parsed = parse_compact(statement, max_bytes=2048, algorithms=SUPPORTED_ALGORITHMS)
        if parsed.header.get("typ") != WITNESS_KEY_TYP:
            _READ.fail("not a witness key statement")
        d = _READ.obj(loads_strict(parsed.payload, max_bytes=2048), "witness key statement")
        _READ.keys(d, "witness key statement",
                   required=("type", "member", "name", "public_key", "issued_at"))
        member_id = _READ.string(d, "member", "witness key statement", max_len=64)
        if d["type"] != _STATEMENT_DOC:
            _READ.fail("not a witness key statement")
        member = directory.member(member_id)
        key = member.key(parsed.kid or "") if member is not None else None
        if member is None or member.revoked or key is None or key.revoked:
            _READ.fail(f"no current directory key of {member_id} signed this statement")
        verify_parsed(parsed, key.public_key, key.algorithm)
        name = _READ.string(d, "name", "witness key statement", max_len=128)
        if name != witness_name(member_id):
            _READ.fail("witness name does not match its member")
        raw = base64.b64decode(_READ.string(d, "public_key", "witness key statement"),
                               validate=True)
        public = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except (AuthenticationError, DocumentError, binascii.Error, ValueError) as exc:
        raise AuditError("bad_witness_key", f"witness key statement: {exc}") from exc
    return WitnessKey(member_id, CosignatureV1Verifier(name, public))


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed ``add-checkpoint`` request (the checkpoint's signature is not checked yet)."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: Note


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], checkpoint: Checkpoint) -> bytes:
    """The request body a log sends a witness."""
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + checkpoint.format()).encode()


def _invalid(message: str) -> WitnessError:
    return WitnessError("invalid_request", message)


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Read an ``add-checkpoint`` body; anything out of shape is ``invalid_request``."""
    if len(body) > _MAX_REQUEST:
        raise _invalid(f"request exceeds {_MAX_REQUEST} bytes")
    head, sep, rest = body.partition(b"\n\n")
    if not sep:
        raise _invalid("request has no blank line before the checkpoint")
    lines = head.split(b"\n")
    first = lines[0].decode("ascii", errors="replace")
    size = first[4:] if first.startswith("old ") else ""
    if not size.isdigit() or (size != "0" and size.startswith("0")) or len(size) > 19:
        raise _invalid("the first line must be 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LENGTH:
        raise _invalid(f"more than {MAX_PROOF_LENGTH} consistency proof lines")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _invalid("a consistency proof line is not base64") from exc
        if len(h) != HASH_SIZE:
            raise _invalid("a consistency proof line is not a 32-byte hash")
        proof.append(h)
    try:
        note = parse_note(rest, max_bytes=MAX_CHECKPOINT_BYTES)
    except AuditError as exc:
        raise _invalid(f"checkpoint: {exc.message}") from exc
    return AddCheckpoint(int(size), tuple(proof), note)


@dataclass(frozen=True)
class Cosigned:
    """The witness's answer: the verified checkpoint and its cosignature line."""

    checkpoint: Checkpoint
    cosignature: NoteSignature

    @property
    def head(self) -> TreeHead:
        return self.checkpoint.head

    def cosigned_checkpoint(self) -> Checkpoint:
        """The checkpoint with the cosignature appended (what the witness stores)."""
        return self.checkpoint.with_signatures([self.cosignature])


def cosign(request: AddCheckpoint, *, log_keys: Sequence[NoteVerifier] | None,
           latest: TreeHead | None, witness_key: NodeKey, name: str, now: float) -> Cosigned:
    """Decide an ``add-checkpoint`` request as a witness; pure, so storage stays the caller's.

    ``log_keys`` are the log's verifiers (``None`` when the log is unknown); ``latest`` is the
    head this witness last cosigned for the checkpoint's origin. The caller must persist the
    returned head before answering, with a compare-and-set on ``latest`` (two concurrent
    requests must not both pass against the same old head and roll the record back).
    """
    if log_keys is None:
        raise WitnessError("unknown_log", "this witness does not witness that log")
    try:
        checkpoint = open_checkpoint(request.checkpoint, log_keys)
    except AuditError as exc:
        code = "invalid_request" if exc.code in ("malformed_note", "bad_checkpoint") \
            else "untrusted_checkpoint"
        raise WitnessError(code, exc.message) from exc
    head = checkpoint.head
    if latest is not None and latest.origin != head.origin:
        raise WitnessError("unknown_log", "the recorded head is for another log")
    if request.old_size > head.size:
        raise _invalid(f"old size {request.old_size} is above the checkpoint size {head.size}")
    known = latest.size if latest is not None else 0
    if request.old_size != known:
        raise WitnessError("size_conflict", f"this witness last cosigned size {known}",
                           known_size=known)
    if latest is not None and head.size == latest.size:
        if head.root != latest.root or request.proof:
            raise WitnessError("root_conflict",
                               f"a different root for size {head.size}, which this witness "
                               "already cosigned")
    elif latest is not None:
        try:
            verify_consistency(latest.size, head.size, latest.root, head.root, request.proof)
        except AuditError as exc:
            raise WitnessError("inconsistent_tree", exc.message) from exc
    elif request.proof:
        raise WitnessError("inconsistent_tree", "a proof from size 0 must be empty")
    signer = CosignatureV1Signer(name, witness_key, int(now))
    signature = NoteSignature(name, signer.key_id, signer.sign(head.text().encode()))
    return Cosigned(checkpoint, signature)


def verify_cosignatures(checkpoint: Checkpoint, witnesses: Sequence[WitnessKey]
                        ) -> list[tuple[WitnessKey, int]]:
    """The witnesses whose cosignature on ``checkpoint`` verifies, with each timestamp.

    Lines from unknown keys (the log's own, other witnesses) are ignored; a failing line from
    a known witness raises ``AuditError("bad_cosignature")``.
    """
    by_id = {(w.name, w.verifier.key_id): w for w in witnesses}
    try:
        good = open_note(checkpoint.note, [w.verifier for w in witnesses])
    except AuditError as exc:
        if exc.code == "untrusted_note":
            return []
        raise AuditError("bad_cosignature", exc.message) from exc
    return [(by_id[(s.name, s.key_id)], CosignatureV1Verifier.timestamp(s.signature))
            for s in good]


@dataclass(frozen=True)
class Comparison:
    """Two tree heads of one log, as two witnesses cosigned them: ``verdict`` is
    ``consistent``, ``split`` (two histories: the log showed different trees) or ``unproven``
    (different sizes and no consistency proof to tell)."""

    verdict: str
    message: str
    first: TreeHead
    second: TreeHead


def compare_heads(first: TreeHead, second: TreeHead,
                  proof: Sequence[bytes] | None = None) -> Comparison:
    """Split-view check of two tree heads of one log.

    Equal sizes need equal roots. Different sizes need ``proof``, a consistency proof from the
    smaller to the larger (from the log): a log that showed two witnesses two histories cannot
    produce one, so a missing or failing proof is ``unproven`` or ``split`` respectively.
    """
    if first.origin != second.origin:
        raise AuditError("bad_checkpoint", "the two checkpoints are of different logs")
    if first.size == second.size:
        if first.root == second.root:
            return Comparison("consistent", f"both witnesses saw size {first.size} with the "
                              "same root", first, second)
        return Comparison("split", f"two different roots for size {first.size}, both signed "
                          "by the log: it showed the witnesses different histories",
                          first, second)
    old, new = sorted((first, second), key=lambda h: h.size)
    if proof is None:
        return Comparison("unproven", f"sizes {old.size} and {new.size} differ and no "
                          "consistency proof was given", first, second)
    try:
        verify_consistency(old.size, new.size, old.root, new.root, proof)
    except AuditError:
        return Comparison("split", f"the tree of size {new.size} does not extend the tree of "
                          f"size {old.size}: the log showed the witnesses different histories",
                          first, second)
    return Comparison("consistent", f"the tree of size {new.size} extends the tree of size "
                      f"{old.size}", first, second)
