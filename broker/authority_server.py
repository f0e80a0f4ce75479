"""The federation authority as a service: its state directory plus a gRPC ``GetDirectory``.

The authority's registry and key live in ``trust.authority``; this module adds what running it
needs: a TLS certificate (whose fingerprint every node pins next to the authority's public key)
and the gRPC server that hands out the newest signed directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trust.authority import Authority
from trust.clock import Clock
from trust.keys import write_private_file
from trust.tls import certificate_fingerprint, make_node_certificate

from .federation.access import CallObserver
from .federation.grpc_server import AuthorityServicer, GrpcServer, TlsIdentity

AUTHORITY_NAME = "authority"  # TLS name the nodes expect (ssl target name override)
PUBLIC_JWK_FILE = "authority.jwk.json"


@dataclass(frozen=True)
class AuthorityFiles:
    state_dir: Path

    @property
    def cert(self) -> Path:
        return self.state_dir / "tls.crt"

    @property
    def tls_key(self) -> Path:
        return self.state_dir / "tls.key"

    @property
    def public_jwk(self) -> Path:
        return self.state_dir / PUBLIC_JWK_FILE


def init_authority(state_dir: Path, algorithm: str = "ES256", *,
                   hosts: tuple[str, ...] = (), clock: Clock | None = None) -> Authority:
    """Create the authority key pair, its TLS certificate and the public JWK to pin."""
    authority = Authority.init(state_dir, algorithm, clock=clock)
    files = AuthorityFiles(Path(state_dir))
    cert_pem, key_pem = make_node_certificate(
        AUTHORITY_NAME, list(dict.fromkeys([AUTHORITY_NAME, "localhost", "127.0.0.1", *hosts])))
    write_private_file(files.tls_key, key_pem)
    files.cert.write_bytes(cert_pem)
    files.public_jwk.write_text(json.dumps(authority.public_jwk(), indent=1) + "\n")
    return authority


def authority_fingerprint(state_dir: Path) -> str:
    return certificate_fingerprint(AuthorityFiles(Path(state_dir)).cert.read_bytes())


class AuthorityService:
    """A running authority: serves the last published directory over gRPC (TLS)."""

    def __init__(self, authority: Authority, state_dir: Path, listen: str,
                 insecure: bool = False) -> None:
        self.authority = authority
        self._state_dir = Path(state_dir)
        files = AuthorityFiles(Path(state_dir))
        tls = None if insecure else TlsIdentity(files.tls_key.read_bytes(),
                                                files.cert.read_bytes())
        self._server = GrpcServer(listen, 4 * 1024 * 1024, tls, observer=CallObserver("authority"))
        self._server.add_authority(AuthorityServicer(self._directory))
        self.port = 0

    async def _directory(self, known_version: int) -> tuple[int, str]:
        # Re-read the state: `renkei authority publish` may have run in another process.
        current = Authority.open(self._state_dir)
        jws = current.published()
        return (current.published_version, jws) if jws else (0, "")

    async def start(self) -> int:
        self.port = await self._server.start()
        return self.port

    async def stop(self, grace: float = 1.0) -> None:
        await self._server.stop(grace)
