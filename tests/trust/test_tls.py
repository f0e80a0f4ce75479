"""Self-signed node certificates and their pinned fingerprints."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509

from trust.errors import KeyMaterialError
from trust.tls import certificate_fingerprint, make_node_certificate


def test_certificate_covers_hosts_and_fingerprint_is_over_der() -> None:
    cert_pem, key_pem = make_node_certificate("jp-172022", ["127.0.0.1", "nanao.example"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "nanao.example" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert b"PRIVATE KEY" in key_pem
    from cryptography.hazmat.primitives.serialization import Encoding
    expected = "sha256:" + hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    assert certificate_fingerprint(cert_pem) == expected
    assert certificate_fingerprint(cert.public_bytes(Encoding.DER)) == expected


def test_two_certificates_have_different_fingerprints() -> None:
    a, _ = make_node_certificate("jp-172022", ["localhost"])
    b, _ = make_node_certificate("jp-172022", ["localhost"])
    assert certificate_fingerprint(a) != certificate_fingerprint(b)


def test_garbage_is_not_a_certificate() -> None:
    with pytest.raises(KeyMaterialError):
        certificate_fingerprint(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----")
