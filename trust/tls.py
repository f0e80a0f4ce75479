"""Self-signed node certificates for gRPC TLS, pinned by fingerprint in the member directory.

Nodes do not use a CA: the federation directory lists each member's certificate fingerprint, so
a certificate is trusted because the authority signed its fingerprint, not because of an issuer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trust.clock import SystemClock
from trust.errors import KeyMaterialError

__all__ = ["certificate_fingerprint", "make_node_certificate"]


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_node_certificate(
    member_id: str,
    hosts: Sequence[str],
    *,
    valid_days: int = 825,
    not_before: dt.datetime | None = None,
) -> tuple[bytes, bytes]:
    """Create a self-signed P-256 certificate for ``member_id`` covering ``hosts``.

    Returns ``(cert_pem, key_pem)``; the key is unencrypted PKCS#8 and must be stored 0600.
    ``hosts`` become subject alternative names (IP addresses or DNS names).
    """
    if not hosts:
        raise KeyMaterialError("invalid_key", "a node certificate needs at least one host")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, member_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Renkei federation member"),
        ]
    )
    start = not_before or dt.datetime.fromtimestamp(SystemClock().now(), dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - dt.timedelta(minutes=5))
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


def certificate_fingerprint(cert: bytes | str) -> str:
    """``"sha256:<hex>"`` over the DER encoding of a PEM (or DER) certificate."""
    data = cert.encode("ascii") if isinstance(cert, str) else cert
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            der = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        else:
            der = x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise KeyMaterialError("invalid_key", "not an X.509 certificate") from exc
    return "sha256:" + hashlib.sha256(der).hexdigest()
