"""An offline view of a node for CLI commands: its store, identity, directory and agreements.

Commands such as ``renkei agreement`` or ``renkei audit verify`` work on the node's data
directory without starting its servers; a running node picks up agreement changes written
here within seconds (it reloads them from the store).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from trust.clock import SystemClock
from trust.directory import DirectoryHolder
from trust.tokens import TokenIssuer

from ..config import NodeConfig
from ..federation.grpc_client import PeerAddress, PeerChannel
from ..identity import NodeIdentity, load_identity
from ..node import PeerTokens
from ..service.agreement_book import AgreementBook
from ..service.agreement_exchange import AgreementExchange
from ..service.audit_log import AuditLog
from ..store import open_store
from ..store.base import Store


@dataclass
class NodeContext:
    config: NodeConfig
    store: Store
    identity: NodeIdentity
    directory: DirectoryHolder
    agreements: AgreementBook
    audit: AuditLog
    exchange: AgreementExchange
    peers: Callable[[], Mapping[str, PeerChannel]]


@asynccontextmanager
async def node_context(config: NodeConfig) -> AsyncIterator[NodeContext]:
    assert config.trust is not None
    clock = SystemClock()
    identity = load_identity(config)
    authority_jwk = json.loads(config.trust.authority_jwk.read_text(encoding="utf-8"))
    store = await open_store(config)
    channels: dict[str, PeerChannel] = {}
    try:
        held = await store.latest_directory()
        holder = DirectoryHolder(authority_jwk, min_version=held[0] if held else 0)
        if held is not None:
            holder.update(held[1], clock.now(), allow_expired=True)
        book = AgreementBook(config.id, identity.key, store, holder, clock)
        await book.load()
        tokens = PeerTokens(TokenIssuer(config.id, identity.key, clock,
                                        config.trust.token_lifetime_seconds),
                            clock, config.trust.token_lifetime_seconds)

        def peers() -> Mapping[str, PeerChannel]:
            if not channels and held is not None:
                for m in holder.current.members.values():
                    if m.id != config.id and m.endpoints and not m.revoked:
                        channels[m.id] = PeerChannel(
                            PeerAddress(m.id, m.endpoints[0], tuple(m.tls_fingerprints),
                                        insecure=config.grpc.insecure_dev),
                            tokens, config.grpc.max_message_bytes)
            return channels

        yield NodeContext(config, store, identity, holder, book,
                          AuditLog(config.id, identity.key, store, clock, holder,
                                   checkpoint_every=config.trust.audit_checkpoint_every),
                          AgreementExchange(config.id, book, peers,
                                            config.federation.deadline_seconds), peers)
    finally:
        for channel in channels.values():
            await channel.close()
        await store.close()
