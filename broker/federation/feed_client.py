"""Following a peer's changes: one resumable ``Subscription`` per (peer, agreement, types).

A subscription streams the provider's changes after a cursor (``PeerChannel.subscribe``),
hands each change to the application and persists the cursor (store namespace ``cursor``)
only once the change was applied. Whatever ends the stream, it reconnects from the persisted
cursor, so nothing is missed:

- the provider ends every stream when the token it was opened with expires (by design, see
  ``provider/change_stream.py``): reconnect at once, with a fresh token;
- the provider is unreachable, restarting or silent (no event, not even a heartbeat, for three
  heartbeat periods): reconnect after the per-peer backoff (shared with the fan-out and kept in
  the store, so a restart does not hammer a peer that is down);
- the provider refuses (no agreement yet, revoked, rate limited): retry with a local backoff,
  without marking the peer unavailable for queries;
- this node restarts: the next run starts from the persisted cursor.

Delivery is at least once: a crash between applying a change and persisting its cursor
delivers that change again. Every change carries the entity id and the content hash of the
state it delivers, so applying the same (id, hash) twice is a no-op; ``MirrorSink`` applies
changes that way into the ``mirror:<peer>`` namespace of this node's store (never into its own
entities, so mirrored data is never re-shared as this node's own).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..config import FederationConfig
from ..errors import PeerError, PeerRejected
from ..service.filters import Comparison, Geo
from ..service.model import SubscribeRequest
from ..store.base import Store
from .backoff import PeerBackoff
from .grpc_client import PeerChannel

log = logging.getLogger("renkei.federation.subscription")
CURSORS = "cursor"
MIRROR_PREFIX = "mirror:"
SILENT_HEARTBEATS = 3  # heartbeat periods without any event before a stream counts as dead


@dataclass(frozen=True)
class SubscriptionSpec:
    """What to follow: ``types`` of ``peer`` for ``purpose`` (optionally under one agreement).

    ``q`` is a conjunction of comparisons: those the wire carries (a plain attribute, ==, !=,
    <, <=, >, >= and a scalar) are evaluated by the provider, the others here on arrival
    (``split_q``); deletions always pass, since a deleted entity has nothing left to test.
    ``start`` says where a subscription without a persisted cursor begins: ``beginning`` (the
    provider's whole feed: a mirror's initial load) or ``now`` (changes from now on). ``name``
    labels it; the cursor's key also covers everything that changes the stream's content, so
    a changed filter starts afresh.
    """

    peer: str
    types: tuple[str, ...]
    purpose: str
    agreement_id: str = ""
    q: tuple[Comparison, ...] = ()
    geo: Geo | None = None
    heartbeat_seconds: int = 15
    name: str = ""
    start: str = "beginning"

    @property
    def key(self) -> str:
        content = orjson.dumps([self.peer, self.agreement_id, sorted(self.types), self.purpose,
                                [repr(c) for c in self.q], repr(self.geo), self.start])
        return f"{self.name or 'sub'}:{self.peer}:{hashlib.sha256(content).hexdigest()[:16]}"


_WIRE_OPS = frozenset({"==", "!=", ">", ">=", "<", "<="})


def split_q(q: tuple[Comparison, ...]) -> tuple[tuple[Comparison, ...], tuple[Comparison, ...]]:
    """(comparisons the provider can evaluate, comparisons evaluated on arrival)."""
    wire: list[Comparison] = []
    local: list[Comparison] = []
    for c in q:
        plain = (c.op in _WIRE_OPS and not c.keys and not c.sub_attribute
                 and isinstance(c.value, str | int | float | bool))
        (wire if plain else local).append(c)
    return tuple(wire), tuple(local)


@dataclass(frozen=True)
class FederatedChange:
    """One change of a peer's entity. (``entity_id``, ``content_hash``) identifies the state it
    delivers: applying it again is a no-op. ``entity`` is the compact JSON of the normalized
    entity as the agreement lets this node see it (attribute names as stored, no @context);
    empty for deletions."""

    peer: str
    subscription: str
    kind: str  # created | updated | deleted
    cursor: int  # the provider's opaque resume token: persisted, never compared
    entity_id: str
    content_hash: str
    entity: bytes

    def document(self) -> dict[str, Any] | None:
        """The entity as a dict (None for a deletion)."""
        return orjson.loads(self.entity) if self.entity else None


@dataclass
class SubscriptionStatus:
    """What a subscription is doing, for operators and tests."""

    state: str = "starting"  # waiting | connecting | streaming | backing_off | denied | stopped
    cursor: int = 0
    delivered: int = 0
    applied: int = 0
    duplicates: int = 0
    connects: int = 0
    last_error: str = ""
    last_reason: str = ""


class ChangeSink(Protocol):
    """Where changes go. ``apply`` returns False when the change was already applied."""

    async def apply(self, change: FederatedChange) -> bool: ...


class MirrorSink:
    """Keeps the latest state of each followed entity under ``mirror:<peer>`` in the store.

    Idempotent by (id, content hash); a deletion leaves a tombstone. Each subscription
    delivers its changes in the provider's order, so the last one applied is the newest. Cursors
    are opaque tokens, not ordered (``provider/cursor_tokens.py``): two subscriptions to the
    same peer that both cover an entity each apply it in order, but a lagging one can set it
    back to an older state until it catches up (give one peer's entities one subscription).
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    async def apply(self, change: FederatedChange) -> bool:
        namespace = MIRROR_PREFIX + change.peer
        held = await self._store.get_state(namespace, change.entity_id)
        if change.kind == "deleted":
            if held is not None and held.get("deleted"):
                return False
            await self._store.put_state(namespace, change.entity_id, {"deleted": True})
            return held is not None
        if held is not None and held.get("content_hash") == change.content_hash:
            return False
        await self._store.put_state(namespace, change.entity_id, {
            "content_hash": change.content_hash, "entity": change.document()})
        return True

    async def entities(self, peer: str) -> dict[str, dict[str, Any]]:
        """The mirrored entities of ``peer`` by id."""
        held = await self._store.list_state(MIRROR_PREFIX + peer)
        return {entity_id: value["entity"] for entity_id, value in held.items()
                if not value.get("deleted")}


class CallbackSink:
    """Adapts ``async def on_change(change) -> bool | None`` (None counts as applied)."""

    def __init__(self, callback: Callable[[FederatedChange], Awaitable[bool | None]]) -> None:
        self._callback = callback

    async def apply(self, change: FederatedChange) -> bool:
        return await self._callback(change) is not False


class Subscription:
    """A resumable stream of one peer's changes (see the module docstring)."""

    def __init__(self, spec: SubscriptionSpec, peers: Callable[[], Mapping[str, PeerChannel]],
                 store: Store, backoff: PeerBackoff, config: FederationConfig,
                 rng: random.Random | None = None) -> None:
        self.spec = spec
        self.key = spec.key
        self.status = SubscriptionStatus()
        self._peers = peers
        self._store = store
        self._backoff = backoff
        self._config = config
        self._rng = rng or random.Random()
        self._refusals = 0
        self._streamed = False
        self._wire, self._local = split_q(spec.q)

    async def cursor(self) -> int:
        """The persisted cursor: every change up to it was applied."""
        value = await self._store.get_state(CURSORS, self.key)
        return int(value) if isinstance(value, int) else 0

    async def _save(self, cursor: int) -> None:
        self.status.cursor = cursor
        await self._store.put_state(CURSORS, self.key, cursor)

    async def changes(self) -> AsyncIterator[FederatedChange]:
        """Changes after the persisted cursor, forever, reconnecting as needed.

        A change's cursor is persisted when the consumer asks for the next one (it has applied
        it by then); leaving the loop early means the last change is delivered again next time.
        """
        cursor = await self.cursor()
        self.status.cursor = cursor
        while True:
            channel = self._peers().get(self.spec.peer)
            if channel is None:
                self.status.state = "waiting"  # not (yet) in the directory we hold
                await asyncio.sleep(self._config.backoff_min_seconds)
                continue
            if await self._backoff.retry_in(self.spec.peer) > 0:
                self.status.state = "backing_off"
                await self._backoff.wait(self.spec.peer)  # woken at once by a reset
            self.status.state = "connecting"
            self.status.connects += 1
            self._streamed = False
            since = self._backoff.now()
            stream = channel.subscribe(self._request(cursor))
            try:
                async for change in self._follow(stream, cursor):
                    yield change
                    cursor = change.cursor
                    await self._save(cursor)
                    self.status.applied += 1
                cursor = self.status.cursor
                if not self._streamed:  # ended at once, without an error: do not spin
                    await asyncio.sleep(self._config.backoff_min_seconds)
            except PeerRejected as exc:
                await self._refused(exc)
                cursor = self.status.cursor
            except (PeerError, TimeoutError) as exc:
                cursor = self.status.cursor
                message = str(exc) or "no event within the heartbeat window"
                self.status.last_error, self.status.last_reason = message, _code(exc)
                self.status.state = "backing_off"
                log.info("peer[%s] subscription %s interrupted: %s", self.spec.peer, self.key,
                         message)
                await self._backoff.failed(self.spec.peer, message, since=since)
            finally:
                await stream.aclose()

    async def _follow(self, stream: AsyncIterator[Any], cursor: int
                      ) -> AsyncIterator[FederatedChange]:
        """Changes of one connection; heartbeats only move the cursor on."""
        silent = SILENT_HEARTBEATS * max(1, self.spec.heartbeat_seconds) + 5.0
        local = self._local
        first = True
        while True:
            try:
                event = await asyncio.wait_for(anext(stream), silent)
            except StopAsyncIteration:
                return
            if first:
                first = False
                self._streamed = True
                self.status.state = "streaming"
                self._refusals = 0
                await self._backoff.succeeded(self.spec.peer)
            # Cursors are opaque tokens (unordered): the provider resumes strictly after the
            # one sent, so every event is new; compare nothing, persist the last one.
            if event.kind == "heartbeat":
                # A heartbeat names the last change the provider sent us (or where "now" is):
                # it may repeat the cursor held.
                if event.cursor != cursor:
                    cursor = event.cursor
                    await self._save(cursor)
                continue
            if (local and event.entity and not all(
                    c.matches(orjson.loads(event.entity)) for c in local)):
                cursor = event.cursor  # nothing to hand over: only the cursor moves on
                await self._save(cursor)
                continue
            self.status.delivered += 1
            yield FederatedChange(self.spec.peer, self.key, event.kind, event.cursor,
                                  event.entity_id, event.content_hash, event.entity)
            cursor = event.cursor

    async def _refused(self, exc: PeerRejected) -> None:
        self.status.last_error, self.status.last_reason = str(exc), exc.reason
        if exc.reason == "invalid_cursor":
            # The provider does not know the cursor held (its store was reset or replaced, or
            # it is a position from before tokens that it never gave out): start again where
            # the spec says a new subscription starts, loudly, since changes may be replayed
            # (``beginning``: idempotent) or skipped (``now``).
            log.warning("peer[%s] subscription %s: the provider refused its cursor; starting "
                        "again from %s", self.spec.peer, self.key, self.spec.start)
            await self._save(0)
            self.status.state = "connecting"
            return
        if exc.reason == "token_expired" and self._streamed:
            # The provider ends streams at token expiry by design: resume at once. (A token
            # refused as expired before anything streamed means the clocks disagree: that
            # waits like any refusal rather than spinning.)
            self.status.state = "connecting"
            return
        self.status.state = "denied"
        self._refusals += 1
        c = self._config
        delay = min(c.backoff_max_seconds,
                    c.backoff_min_seconds * c.backoff_multiplier ** (self._refusals - 1))
        delay *= 1 + self._rng.uniform(-c.backoff_jitter, c.backoff_jitter)
        log.info("peer[%s] subscription %s refused (%s); retrying in %.1fs", self.spec.peer,
                 self.key, exc.reason, delay)
        await asyncio.sleep(delay)

    def _request(self, cursor: int) -> SubscribeRequest:
        s = self.spec
        return SubscribeRequest(types=s.types, q=self._wire, geo=s.geo, after_cursor=cursor,
                                purpose=s.purpose, agreement_id=s.agreement_id,
                                heartbeat_seconds=s.heartbeat_seconds,
                                from_now=s.start == "now")

    async def run(self, sink: ChangeSink) -> None:
        """Apply every change to ``sink`` until cancelled; survive a failing sink."""
        try:
            while True:
                try:
                    async for change in self.changes():
                        if not await sink.apply(change):
                            self.status.duplicates += 1
                except Exception as exc:  # a sink or store failure must not end the follow
                    log.exception("subscription %s failed; resuming from its cursor", self.key)
                    self.status.state, self.status.last_error = "error", repr(exc)
                    await asyncio.sleep(self._config.backoff_max_seconds)
        finally:
            self.status.state = "stopped"


def _code(exc: Exception) -> str:
    return getattr(exc, "code", "") or type(exc).__name__
