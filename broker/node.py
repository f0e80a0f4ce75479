"""The composition root: one validated ``NodeConfig`` in, one running node out.

Everything a node is made of is built here and handed only what it uses (store, clock, key,
directory, peers); there are no globals. Tests build nodes exactly the same way, with a
temporary data directory and ports chosen by the OS.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from trust.agreement_model import Agreement
from trust.clock import Clock, SystemClock
from trust.directory import Directory, DirectoryHolder
from trust.errors import DirectoryError, TrustError
from trust.tokens import TokenIssuer, TokenPolicy, TokenVerifier
from trust.witness import make_witness_statement

from .api.deps import ApiDeps
from .api.metrics import ApiMetrics
from .api.server import HttpServer
from .config import NodeConfig
from .console.app import PREFIX as CONSOLE_PREFIX
from .console.app import create_console
from .console.deps import ConsoleDeps
from .errors import NotFound, PeerError, StoreError
from .federation.access import CallObserver
from .federation.backoff import PeerBackoff
from .federation.directory_sync import FOLLOW_SECONDS as DIRECTORY_FOLLOW_SECONDS
from .federation.directory_sync import DirectorySync, authority_key, open_directory
from .federation.fanout import FanOut
from .federation.feed_client import FederatedChange, SubscriptionSpec
from .federation.feeds import Subscriptions
from .federation.forwarding import AggregateForwarding
from .federation.grpc_server import (
    FederationServicer,
    GrpcServer,
    TlsIdentity,
    WitnessServicer,
)
from .federation.interceptors import TokenAuthInterceptor
from .federation.peers import PeerPool, PeerTokens
from .federation.witnessing import CheckpointWitnessing
from .identity import NodeIdentity, load_identity
from .ngsi.scope import Federation
from .ngsi.temporal import TemporalReads
from .ngsi.temporal_federation import SharedHistory
from .provider.calls import ProviderService
from .provider.catalog import CatalogService
from .provider.entity_index import EntityIndex
from .provider.facade import ProviderFacade
from .provider.limits import CallLimits, StoreReplayCache
from .provider.witness import AuditWitness
from .provider.witness import witness_key as load_witness_key
from .service.agreement_book import AgreementBook
from .service.agreement_exchange import AgreementExchange
from .service.audit_log import AuditLog
from .service.changes import ChangeSignal
from .service.filters import Comparison
from .service.loops import Loops
from .service.retention import retention_loop
from .service.sources import SourceBoard
from .store import open_store
from .store.base import Store
from .telemetry.rpc import TracingServerInterceptor, client_interceptors
from .telemetry.tracing import Telemetry

log = logging.getLogger("renkei.node")


class Node:
    """A running Renkei node."""

    def __init__(self, config: NodeConfig, clock: Clock, store: Store, identity: NodeIdentity,
                 directory: DirectoryHolder) -> None:
        self.config = config
        self.id = config.id
        self.clock = clock
        self.store = store
        self.identity = identity
        self.directory = directory
        self.changes = ChangeSignal()
        self.sources = SourceBoard(tuple(s.name for s in config.sources))
        self.calls = CallObserver(config.id)  # every gRPC call served and made: access log, metrics
        self.telemetry = Telemetry(config.id, config.telemetry)
        trust = config.trust
        self.audit = AuditLog(config.id, identity.key, store, clock, directory,
                              checkpoint_every=trust.audit_checkpoint_every,
                              on_checkpoint=lambda c: self.witnessing.notify(c))
        self.agreements = AgreementBook(config.id, identity.key, store, self._directory, clock)
        self.tokens = PeerTokens(
            TokenIssuer(config.id, identity.key, clock, trust.token_lifetime_seconds))
        self.peers = PeerPool(config.id, directory, self.tokens,
                              max_message_bytes=config.grpc.max_message_bytes,
                              insecure=config.grpc.insecure_dev, observer=self.calls,
                              idle_seconds=config.federation.idle_channel_seconds,
                              interceptors=self._client_interceptors)
        self.directory_sync = DirectorySync(config, directory, store, clock,
                                            lambda _: self.agreements.refresh())
        self.verifier = TokenVerifier(
            config.id, self._directory,
            TokenPolicy(algorithms=trust.algorithms, leeway_seconds=trust.leeway_seconds,
                        max_token_bytes=trust.max_token_bytes),
            clock, StoreReplayCache(store, clock))
        federation = config.federation
        self.backoff = PeerBackoff(store, clock, federation, probe=self._peer_serving)
        self.fanout = FanOut(self.peers, self.backoff, federation.per_peer_concurrency,
                             on_receipt=self.audit.record_receipt, node_id=config.id,
                             hop_limit=federation.hop_limit,
                             max_concurrent_calls=federation.max_concurrent_calls)
        limits = CallLimits(store, clock,
                            refused_per_minute=federation.refused_calls_per_minute)
        self.provider = ProviderService(
            config.id, store, self.agreements, self.audit, limits, clock,
            self.changes, federation.batch_size,
            forwarder=AggregateForwarding(config.id, self.fanout, self.agreements)
            if federation.forward_aggregates else None,
            forward_deadline=federation.deadline_seconds,
            index=EntityIndex(store, federation.index_max_entities)
            if federation.index_max_entities else None,
            history=SharedHistory(store, TemporalReads(
                store, config.temporal.max_instances_per_entity)))
        self.catalog = CatalogService(config.id, config.name_en or config.id, config.license,
                                      store, self.agreements, limits, clock)
        self.exchange = AgreementExchange(config.id, self.agreements, self.peers,
                                          config.federation.deadline_seconds, store, clock,
                                          retry_min=config.federation.backoff_min_seconds,
                                          retry_max=config.federation.backoff_max_seconds)
        self.subscriptions = Subscriptions(config.id, store, self.peers, self.backoff, federation,
                                           self.agreements)
        self.witnessing = CheckpointWitnessing(self.audit, store, self.peers, self.witnesses,
                                               self._directory, clock,
                                               federation.deadline_seconds)
        self.witness: AuditWitness | None = None
        self._grpc: GrpcServer | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        # Background loops, supervised: one that raises is logged and restarted, and /health
        # shows it (a loop must never die silently).
        self.loops = Loops(config.id)
        self._directory_polled_at = 0.0  # kept across restarts of the housekeeping loop
        self._agreements_changed = asyncio.Event()
        self.http: HttpServer | None = None
        self.metrics = ApiMetrics(config.id)

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    async def start(cls, config: NodeConfig, *, clock: Clock | None = None) -> Node:
        """Build and start a node from its config; the caller must ``await node.stop()``."""
        clock = clock or SystemClock()
        identity = load_identity(config)
        authority_key(config)  # a bad key file fails before the store is opened
        store = await open_store(config)
        try:
            directory = await open_directory(config, store, clock)
            node = cls(config, clock, store, identity, directory)
            await node._start()
        except BaseException:
            await store.close()
            raise
        return node

    async def _start(self) -> None:
        await self.agreements.load()
        if self.config.sources:  # what the catalog offers every member (the rules, not data)
            from .sources import source_offers  # the mapping engine only when there are sources

            self.catalog.offers = await asyncio.to_thread(
                source_offers, self.config.sources, self.config.license,
                self.config.name_en or self.config.id)
        # Peers backed off when this node last ran are probed now: one that has recovered
        # meanwhile is called again at once, not after the rest of an old delay.
        await self.backoff.resume()
        servicer = FederationServicer(
            ProviderFacade(self.provider, self.catalog, self.audit,
                           max_streams_per_peer=self.config.federation.max_streams_per_peer),
            self.exchange, self.config.federation.hop_limit,
            stall_seconds=self.config.federation.stream_stall_seconds)
        tls = None if self.config.grpc.insecure_dev else TlsIdentity(
            self.identity.tls_key_pem, self.identity.cert_pem)
        grpc_config = self.config.grpc
        self._grpc = GrpcServer(grpc_config.listen, grpc_config.max_message_bytes,
                                tls, TokenAuthInterceptor(self.verifier, self.backoff.succeeded),
                                observer=self.calls,
                                handshake_timeout_seconds=grpc_config.handshake_timeout_seconds,
                                max_connections=grpc_config.max_connections,
                                tracing=TracingServerInterceptor(self.telemetry)
                                if self.telemetry.enabled else None)
        self._grpc.add_federation(servicer)
        witness_key = await load_witness_key(self.store)
        self.witness = AuditWitness(
            self.id, self.store, self._directory, witness_key,
            make_witness_statement(self.identity.key, self.id, witness_key, self.clock.now()),
            self.clock, per_minute=self.config.trust.witness_checkpoints_per_minute)
        self._grpc.add_witness(WitnessServicer(self.witness, self.audit))
        await self._grpc.start()
        if self.config.http.enabled:
            mounts = {CONSOLE_PREFIX: lambda: create_console(self.console_deps())} \
                if self.config.console.enabled else {}
            self.http = HttpServer(self.api_deps(), mounts)
            await self.http.start()
        self.loops.start("housekeeping", self._housekeeping)
        self.loops.start("directory-follow", self._follow_directory)
        self.loops.start("witnessing", self.witnessing.run)
        self.loops.start("agreement-outbox", self._deliver_agreements)
        if self.provider.index is not None:
            self.loops.start("index", self._follow_index)
        temporal = self.config.temporal
        if temporal.retention_days > 0 or any(d > 0 for d in
                                                temporal.retention_days_by_type.values()):
            self.loops.start("temporal-retention", functools.partial(
                retention_loop, self.store, self.clock, temporal.retention_days,
                temporal.retention_days_by_type, temporal.prune_interval_seconds))
        for sub in self.config.subscriptions:
            self.subscriptions.start(SubscriptionSpec(
                peer=sub.peer, types=sub.types, purpose=sub.purpose, agreement_id=sub.agreement,
                name=sub.name, heartbeat_seconds=sub.heartbeat_seconds))
        # Another process's commits (a replica on PostgreSQL; the CLI or `renkei map --config`
        # beside this node on either backend) wake this node's streams and reload its
        # agreements at once: `renkei agreement sign` is served within a second.
        listen = getattr(self.store, "listen_changes", None)
        if listen is not None:
            self.loops.start("agreement-reload", self._reload_agreements)
            await listen(self._on_store_change)

    def api_deps(self) -> ApiDeps:
        """The parts of this node the NGSI-LD API is built from."""
        return ApiDeps(
            node_id=self.id, http=self.config.http, contexts=self.config.contexts,
            store=self.store, clock=self.clock, changes=self.changes,
            directory_version=lambda: self.directory.version,
            federation=Federation(self.agreements, self.peers, self.fanout,
                                  self.config.federation.deadline_seconds),
            loops=self.loops, temporal=self.config.temporal, sources=self.sources,
            federated_changes=self.federated_changes, watch_calls=self.calls.add_listener,
            metrics=self.metrics, telemetry=self.telemetry)

    def console_deps(self) -> ConsoleDeps:
        """The parts of this node the operator console is built from."""
        return ConsoleDeps(
            node_id=self.id, node_name=self.config.name_en or self.config.name_ja or self.id,
            config=self.config.console, store=self.store, clock=self.clock,
            directory=self._directory, agreements=self.agreements, exchange=self.exchange,
            audit=self.audit, peer_state=self.backoff.state, retry_peer=self.retry_peer,
            metrics=self.metrics.registry)

    async def retry_peer(self, peer: str) -> bool:
        """Probe ``peer`` now (an operator's "retry"): an answer clears its backoff, silence
        counts as a failure of the outage, as a failed call would."""
        started = self.backoff.now()
        if await self._peer_serving(peer):
            await self.backoff.succeeded(peer)
            return True
        await self.backoff.failed(peer, "health probe: not serving", since=started)
        return False

    def _client_interceptors(self, peer: str) -> list[Any]:
        """The channel to ``peer`` sends ``traceparent`` when telemetry is on."""
        return client_interceptors(self.telemetry, peer) if self.telemetry.enabled else []

    def _on_store_change(self, topic: str) -> None:
        if topic == "entities":
            self.changes.notify()
        elif topic == "agreements":
            self._agreements_changed.set()

    async def _reload_agreements(self) -> None:
        while True:
            await self._agreements_changed.wait()
            self._agreements_changed.clear()
            try:
                await self.agreements.load()
            except StoreError as exc:
                log.warning("reloading agreements failed: %s", exc)

    def federated_changes(self, types: Sequence[str], q: Sequence[Comparison] = (),
                          purpose: str = "", *, peers: Sequence[str] | None = None,
                          name: str = "", start: str = "now", heartbeat_seconds: int = 15,
                          usable: Callable[[Agreement], bool] | None = None
                          ) -> AsyncIterator[FederatedChange]:
        """Changes of ``types`` from the peers that share them with this node for ``purpose``.

        An endless async iterator of ``FederatedChange`` (``kind``, ``entity_id``,
        ``content_hash``, ``entity`` as compact JSON bytes, ``peer``, ``cursor``), merged over
        every peer with an active agreement (or only ``peers``). Each peer's stream resumes
        from its cursor, persisted under (``name``, peer, agreement, types, q, purpose) once the
        consumer asks for the next change; delivery is at least once, and (``entity_id``,
        ``content_hash``) makes applying a change idempotent. A new feed starts with the
        changes from now on (``start="beginning"`` replays each provider's whole feed). To
        run a single peer's subscription in the background into a sink instead, use
        ``self.subscriptions.start``.
        """
        return self.subscriptions.follow(
            tuple(types), tuple(q), purpose, peers=tuple(peers) if peers is not None else None,
            name=name, start=start, heartbeat_seconds=heartbeat_seconds, usable=usable)

    async def stop(self) -> None:
        await self.subscriptions.stop()
        await self.backoff.close()
        await self.loops.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.http is not None:
            await self.http.stop()
        if self._grpc is not None:
            await self._grpc.stop(self.config.grpc.shutdown_grace_seconds)
        await self.peers.close()
        await self.fanout.close()
        with contextlib.suppress(Exception):
            await self.audit.checkpoint()
        await self.store.close()
        # Blocking (the exporter posts what is buffered): off the loop, which may be serving
        # the collector itself in a test.
        await asyncio.to_thread(self.telemetry.shutdown)

    @property
    def grpc_port(self) -> int:
        return self._grpc.port if self._grpc else 0

    @property
    def grpc_endpoint(self) -> str:
        host = self.config.grpc.listen.rpartition(":")[0]
        return f"{'127.0.0.1' if host in ('0.0.0.0', '[::]', '::') else host}:{self.grpc_port}"

    # -- directory and peers ----------------------------------------------------------------
    def _directory(self) -> Directory:
        return self.directory.current

    def witnesses(self) -> list[str]:
        """The peers this node's audit log sends its checkpoints to: its agreement peers."""
        ids = set()
        for view in self.agreements.views():
            if view.state == "active":
                ids |= {view.signed.agreement.provider, view.signed.agreement.consumer}
        ids.discard(self.id)
        return sorted(ids)

    async def refresh_directory(self) -> int:
        """Fetch the newest directory from the authority; returns the version held."""
        return await self.directory_sync.refresh()

    async def install_directory(self, jws: str) -> Directory:
        """Verify and adopt a signed directory (refusing rollback), then re-check agreements."""
        return await self.directory_sync.install(jws)

    async def _peer_serving(self, peer: str) -> bool:
        """The backoff's recovery probe: the peer's gRPC health service answers SERVING."""
        channel = self.peers().get(peer)
        if channel is None:
            return False
        return await channel.serving(min(2.0, self.config.federation.deadline_seconds))

    async def _follow_index(self) -> None:
        """Keep the provider's index in step with writes (this process's at once, other
        replicas' within seconds), so that a query never waits for a large catch-up. The index
        is built by the first query: a node nobody queries spends nothing on it."""
        index = self.provider.index
        assert index is not None
        while True:
            await self.changes.wait(5.0)
            if index.loaded:
                try:
                    await index.sync()
                except Exception:  # the next query syncs (and reports) anyway
                    log.exception("index follow failed")

    async def _deliver_agreements(self) -> None:
        """Resend agreement messages a peer did not get (down when proposed, countersigned or
        revoked, here or by the CLI), each on its own backoff, until the peer has them."""
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.exchange.resend_due()
            except (StoreError, TrustError, NotFound) as exc:
                log.warning("agreement outbox: %s", exc)

    async def _follow_directory(self) -> None:
        """Adopt directories other replicas stored (revocations reach every replica within
        ``FOLLOW_SECONDS``); a stored one that does not verify is logged and looked at again."""
        while True:
            await asyncio.sleep(DIRECTORY_FOLLOW_SECONDS)
            try:
                await self.directory_sync.adopt_stored()
            except TrustError as exc:
                log.warning("stored directory not adopted: %s", exc)

    async def _housekeeping(self) -> None:
        """Poll the directory; reload agreements (the CLI may have changed them) and let
        them expire as time passes; warn while the directory is stale."""
        trust = self.config.trust
        tick = min(10, trust.directory_poll_seconds)
        loop = asyncio.get_running_loop()
        if not self._directory_polled_at:
            self._directory_polled_at = loop.time()
        while True:
            await asyncio.sleep(tick)
            # Holding no directory (its stored copy was damaged and the authority did not
            # answer at start), the node asks again every tick, not every poll interval.
            every = trust.directory_poll_seconds if self.directory.holds else tick
            if loop.time() - self._directory_polled_at >= every - 0.5:
                self._directory_polled_at = loop.time()
                try:
                    await self.refresh_directory()
                except (PeerError, TrustError) as exc:
                    log.warning("directory refresh failed: %s", exc)
            with contextlib.suppress(DirectoryError):
                if self.directory.current.is_stale(self.clock.now()):
                    # Keep serving with the held directory (an unreachable authority must not
                    # stop disaster traffic), but say so until a fresh one arrives.
                    log.warning("member directory v%d is past its next-update time",
                                self.directory.version)
            # Unreadable rows are logged and skipped inside; a store that fails here fails
            # the loop, which the supervisor logs, restarts and reports on /health.
            await self.agreements.load()
