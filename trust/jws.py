"""Compact JWS: strict parsing, a header policy, signing and verification (via PyJWT).

Parsing happens here, before any signature check, so that the header policy cannot be skipped:
keys are never taken from the message (``jwk``, ``jku``, ``x5u``, ``x5c`` are refused), no
extension is honoured (``crit`` is refused), and the algorithm must be on the caller's allow-list
*and* match the key it is checked against. Errors are ``AuthenticationError`` codes; callers
verifying documents rather than tokens translate them into their own category.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from jwt import get_algorithm_by_name
from jwt.api_jws import PyJWS

from trust.canonical import b64url_decode, loads_strict
from trust.errors import AuthenticationError, DocumentError
from trust.jwk import SUPPORTED_ALGORITHMS, PublicKey, public_key_from_jwk

__all__ = [
    "FORBIDDEN_HEADERS",
    "ParsedJWS",
    "parse_compact",
    "sign_compact",
    "verify_compact",
    "verify_parsed",
]

#: Headers that would let the message choose its own key or demand unknown processing.
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
_MAX_HEADER_BYTES = 1024
_SIGNATURE_BYTES = {"ES256": 64, "EdDSA": 64}
_ALGORITHMS = {name: get_algorithm_by_name(name) for name in SUPPORTED_ALGORITHMS}
_SIGNER = PyJWS()


@dataclass(frozen=True, slots=True)
class ParsedJWS:
    """A compact JWS split and decoded, not yet verified."""

    header: Mapping[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def _malformed(why: str) -> AuthenticationError:
    return AuthenticationError("malformed_token", f"malformed JWS: {why}")


def parse_compact(
    jws: str,
    *,
    max_bytes: int,
    algorithms: Collection[str],
    allowed_headers: Collection[str] | None = None,
) -> ParsedJWS:
    """Split and decode a compact JWS and apply the header policy. No signature check.

    ``allowed_headers``, when given, is an allow-list; the forbidden headers are refused either
    way. Raises ``AuthenticationError`` (token_too_large, malformed_token, header_not_allowed,
    algorithm_not_allowed).
    """
    if not isinstance(jws, str):
        raise _malformed("not a string")
    if len(jws) > max_bytes:
        raise AuthenticationError("token_too_large", f"JWS exceeds {max_bytes} bytes")
    if not jws.isascii():
        raise _malformed("not ASCII")
    parts = jws.split(".")
    if len(parts) != 3:
        raise _malformed("expected three segments")
    header_b64, payload_b64, signature_b64 = parts
    try:
        header_raw = b64url_decode(header_b64)
        payload = b64url_decode(payload_b64)
        signature = b64url_decode(signature_b64)
    except DocumentError:
        raise _malformed("segment is not base64url") from None
    try:
        header = loads_strict(header_raw, max_bytes=_MAX_HEADER_BYTES)
    except DocumentError:
        raise _malformed("header is not a JSON object") from None
    if not isinstance(header, dict):
        raise _malformed("header is not a JSON object")
    forbidden = FORBIDDEN_HEADERS.intersection(header)
    if forbidden:
        raise AuthenticationError(
            "header_not_allowed", f"header {sorted(forbidden)[0]!r} is not allowed"
        )
    if allowed_headers is not None:
        extra = set(header).difference(allowed_headers)
        if extra:
            raise AuthenticationError(
                "header_not_allowed", f"header {sorted(extra)[0]!r} is not allowed"
            )
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in SUPPORTED_ALGORITHMS:
        shown = alg if isinstance(alg, str) and len(alg) <= 16 else "?"
        raise AuthenticationError("algorithm_not_allowed", f"algorithm {shown!r} is not allowed")
    if "kid" in header and (not isinstance(header["kid"], str) or len(header["kid"]) > 128):
        raise _malformed("kid is not a short string")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    return ParsedJWS(header, payload, signing_input, signature)


def verify_parsed(parsed: ParsedJWS, key: PublicKey, key_alg: str) -> None:
    """Check the signature of a parsed JWS with ``key``; raises ``bad_signature``.

    The header's algorithm must be the key's own: an EdDSA header over an EC key (or the
    reverse) is refused before any cryptography runs.
    """
    if parsed.alg != key_alg:
        raise AuthenticationError(
            "algorithm_not_allowed", f"algorithm {parsed.alg!r} does not match the key"
        )
    if len(parsed.signature) != _SIGNATURE_BYTES[key_alg]:
        raise AuthenticationError("bad_signature", "signature has the wrong length")
    algorithm = _ALGORITHMS[key_alg]
    if not algorithm.verify(parsed.signing_input, key, parsed.signature):
        raise AuthenticationError("bad_signature")


def verify_compact(
    jws: str,
    jwk: Mapping[str, Any],
    algorithms: Collection[str],
    *,
    max_bytes: int = 1 << 20,
    typ: str | None = None,
) -> bytes:
    """Verify a compact JWS against one public JWK and return the payload bytes.

    ``algorithms`` is required (there is no "accept whatever the header says"); ``typ``, when
    given, must equal the header's ``typ``. A ``kid`` in both header and JWK must agree.
    """
    parsed = parse_compact(jws, max_bytes=max_bytes, algorithms=algorithms)
    key, key_alg = public_key_from_jwk(jwk)
    if "kid" in jwk and parsed.kid is not None and parsed.kid != jwk["kid"]:
        raise AuthenticationError("unknown_key", "JWS names a different key")
    if typ is not None and parsed.header.get("typ") != typ:
        raise _malformed(f"typ is not {typ!r}")
    verify_parsed(parsed, key, key_alg)
    return parsed.payload


def sign_compact(
    payload: bytes,
    private_key: Any,
    alg: str,
    *,
    kid: str,
    typ: str,
    extra_headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``payload`` as a compact JWS with header ``{alg, kid, typ, ...extra}``."""
    if alg not in SUPPORTED_ALGORITHMS:
        raise AuthenticationError("algorithm_not_allowed", f"algorithm {alg!r} is not allowed")
    headers: dict[str, Any] = dict(extra_headers or {})
    if FORBIDDEN_HEADERS.intersection(headers):
        raise AuthenticationError("header_not_allowed", "refusing to emit a forbidden header")
    headers.update(kid=kid, typ=typ)
    return _SIGNER.encode(payload, private_key, algorithm=alg, headers=headers)
