"""Canonical JSON (RFC 8785), digests, strict JSON parsing and strict base64url.

Everything ``trust`` signs or hashes goes through :func:`canonical_bytes`, so two parties that
hold the same document compute the same bytes regardless of key order or whitespace. Parsing is
strict in the other direction: duplicate keys, NaN/Infinity and oversized input are refused,
because a parser that is lenient where the signer was not invites confusion attacks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

import orjson
import rfc8785

from trust.errors import DocumentError

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "canonical_bytes",
    "loads_strict",
    "sha256_hex",
]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SAFE_INT = 2**53 - 1


def canonical_bytes(obj: Any) -> bytes:
    """Serialize ``obj`` (dicts, lists, str, int, float, bool, None) as RFC 8785 JSON bytes.

    Raises ``DocumentError("invalid_document")`` for values JSON cannot carry exactly
    (non-string keys, integers beyond 2**53, NaN, unsupported types).
    """
    if _plain(obj, 0):
        # Without floats, with ASCII keys and integers a double holds exactly, RFC 8785 is
        # what orjson writes with sorted keys (same escapes, same order), at a hundredth of
        # the cost: tokens, agreements and receipts are signed and checked by the thousand.
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise DocumentError("invalid_document", f"cannot canonicalize: {exc}") from exc


def _plain(obj: Any, depth: int) -> bool:
    """Whether ``obj`` holds only what orjson serializes exactly as RFC 8785 does: dicts with
    ASCII string keys, lists, str, bool, None and integers within +-(2**53 - 1)."""
    kind = obj.__class__
    if kind is str or kind is bool or obj is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT <= obj <= _SAFE_INT)
    if depth > 64:
        return False
    if kind is dict:
        return all(k.__class__ is str and k.isascii() and _plain(v, depth + 1)
                   for k, v in obj.items())
    if kind is list or kind is tuple:
        return all(_plain(v, depth + 1) for v in obj)
    return False


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DocumentError("invalid_document", f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise DocumentError("invalid_document", f"{name} is not JSON")


def _parse_int(text: str) -> int | float:
    # RFC 8785 numbers are IEEE doubles: the canonical form of the float 2.0**60 is the digit
    # string "1152921504606846976", which must parse back to the same double for the
    # signature-relevant bytes to survive a round trip. Integers within 2**53 stay ints.
    value = int(text)
    return value if -_SAFE_INT <= value <= _SAFE_INT else float(value)


# One decoder, built once: json.loads would build a new one per call when given hooks.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_refuse_duplicates,
    parse_constant=_refuse_constant,
    parse_int=_parse_int,
)


def loads_strict(data: bytes | str, *, max_bytes: int) -> Any:
    """Parse JSON, refusing input over ``max_bytes``, duplicate keys, NaN and deep nesting."""
    if len(data) > max_bytes:
        raise DocumentError("document_too_large", f"document exceeds {max_bytes} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        return _DECODER.decode(text)
    except DocumentError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise DocumentError("invalid_document", "document is not valid JSON") from exc


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JOSE uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url strictly: alphabet, length and canonical trailing bits.

    Raises ``DocumentError("invalid_document")``.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise DocumentError("invalid_document", "not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise DocumentError("invalid_document", "not base64url") from exc
    # Reject non-zero padding bits so that one byte string has exactly one encoding.
    if b64url_encode(raw) != text:
        raise DocumentError("invalid_document", "non-canonical base64url")
    return raw
