"""C2SP tlog-checkpoint: an audit log's signed tree head, as a signed note.

::

    renkei.audit/jp-172022          origin: which log
    1287                            tree size (decimal, no leading zeros)
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=   RFC 6962 root hash, base64

    — renkei.audit/jp-172022 Az3grlgtz...           the log's signature (key name = origin)
    — renkei.witness/jp-gov-cao jWbPPw...           cosignatures added by witnesses

The log signs with its directory key (Ed25519 → signed-note type 0x01, ES256 → 0x02). Renkei
writes no extension lines and refuses them when reading: a cosignature makes no statement about
them, so a verifier must not rely on them either.

A member's log keys are its directory keys that are not revoked, including keys past their
validity window: a checkpoint is history, and rotating a key must not void the history it
signed, while revoking one (a compromise) must.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trust.directory import Directory
from trust.errors import AuditError, InvalidArgument
from trust.keys import NodeKey
from trust.merkle import HASH_SIZE
from trust.note import (
    Note,
    NoteSignature,
    NoteVerifier,
    PublicKeyVerifier,
    check_key_name,
    log_signer,
    open_note,
    parse_note,
    sign_note,
)

__all__ = [
    "MAX_CHECKPOINT_BYTES",
    "ORIGIN_PREFIX",
    "Checkpoint",
    "TreeHead",
    "audit_origin",
    "log_verifiers",
    "member_of_origin",
    "open_checkpoint",
    "sign_checkpoint",
]

ORIGIN_PREFIX = "renkei.audit/"
MAX_CHECKPOINT_BYTES = 16 * 1024
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


def _bad(message: str) -> AuditError:
    return AuditError("bad_checkpoint", message)


def audit_origin(member_id: str) -> str:
    """The origin line (and log key name) of ``member_id``'s audit log."""
    return check_key_name(ORIGIN_PREFIX + member_id)


def member_of_origin(origin: str) -> str | None:
    """The member whose audit log ``origin`` names, or ``None`` for any other origin."""
    return origin[len(ORIGIN_PREFIX):] if origin.startswith(ORIGIN_PREFIX) else None


@dataclass(frozen=True)
class TreeHead:
    """What a checkpoint states: log ``origin`` had ``size`` entries with this ``root``."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        check_key_name(self.origin)
        if not 0 <= self.size < 1 << 63 or len(self.root) != HASH_SIZE:
            raise _bad("tree size or root hash is out of range")

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> TreeHead:
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "":
            raise _bad("a checkpoint body is exactly origin, size and root hash lines")
        origin, size, root = lines[:3]
        if not _SIZE.fullmatch(size):
            raise _bad("tree size must be decimal without leading zeros")
        try:
            raw = base64.b64decode(root, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad("root hash is not base64") from exc
        if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != root:
            raise _bad("root hash must be 32 bytes in canonical base64")
        try:
            return cls(origin, int(size), raw)
        except InvalidArgument as exc:
            raise _bad("origin line is not a valid log name") from exc


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose log signature has been verified (or that this log just signed)."""

    head: TreeHead
    note: Note

    def format(self) -> str:
        return self.note.format()

    @property
    def signatures(self) -> tuple[NoteSignature, ...]:
        return self.note.signatures

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Checkpoint:
        return Checkpoint(self.head, self.note.with_signatures(extra))


def sign_checkpoint(head: TreeHead, key: NodeKey) -> Checkpoint:
    """The log's checkpoint for ``head``, signed with the node key under the origin name."""
    return Checkpoint(head, sign_note(head.text(), [log_signer(head.origin, key)]))


def log_verifiers(directory: Directory, member_id: str) -> list[NoteVerifier]:
    """Verifiers for ``member_id``'s log: its non-revoked keys (none if the member is revoked)."""
    member = directory.member(member_id)
    if member is None or member.revoked:
        return []
    origin = audit_origin(member_id)
    return [PublicKeyVerifier(origin, k.public_key) for k in member.keys if not k.revoked]


def open_checkpoint(data: str | bytes | Note, verifiers: Sequence[NoteVerifier], *,
                    origin: str | None = None) -> Checkpoint:
    """Parse a checkpoint, check its log signature, and (given ``origin``) which log it is.

    Raises ``AuditError``: ``malformed_note`` / ``bad_checkpoint`` for the text,
    ``untrusted_note`` / ``bad_note_signature`` when no log key signed it.
    """
    note = data if isinstance(data, Note) else parse_note(data, max_bytes=MAX_CHECKPOINT_BYTES)
    head = TreeHead.parse(note.text)
    if origin is not None and head.origin != origin:
        raise _bad(f"checkpoint is for {head.origin[:80]}, not {origin[:80]}")
    own = [v for v in verifiers if v.name == head.origin]
    open_note(note, own)
    return Checkpoint(head, note)
