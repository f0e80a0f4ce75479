"""Public keys as JWKs: parsing, exporting and RFC 7638 thumbprints (ES256 and EdDSA only)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from jwt.exceptions import InvalidKeyError

from trust.canonical import b64url_encode, canonical_bytes
from trust.errors import KeyMaterialError

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "PublicKey",
    "jwk_thumbprint",
    "public_jwk_for",
    "public_key_from_jwk",
]

#: The only signature algorithms Renkei produces or accepts. HS* would turn a public key into a
#: shared secret and ``none`` is no signature; RSA is not needed by any member.
SUPPORTED_ALGORITHMS = frozenset({"ES256", "EdDSA"})

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# Members required by RFC 7638 for the thumbprint, per key type.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
_MAX_JWK_MEMBER = 256


def _algorithm_for(jwk: Mapping[str, Any]) -> str:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and crv == "P-256":
        return "ES256"
    if kty == "OKP" and crv == "Ed25519":
        return "EdDSA"
    raise KeyMaterialError("unsupported_algorithm", f"unsupported key type {kty}/{crv}")


def public_key_from_jwk(jwk: Mapping[str, Any]) -> tuple[PublicKey, str]:
    """Parse a *public* JWK into a key object and its algorithm.

    Private members (``d``) are refused: a directory or request that carries one is a leak, not
    a key. A declared ``alg`` must agree with the curve, so a key cannot be re-purposed.
    """
    if not isinstance(jwk, Mapping):
        raise KeyMaterialError("invalid_key", "JWK must be an object")
    if "d" in jwk:
        raise KeyMaterialError("invalid_key", "public JWK carries private key material")
    for name, value in jwk.items():
        if not isinstance(value, str) or len(value) > _MAX_JWK_MEMBER:
            raise KeyMaterialError("invalid_key", f"JWK member {name!r} is not a short string")
    alg = _algorithm_for(jwk)
    if "alg" in jwk and jwk["alg"] != alg:
        raise KeyMaterialError("invalid_key", f"JWK alg {jwk['alg']!r} does not match its curve")
    if jwk.get("use", "sig") != "sig":
        raise KeyMaterialError("invalid_key", "JWK is not a signing key")
    try:
        key = (ECAlgorithm if alg == "ES256" else OKPAlgorithm).from_jwk(dict(jwk))
    except (InvalidKeyError, ValueError, TypeError) as exc:
        raise KeyMaterialError("invalid_key", "JWK does not encode a valid public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise KeyMaterialError("invalid_key", "JWK does not encode a public key")
    return key, alg


def public_jwk_for(key: PublicKey, *, kid: str | None = None) -> dict[str, str]:
    """Export a public key as a JWK with ``alg`` and ``use``; ``kid`` defaults to the thumbprint."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyMaterialError("unsupported_algorithm", "only P-256 EC keys are supported")
        jwk: dict[str, Any] = dict(ECAlgorithm.to_jwk(key, as_dict=True))
        jwk["alg"] = "ES256"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        jwk = dict(OKPAlgorithm.to_jwk(key, as_dict=True))
        jwk["alg"] = "EdDSA"
    else:
        raise KeyMaterialError("unsupported_algorithm", "unsupported key type")
    out = {name: str(jwk[name]) for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    out["alg"] = jwk["alg"]
    out["use"] = "sig"
    out["kid"] = kid or jwk_thumbprint(out)
    return out


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url: a key id that is a function of the key."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(name not in jwk for name in members):
        raise KeyMaterialError("invalid_key", "JWK lacks the members a thumbprint needs")
    digest = hashlib.sha256(canonical_bytes({name: jwk[name] for name in members})).digest()
    return b64url_encode(digest)
