"""The subscriptions a node runs: configured mirrors, and federated change feeds for code.

``Subscriptions.start`` runs one ``Subscription`` in the background into a sink (the store's
mirror by default): that is what ``[[subscriptions]]`` in the config does. ``follow`` is the
feed the NGSI-LD API's federated subscriptions consume (``Node.federated_changes``): one async
iterator merging the changes of every peer that shares the types with this node for the
purpose under an active agreement, each peer's stream resumable from its own cursor. Peers
whose agreements appear later are picked up, revoked ones dropped, on a periodic re-check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from trust.agreement_model import Agreement

from ..config import FederationConfig
from ..service.agreement_book import AgreementBook
from ..service.filters import Comparison
from ..store.base import Store
from .backoff import PeerBackoff
from .feed_client import (
    ChangeSink,
    FederatedChange,
    MirrorSink,
    Subscription,
    SubscriptionSpec,
)
from .grpc_client import PeerChannel

log = logging.getLogger("renkei.federation.subscriptions")
REFRESH_SECONDS = 30.0


@dataclass
class Subscriptions:
    """The subscriptions of one node, sharing its store, peers and per-peer backoff."""

    node_id: str
    store: Store
    peers: Callable[[], Mapping[str, PeerChannel]]
    backoff: PeerBackoff
    config: FederationConfig
    agreements: AgreementBook | None = None
    _running: dict[str, tuple[Subscription, asyncio.Task[None]]] = field(default_factory=dict)

    def subscription(self, spec: SubscriptionSpec) -> Subscription:
        """A subscription object (not started): iterate ``changes()`` yourself."""
        return Subscription(spec, self.peers, self.store, self.backoff, self.config)

    def start(self, spec: SubscriptionSpec, sink: ChangeSink | None = None) -> Subscription:
        """Run ``spec`` in the background into ``sink`` (default: the store's mirror)."""
        if spec.key in self._running:
            raise ValueError(f"subscription {spec.key} is already running")
        subscription = self.subscription(spec)
        task = asyncio.create_task(subscription.run(sink or MirrorSink(self.store)),
                                   name=f"subscription[{spec.key}]")
        self._running[spec.key] = (subscription, task)
        return subscription

    def running(self) -> list[Subscription]:
        return [s for s, _ in self._running.values()]

    async def stop(self, key: str | None = None) -> None:
        """Stop one subscription (or all); their cursors stay in the store."""
        for k in [key] if key is not None else list(self._running):
            _, task = self._running.pop(k)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def providers(self, types: tuple[str, ...], purpose: str,
                  usable: Callable[[Agreement], bool] | None = None) -> dict[str, str]:
        """provider -> agreement id: the active agreements that let this node follow
        ``types`` for ``purpose`` (any purpose if empty), and that ``usable`` accepts (the
        reader's bindings and onward sharing, ``ngsi.scope.Audience.may_use``)."""
        out: dict[str, str] = {}
        for view in self.agreements.views() if self.agreements is not None else ():
            a = view.signed.agreement
            if (view.state == "active" and a.consumer == self.node_id
                    and (not purpose or a.purpose == purpose)
                    and frozenset(types) <= a.entity_types and not a.aggregate_only
                    and "subscribe" in a.operations and (usable is None or usable(a))):
                out.setdefault(a.provider, a.id)
        return out

    async def follow(self, types: tuple[str, ...], q: tuple[Comparison, ...] = (),
                     purpose: str = "", *, peers: tuple[str, ...] | None = None,
                     name: str = "", start: str = "now", heartbeat_seconds: int = 15,
                     refresh_seconds: float = REFRESH_SECONDS,
                     usable: Callable[[Agreement], bool] | None = None
                     ) -> AsyncIterator[FederatedChange]:
        """Changes of ``types`` from every peer that shares them with this node (or ``peers``).

        Endless; at least once. A change's cursor is persisted (per peer) once the consumer
        asks for the next change; leaving the loop early delivers the last one again.
        """
        queue: asyncio.Queue[tuple[FederatedChange, asyncio.Event]] = asyncio.Queue()
        pumps: dict[tuple[str, str], asyncio.Task[None]] = {}

        async def pump(subscription: Subscription) -> None:
            try:
                async for change in subscription.changes():
                    taken = asyncio.Event()
                    await queue.put((change, taken))
                    await taken.wait()  # the consumer came back for more: it applied this one
            except Exception:  # restarted from its cursor at the next refresh
                log.exception("follow %s failed", subscription.key)

        def refresh() -> None:
            wanted = self.providers(types, purpose, usable)
            if peers is not None:
                wanted = {p: a for p, a in wanted.items() if p in peers}
            for pair in [p for p in pumps if p not in wanted.items()]:
                log.info("peer[%s] no longer shares %s: stop following", pair[0], types)
                pumps.pop(pair).cancel()
            for provider, agreement_id in wanted.items():
                running = pumps.get((provider, agreement_id))
                if running is None or running.done():
                    spec = SubscriptionSpec(provider, types, purpose, agreement_id, q=q,
                                            heartbeat_seconds=heartbeat_seconds, name=name,
                                            start=start)
                    pumps[(provider, agreement_id)] = asyncio.create_task(
                        pump(self.subscription(spec)), name=f"follow[{spec.key}]")

        loop = asyncio.get_running_loop()
        taken: asyncio.Event | None = None
        try:
            refresh()
            next_refresh = loop.time() + refresh_seconds
            while True:
                if taken is not None:
                    taken.set()
                    taken = None
                if loop.time() >= next_refresh:
                    refresh()
                    next_refresh = loop.time() + refresh_seconds
                try:
                    change, taken = await asyncio.wait_for(
                        queue.get(), max(0.01, next_refresh - loop.time()))
                except TimeoutError:
                    continue
                yield change
        finally:
            for task in pumps.values():
                task.cancel()
            for task in pumps.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
