"""A node's own identity on disk: signing key, TLS certificate, and its join request.

``renkei node init`` creates them in the node's data directory; the private key files are mode
0600 and never leave the node. The join request (signed with the node key) is what the
operator hands to the federation authority.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trust.authority import make_join_request
from trust.keys import NodeKey, write_private_file
from trust.tls import certificate_fingerprint, make_node_certificate

from .config import NodeConfig
from .errors import ConfigError


@dataclass(frozen=True)
class NodeIdentity:
    key: NodeKey
    cert_pem: bytes
    tls_key_pem: bytes

    @property
    def tls_fingerprint(self) -> str:
        return certificate_fingerprint(self.cert_pem)


def init_identity(config: NodeConfig, *, algorithm: str = "ES256",
                  hosts: tuple[str, ...] = ()) -> NodeIdentity:
    """Create the node key and TLS certificate; refuse to overwrite existing ones."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    key = NodeKey.generate(algorithm)
    key.save(config.key_path)
    listen_host = config.grpc.listen.rpartition(":")[0]
    names = [config.id, "localhost", "127.0.0.1", *hosts]
    if listen_host not in ("0.0.0.0", "::", "[::]", ""):
        names.append(listen_host.strip("[]"))
    cert_pem, tls_key_pem = make_node_certificate(config.id, list(dict.fromkeys(names)))
    write_private_file(config.tls_key_path, tls_key_pem)
    config.cert_path.write_bytes(cert_pem)
    return NodeIdentity(key, cert_pem, tls_key_pem)


def load_identity(config: NodeConfig) -> NodeIdentity:
    """Read the node's key and certificate; a missing file names the command that makes it."""
    for path in (config.key_path, config.cert_path, config.tls_key_path):
        if not path.is_file():
            raise ConfigError(str(config.file), "node.data_dir",
                              f"{path} is missing; run `renkei node init --config "
                              f"{config.file}` first")
    return NodeIdentity(NodeKey.load(config.key_path), config.cert_path.read_bytes(),
                        Path(config.tls_key_path).read_bytes())


def join_request(config: NodeConfig, identity: NodeIdentity, endpoints: list[str]) -> str:
    """The signed join request the authority admits with ``renkei authority admit``."""
    role = config.role if config.role in ("city", "agency", "provider") else "provider"
    return make_join_request(config.id, config.name_ja or config.id, config.name_en or config.id,
                             role, endpoints, identity.key, identity.tls_fingerprint)
