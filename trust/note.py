"""C2SP signed notes: text signed by one or more keys, each signature on its own line.

::

    <text, ending in a newline>
    <blank line>
    — <key name> base64(4-byte key ID || signature)

A verifier knows keys as ``(name, key ID)`` pairs. Signatures by unknown keys are ignored (so
witnesses can add cosignatures and logs can rotate keys); a signature by a known key that fails
rejects the whole note; and a note with no valid signature from a known key is rejected. Three
signature types are used here (c2sp.org/signed-note, c2sp.org/tlog-cosignature):

- ``0x01`` Ed25519 over the text; key ID ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``;
- ``0x02`` ECDSA P-256 over SHA-256 of the text, ASN.1 DER; key ID ``SHA-256(SPKI DER)[:4]``;
- ``0x04`` Ed25519 *cosignature/v1*: ``u64 timestamp || Ed25519 signature`` over
  ``"cosignature/v1\\ntime <timestamp>\\n" || text``; key ID with type byte ``0x04``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from trust.errors import AuditError, InvalidArgument, KeyMaterialError
from trust.jwk import PublicKey
from trust.keys import NodeKey

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ECDSA",
    "ALG_ED25519",
    "MAX_NOTE_BYTES",
    "CosignatureV1Signer",
    "CosignatureV1Verifier",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "PublicKeyVerifier",
    "check_key_name",
    "key_id",
    "log_signer",
    "open_note",
    "parse_note",
    "parse_signature_line",
    "sign_note",
    "vkey",
]

ALG_ED25519 = 0x01
ALG_ECDSA = 0x02
ALG_COSIGNATURE_V1 = 0x04
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 32  # the spec asks verifiers to accept at least 16
_DASH = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_COSIG_HEADER = b"cosignature/v1\ntime %d\n"
_MAX_TIMESTAMP = (1 << 63) - 1


def _malformed(message: str) -> AuditError:
    return AuditError("malformed_note", message)


def check_key_name(name: str) -> str:
    """A key name or origin: non-empty, no Unicode space, no ``+`` (C2SP signed-note)."""
    if not isinstance(name, str) or not 0 < len(name) <= 256 or not _NAME.fullmatch(name):
        raise InvalidArgument("invalid_argument",
                              "a note key name is 1-256 characters without spaces or '+'")
    return name


def _raw_public(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(name: str, public_key: PublicKey, alg: int) -> int:
    """The 32-bit key ID a signature line starts with, for ``public_key`` used as type ``alg``."""
    if alg == ALG_ECDSA and isinstance(public_key, ec.EllipticCurvePublicKey):
        digest = hashlib.sha256(_spki(public_key)).digest()
    elif alg in (ALG_ED25519, ALG_COSIGNATURE_V1) and isinstance(
            public_key, ed25519.Ed25519PublicKey):
        digest = hashlib.sha256(check_key_name(name).encode() + b"\n" + bytes([alg])
                                + _raw_public(public_key)).digest()
    else:
        raise KeyMaterialError("unsupported_algorithm",
                               f"signature type {alg:#04x} does not fit this key")
    return int.from_bytes(digest[:4], "big")


def vkey(name: str, public_key: PublicKey, alg: int) -> str:
    """The verifier key text ``<name>+<key ID hex>+<base64(type || key)>`` operators compare."""
    material = _spki(public_key) if isinstance(public_key, ec.EllipticCurvePublicKey) \
        else _raw_public(public_key)
    encoded = base64.b64encode(bytes([alg]) + material).decode()
    return f"{name}+{key_id(name, public_key, alg):08x}+{encoded}"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key name, the key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_DASH}{self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Note:
    """A parsed note: its text (with the final newline) and its signature lines, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def format(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Note:
        """This note with ``extra`` lines appended (duplicates of existing lines dropped)."""
        merged = list(self.signatures)
        for sig in extra:
            if sig not in merged:
                merged.append(sig)
        return Note(self.text, tuple(merged))


class NoteVerifier(Protocol):
    """A known key: its name and key ID, and a check of a signature over a note text."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> int: ...
    def verify(self, text: bytes, signature: bytes) -> bool: ...


class NoteSigner(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> int: ...
    def sign(self, text: bytes) -> bytes: ...


def _text_ok(text: str) -> None:
    if not text.endswith("\n"):
        raise _malformed("note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise _malformed("note holds a control character")


def parse_signature_line(line: str) -> NoteSignature:
    """One ``— name base64`` line, without its newline."""
    if not line.startswith(_DASH):
        raise _malformed("a signature line must start with an em dash and a space")
    name, sep, blob = line[len(_DASH):].partition(" ")
    if not sep or not _NAME.fullmatch(name) or not _B64.fullmatch(blob):
        raise _malformed("a signature line is '— <name> <base64>'")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _malformed("signature is not base64") from exc
    if len(raw) < 5:
        raise _malformed("signature is too short")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def parse_note(data: bytes | str, *, max_bytes: int = MAX_NOTE_BYTES) -> Note:
    """Split a signed note into its text and signature lines (nothing is verified here)."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise _malformed(f"note exceeds {max_bytes} bytes")
    try:
        decoded = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise _malformed("note is not UTF-8") from exc
    _text_ok(decoded)
    cut = decoded.rfind("\n\n")
    if cut < 0:
        raise _malformed("note has no signatures")
    text, block = decoded[:cut + 1], decoded[cut + 2:]
    lines = block.split("\n")
    if lines[-1] != "" or len(lines) < 2:
        raise _malformed("note has no signatures")
    if len(lines) - 1 > MAX_SIGNATURES:
        raise _malformed(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(parse_signature_line(line) for line in lines[:-1]))


def sign_note(text: str, signers: Sequence[NoteSigner]) -> Note:
    """Sign ``text`` (non-empty, ending in a newline) with each signer, in order."""
    _text_ok(text)
    if not signers:
        raise InvalidArgument("invalid_argument", "a note needs at least one signer")
    body = text.encode()
    return Note(text, tuple(NoteSignature(s.name, s.key_id, s.sign(body)) for s in signers))


def open_note(note: Note, verifiers: Iterable[NoteVerifier]) -> list[NoteSignature]:
    """Verify ``note`` against the known keys; return the signatures that verified.

    Unknown keys are ignored; a known key's failing signature rejects the note
    (``bad_note_signature``); no valid known signature is ``untrusted_note``.
    """
    known = {(v.name, v.key_id): v for v in verifiers}
    body = note.text.encode()
    good: list[NoteSignature] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(body, sig.signature):
            raise AuditError("bad_note_signature",
                             f"the signature of {sig.name[:64]} does not verify")
        good.append(sig)
    if not good:
        raise AuditError("untrusted_note", "no signature on the note is from a trusted key")
    return good


@dataclass(frozen=True)
class PublicKeyVerifier:
    """Signed-note verifier for an Ed25519 (``0x01``) or ECDSA P-256 (``0x02``) public key."""

    name: str
    public_key: PublicKey

    @property
    def alg(self) -> int:
        return ALG_ECDSA if isinstance(self.public_key, ec.EllipticCurvePublicKey) \
            else ALG_ED25519

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key, self.alg)

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            if isinstance(self.public_key, ec.EllipticCurvePublicKey):
                self.public_key.verify(signature, text, ec.ECDSA(hashes.SHA256()))
            else:
                self.public_key.verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class _NodeKeySigner:
    name: str
    key: NodeKey
    key_id: int

    def sign(self, text: bytes) -> bytes:
        return self.key.sign_bytes(text)


def log_signer(name: str, key: NodeKey) -> NoteSigner:
    """A signer for ``key`` under ``name``: type 0x01 for an Ed25519 key, 0x02 for ES256."""
    public = key.private_key.public_key()
    alg = ALG_ECDSA if isinstance(public, ec.EllipticCurvePublicKey) else ALG_ED25519
    return _NodeKeySigner(check_key_name(name), key, key_id(name, public, alg))


def _cosigned_message(text: bytes, timestamp: int) -> bytes:
    return _COSIG_HEADER % timestamp + text


@dataclass(frozen=True)
class CosignatureV1Signer:
    """A witness signing ``cosignature/v1`` (type 0x04) at a fixed ``timestamp``."""

    name: str
    key: NodeKey
    timestamp: int

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.key.algorithm != "EdDSA":
            raise KeyMaterialError("unsupported_algorithm", "cosignature/v1 needs Ed25519")
        if not 0 <= self.timestamp <= _MAX_TIMESTAMP:
            raise InvalidArgument("invalid_argument", "timestamp is out of range")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.key.private_key.public_key(), ALG_COSIGNATURE_V1)

    def sign(self, text: bytes) -> bytes:
        signature = self.key.sign_bytes(_cosigned_message(text, self.timestamp))
        return self.timestamp.to_bytes(8, "big") + signature


@dataclass(frozen=True)
class CosignatureV1Verifier:
    """Checks a witness's ``cosignature/v1``; :meth:`timestamp` reads when it was made."""

    name: str
    public_key: ed25519.Ed25519PublicKey

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key, ALG_COSIGNATURE_V1)

    @staticmethod
    def timestamp(signature: bytes) -> int:
        if len(signature) != 72:
            raise AuditError("bad_cosignature", "a cosignature/v1 is 72 bytes")
        value = int.from_bytes(signature[:8], "big")
        if value > _MAX_TIMESTAMP:
            raise AuditError("bad_cosignature", "cosignature timestamp is out of range")
        return value

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            stamp = self.timestamp(signature)
            self.public_key.verify(signature[8:], _cosigned_message(text, stamp))
        except (AuditError, InvalidSignature):
            return False
        return True
