"""An offline view of a node for CLI commands: its store, identity, directory and agreements.

Commands such as ``renkei agreement`` or ``renkei audit verify`` work on the node's data
directory without starting its servers; a running node picks up agreement changes written
here within seconds (it reloads them from the store).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from trust.clock import SystemClock
from trust.directory import DirectoryHolder
from trust.tokens import TokenIssuer

from ..config import NodeConfig
from ..federation.directory_sync import open_directory
from ..federation.grpc_client import PeerChannel
from ..federation.peers import PeerPool, PeerTokens
from ..identity import NodeIdentity, load_identity
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
    """The node's data opened offline, with the peers the directory it holds names."""
    clock = SystemClock()
    identity = load_identity(config)
    store = await open_store(config)
    peers: PeerPool | None = None
    try:
        holder = await open_directory(config, store, clock)
        book = AgreementBook(config.id, identity.key, store, holder, clock)
        await book.load()
        tokens = PeerTokens(TokenIssuer(config.id, identity.key, clock,
                                        config.trust.token_lifetime_seconds))
        peers = PeerPool(config.id, holder, tokens,
                         max_message_bytes=config.grpc.max_message_bytes,
                         insecure=config.grpc.insecure_dev)
        yield NodeContext(config, store, identity, holder, book,
                          AuditLog(config.id, identity.key, store, clock, holder,
                                   checkpoint_every=config.trust.audit_checkpoint_every),
                          AgreementExchange(config.id, book, peers,
                                            config.federation.deadline_seconds, store, clock),
                          peers)
    finally:
        if peers is not None:
            await peers.close()
        await store.close()
