"""A node's own signing key: generation, 0600 key files, public JWK export and JWS signing.

The private key never leaves the node: it is written once with mode 0600, loaded back with a
permission check, and only ever used through :meth:`NodeKey.sign_compact`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from jwt.exceptions import InvalidKeyError

from trust.errors import KeyMaterialError
from trust.jwk import SUPPORTED_ALGORITHMS, public_jwk_for
from trust.jws import sign_compact, verify_compact

__all__ = ["NodeKey", "PrivateKey", "verify_compact"]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_MAX_KEY_FILE = 8192


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600, created atomically with that mode.

    The file is created with its final permissions (never world-readable, even briefly) and
    replaced via rename, so a crash leaves either the old file or the new one.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise KeyMaterialError("key_file_exists", f"{path.name} already exists")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass(frozen=True)
class NodeKey:
    """A private signing key with its key id and algorithm (ES256 or EdDSA)."""

    kid: str
    algorithm: str
    private_key: PrivateKey = field(repr=False, compare=False)

    @classmethod
    def generate(cls, alg: str = "ES256", kid: str | None = None) -> NodeKey:
        """Generate a fresh key; ``kid`` defaults to the RFC 7638 thumbprint of the public key."""
        private: PrivateKey
        if alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise KeyMaterialError("unsupported_algorithm", f"cannot generate {alg!r} keys")
        return cls(kid or public_jwk_for(private.public_key())["kid"], alg, private)

    @classmethod
    def from_private_jwk(cls, jwk: Mapping[str, Any]) -> NodeKey:
        """Build a key from a private JWK (as written by :meth:`save`)."""
        alg = jwk.get("alg")
        if alg not in SUPPORTED_ALGORITHMS or "d" not in jwk:
            raise KeyMaterialError("invalid_key", "not a private ES256/EdDSA JWK")
        try:
            loader = ECAlgorithm if alg == "ES256" else OKPAlgorithm
            private = loader.from_jwk(dict(jwk))
        except (InvalidKeyError, ValueError, TypeError) as exc:
            raise KeyMaterialError("invalid_key", "private JWK is invalid") from exc
        if not isinstance(private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise KeyMaterialError("invalid_key", "JWK is not a private key")
        if isinstance(private, ec.EllipticCurvePrivateKey) and not isinstance(
            private.curve, ec.SECP256R1
        ):
            raise KeyMaterialError("unsupported_algorithm", "only P-256 EC keys are supported")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            kid = public_jwk_for(private.public_key())["kid"]
        return cls(kid, str(alg), private)

    def private_jwk(self) -> dict[str, str]:
        """The private JWK (with ``d``). Only :meth:`save` should need this."""
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            jwk = dict(ECAlgorithm.to_jwk(key, as_dict=True))
        else:
            jwk = dict(OKPAlgorithm.to_jwk(key, as_dict=True))
        jwk.update(kid=self.kid, alg=self.algorithm, use="sig")
        return {k: str(v) for k, v in jwk.items()}

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the key as a private JWK file with mode 0600 (refuses to overwrite by default)."""
        data = json.dumps(self.private_jwk(), sort_keys=True).encode() + b"\n"
        write_private_file(Path(path), data, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, check_mode: bool = True) -> NodeKey:
        """Load a key written by :meth:`save`.

        With ``check_mode`` (the default) a file readable or writable by group or others is
        refused, as ssh does: a key that others could read may already have left the node.
        """
        path = Path(path)
        st = path.stat()
        if check_mode and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyMaterialError(
                "key_file_insecure", f"{path.name} has mode {stat.S_IMODE(st.st_mode):o}; use 600"
            )
        if st.st_size > _MAX_KEY_FILE:
            raise KeyMaterialError("invalid_key", f"{path.name} is too large for a key file")
        try:
            jwk = json.loads(path.read_bytes())
        except ValueError as exc:
            raise KeyMaterialError("invalid_key", f"{path.name} is not a JWK file") from exc
        if not isinstance(jwk, dict):
            raise KeyMaterialError("invalid_key", f"{path.name} is not a JWK file")
        return cls.from_private_jwk(jwk)

    def public_jwk(self) -> dict[str, str]:
        """The public JWK: ``kty``, ``crv``, ``x`` (``y``), ``alg``, ``use`` and ``kid``."""
        return public_jwk_for(self.private_key.public_key(), kid=self.kid)

    def sign_bytes(self, message: bytes) -> bytes:
        """A raw signature over ``message``, for C2SP signed notes (``trust.note``).

        Ed25519 signs the message itself (RFC 8032); ES256 signs its SHA-256 digest and returns
        the ASN.1 DER signature, as C2SP signed-note type 0x02 specifies. A note text always
        holds a newline and a JWS signing input never does, so neither passes for the other.
        """
        key = self.private_key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(message)
        return key.sign(message, ec.ECDSA(hashes.SHA256()))

    def sign_compact(
        self, payload: bytes, typ: str, *, extra_headers: Mapping[str, Any] | None = None
    ) -> str:
        """Sign ``payload`` as a compact JWS with header ``{alg, kid, typ}``."""
        return sign_compact(
            payload,
            self.private_key,
            self.algorithm,
            kid=self.kid,
            typ=typ,
            extra_headers=extra_headers,
        )
