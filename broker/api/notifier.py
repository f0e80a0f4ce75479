"""Delivers subscription notifications: HTTP POSTs to subscribers, with retries.

Local changes come from the store's change feed (API writes, ingest, anything), read after a
persisted cursor and woken by the node's change signal. To tell which attributes changed, the
notifier remembers the last state it saw of recently changed entities (bounded), and the entity
service hands it the state just before each API write; when the previous state is unknown,
every attribute counts as changed (a notification too many rather than one missed).

Federated subscriptions (not ``localOnly``, and peers with agreements for the owner's
purpose) consume the node's change feed (``ChangeFeed``: ``Node.federated_changes(types, q,
purpose)``), an async iterator of changes from peers that the federation's gRPC subscription
client provides. Without a feed, federated subscriptions are served from local changes only
and say so in their representation (``renkeiFederation.status = "not_available"``).

Deliveries go out through ``egress.notification_session``: only to addresses the egress
policy allows (checked after DNS, at connection time), never following a redirect, with only
the ``receiverInfo`` headers the policy lets through. A refused endpoint is a failed delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import aiomqtt
import orjson
from yarl import URL

from mappings.errors import MappingError
from trust.clock import Clock

from ..errors import BrokerError
from ..ngsi.egress import MQTT_SCHEMES, EgressPolicy, safe_headers
from ..ngsi.model import iso
from ..ngsi.notification import deleted_as_null, notified_entities, output_of, with_previous
from ..ngsi.periodic import is_periodic, period_entities
from ..ngsi.q import parse_q, q_is_conjunction
from ..ngsi.subscriptions import SubscriptionStore, state
from ..ngsi.terms import TermMaps, Translator
from ..ngsi.triggers import AttributeDelta, deleted_watched, fires
from ..service.changes import ChangeSignal
from ..store.base import Change, Store
from . import mqtt_client
from .auth import ClientRegistry
from .deps import ChangeFeed, PeerChange
from .metrics import ApiMetrics
from .negotiation import CONTEXT_REL, LD, link_header, response_context
from .notification_client import notification_session, refusal, refused_connection

log = logging.getLogger("renkei.api.notifier")
STATE = "ngsi_notifier"
_UNKNOWN = object()
REMEMBER = 20_000


class Notifier:
    """One per node: watches changes, matches subscriptions, POSTs notifications."""

    def __init__(self, node_id: str, store: Store, clock: Clock, changes: ChangeSignal,
                 feed: ChangeFeed | None, subs: SubscriptionStore, metrics: ApiMetrics,
                 terms: TermMaps, egress: EgressPolicy, *, attempts: int = 3,
                 backoff: float = 0.2, timeout: float = 5.0, poll_seconds: float = 1.0) -> None:
        self._node_id = node_id
        self._clock = clock
        self._changes = changes
        self._feed = feed
        self._egress = egress
        self._store = store
        self._subs = subs
        self._clients = ClientRegistry(store, clock)
        self._metrics = metrics
        self._terms = terms
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._poll = poll_seconds
        self._previous: OrderedDict[str, bytes | None] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._federated: dict[str, asyncio.Task[None]] = {}
        self._last_sent: dict[str, float] = {}
        self._next_period: dict[str, float] = {}
        self._periodic: asyncio.Task[None] | None = None
        self.cursor = 0

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._session = notification_session(self._egress, self._timeout)
        saved = await self._store.get_state(STATE, "cursor")
        self.cursor = int(saved) if isinstance(saved, int) else \
            await self._store.last_change_cursor()
        self._task = asyncio.create_task(self._run(), name=f"{self._node_id}:notifier")
        self._periodic = asyncio.create_task(self._run_periodic(),
                                             name=f"{self._node_id}:periodic")
        await self.sync_federated()

    async def stop(self) -> None:
        tasks = [t for t in [self._task, self._periodic, *self._federated.values(),
                             *self._deliveries] if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()

    def observe(self, entity_id: str, before: bytes | None) -> None:
        """The state of an entity just before an API write (keeps the first one seen)."""
        if entity_id not in self._previous:
            self._remember(entity_id, before)

    def _remember(self, entity_id: str, doc: bytes | None) -> None:
        self._previous[entity_id] = doc
        self._previous.move_to_end(entity_id)
        while len(self._previous) > REMEMBER:
            self._previous.popitem(last=False)

    # -- local changes ----------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                changes = await self._store.changes_after(self.cursor, (), 500)
                for change in changes:
                    await self._handle(change)
                    self.cursor = change.cursor
                if changes:
                    await self._store.put_state(STATE, "cursor", self.cursor)
                if len(changes) < 500:
                    await self._changes.wait(self._poll)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notifier loop failed; retrying")
                await asyncio.sleep(self._poll)

    async def _handle(self, change: Change) -> None:
        previous = self._previous.pop(change.entity_id, _UNKNOWN)
        if change.kind != "deleted":
            self._remember(change.entity_id, change.doc)
        records = list((await self._subs.all()).values())
        if not records:
            return  # nothing to match: an ingest of 100k entities decodes none of them
        entity = orjson.loads(change.doc) if change.doc is not None else None
        changed: set[str] | None = None
        delta: AttributeDelta | None = None
        before: dict[str, Any] = {}
        if previous is not _UNKNOWN and entity is not None:
            before = orjson.loads(previous) if isinstance(previous, bytes) else {}
            changed = {k for k in set(before) | set(entity) if before.get(k) != entity.get(k)}
            delta = AttributeDelta.between(before, entity)
        now = self._clock.now()
        for record in records:
            if record.get("cursor", 0) >= change.cursor or state(record, now) != "active":
                continue
            sub = record["subscription"]
            if is_periodic(sub):
                continue  # notified every timeInterval, not on changes
            try:
                hit = fires(sub, change.kind, entity, changed, change.entity_id,
                            entity.get("type", change.entity_type) if entity else
                            change.entity_type, delta)
            except Exception:
                log.exception("subscription %s: matching failed", sub.get("id"))
                continue
            if hit:
                self._schedule(record, self._notified(sub, change, entity, before, delta, now))

    @staticmethod
    def _notified(sub: Mapping[str, Any], change: Change, entity: dict[str, Any] | None,
                  before: dict[str, Any], delta: AttributeDelta | None, now: float
                  ) -> dict[str, Any]:
        """The entity a change notifies (stored names): deleted attributes as NGSI-LD Nulls
        (attributeDeleted), previous values with showChanges (5.8.6)."""
        show = bool(sub["notification"].get("showChanges"))
        if entity is None or change.kind == "deleted":
            last = orjson.loads(change.doc) if change.doc is not None else {}
            data = {"id": change.entity_id, "type": last.get("type", change.entity_type),
                    "deletedAt": iso(now)}
            triggers = sub.get("notificationTrigger") or ()
            if "entityDeleted" not in triggers and "attributeDeleted" in triggers:
                # attributeDeleted by the entity's deletion: its watched attributes as Nulls.
                return {**data, **deleted_as_null(last, deleted_watched(sub, last),
                                                  show_changes=show)}
            if not show:
                last = {}
            return {**data, **deleted_as_null(last, list(last), show_changes=True)}
        data = entity
        if delta is not None and delta.deleted and "attributeDeleted" in (
                sub.get("notificationTrigger") or ()):
            data = {**data, **deleted_as_null(before, delta.deleted, show_changes=show)}
        if show and delta is not None and delta.updated:
            data = with_previous(data, before, delta.updated)
        return data

    async def _run_periodic(self) -> None:
        """Every second: notify the periodic subscriptions whose period is due."""
        while True:
            try:
                await self._periods_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic notifications failed; retrying")
            await asyncio.sleep(min(1.0, self._poll))

    async def _periods_due(self) -> None:
        now = self._clock.now()
        records = await self._subs.all()
        for sub_id in [s for s in self._next_period if s not in records]:
            del self._next_period[sub_id]  # deleted subscriptions
        for record in records.values():
            sub = record["subscription"]
            if not is_periodic(sub) or state(record, now) != "active":
                continue
            due = self._next_period.get(sub["id"], now)  # the first period: at once
            if now < due:
                continue
            self._next_period[sub["id"]] = now + float(sub["timeInterval"])
            entities = await period_entities(self._store, sub)
            if entities:
                task = asyncio.create_task(self._deliver(record, list(entities)))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

    def _schedule(self, record: Mapping[str, Any], entity: Mapping[str, Any]) -> None:
        sub = record["subscription"]
        throttling = float(sub.get("throttling") or 0)
        now = self._clock.now()
        if throttling and now - self._last_sent.get(sub["id"], -1e18) < throttling:
            return
        self._last_sent[sub["id"]] = now
        task = asyncio.create_task(self._deliver(record, [entity]))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    # -- delivery ---------------------------------------------------------------------------
    async def _deliver(self, record: Mapping[str, Any], entities: Sequence[Mapping[str, Any]]
                       ) -> None:
        sub = record["subscription"]
        lock = self._locks.setdefault(sub["id"], asyncio.Lock())
        async with lock:  # one delivery at a time per subscription, in change order
            try:
                body, headers = await self._payload(record, entities)
            except (BrokerError, MappingError) as exc:
                # The subscriber's stored @context no longer builds (a limit added since it
                # was accepted, a local copy removed): a failed delivery, visible to it.
                log.warning("subscription %s: notification not built: %s", sub["id"], exc)
                ok = False
            else:
                endpoint = sub["notification"]["endpoint"]
                if URL(str(endpoint["uri"])).scheme in MQTT_SCHEMES:
                    ok = await self._publish(sub["id"], endpoint, body, headers)
                else:
                    ok = await self._post(sub["id"], endpoint["uri"], body, headers)
            self._metrics.notifications.labels("ok" if ok else "failed").inc()
            await self._subs.record_delivery(sub["id"], ok, self._clock.now())

    async def _post(self, sub_id: str, uri: str, body: bytes, headers: dict[str, str]
                    ) -> bool:
        """POST one notification, with retries; whether the endpoint took it.

        Redirects are not followed (a 3xx is a failure): a public endpoint could otherwise
        send the node on to an address the egress policy refuses. A refused address is not
        retried.
        """
        try:
            url = URL(uri)
        except (ValueError, TypeError):
            url = URL()
        reason = refusal(self._egress, url)
        if reason is not None:
            log.warning("subscription %s: endpoint %s refused: %s", sub_id, url.host, reason)
            return False
        assert self._session is not None
        for attempt in range(self._attempts):
            try:
                async with self._session.post(url, data=body, headers=headers,
                                              allow_redirects=False) as resp:
                    if 200 <= resp.status < 300:
                        return True
                    if 300 <= resp.status < 500 and resp.status != 429:
                        return False  # a redirect or a 4xx will not get better by retrying
            except (aiohttp.ClientError, TimeoutError) as exc:
                if refused_connection(exc):
                    log.warning("subscription %s: endpoint refused: %s", sub_id, exc.__cause__
                                or exc)
                    return False
                log.info("subscription %s: delivery to %s failed: %s", sub_id, url.host, exc)
            await asyncio.sleep(self._backoff * (2 ** attempt))
        return False

    async def _publish(self, sub_id: str, endpoint: Mapping[str, Any], body: bytes,
                       headers: dict[str, str]) -> bool:
        """Publish one notification to an MQTT endpoint, with retries; whether it went."""
        payload = mqtt_client.message(body, headers)
        for attempt in range(self._attempts):
            try:
                await mqtt_client.publish(self._egress, str(endpoint["uri"]), payload,
                                          endpoint.get("notifierInfo"), self._timeout)
                return True
            except mqtt_client.MqttRefused as exc:
                log.warning("subscription %s: MQTT endpoint refused: %s", sub_id, exc)
                return False
            except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
                log.info("subscription %s: MQTT delivery failed: %s", sub_id, exc)
            await asyncio.sleep(self._backoff * (2 ** attempt))
        return False

    async def _payload(self, record: Mapping[str, Any], entities: Sequence[Mapping[str, Any]]
                       ) -> tuple[bytes, dict[str, str]]:
        sub = record["subscription"]
        notification = sub["notification"]
        # The subscription's jsonldContext, else the context it was created with.
        context = sub.get("jsonldContext") or record.get("context")
        term_map = await self._terms.get(context)
        translator = Translator(self._terms.default, term_map)
        data = await notified_entities(entities, output_of(notification,
                                                           sub.get("datasetId")),
                                       translator, self._fetch)
        endpoint = notification["endpoint"]
        if endpoint.get("accept") == LD:  # each entity a JSON-LD document of its own
            data = [{"@context": response_context(context), **e} for e in data]
        payload: dict[str, Any] = {"id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
                                   "type": "Notification", "subscriptionId": sub["id"],
                                   "notifiedAt": iso(self._clock.now()), "data": data}
        headers = safe_headers(endpoint.get("receiverInfo"))
        if endpoint.get("accept") == LD:
            payload = {"@context": response_context(context), **payload}
            headers["Content-Type"] = LD
        else:
            headers["Content-Type"] = "application/json"
            link = link_header(context)
            if link:
                headers["Link"] = link
        return orjson.dumps(payload), headers

    async def _fetch(self, entity_id: str
                     ) -> tuple[dict[str, Any], float | None, float | None] | None:
        stored = await self._store.get_entity(entity_id)
        if stored is None:
            return None
        return orjson.loads(stored.doc), stored.created_at, stored.modified_at

    # -- federated --------------------------------------------------------------------------
    def federation_status(self, record: Mapping[str, Any]) -> str:
        sub = record["subscription"]
        if sub.get("localOnly"):
            return "local_only"
        if sub["id"] in self._federated:
            return "wired"
        return "not_available" if self._feed is None else "no_peers"

    async def sync_federated(self) -> None:
        """Start or stop the federated change streams to match the subscriptions."""
        records = await self._subs.all()
        for sub_id in list(self._federated):
            if sub_id not in records:
                self._federated.pop(sub_id).cancel()
        source = self._feed
        if source is None:
            return
        for sub_id, record in records.items():
            sub = record["subscription"]
            if sub_id in self._federated or sub.get("localOnly"):
                continue
            types = tuple(sorted({s["type"] for s in sub.get("entities") or []}))
            q = q_is_conjunction(parse_q(sub["q"])) if sub.get("q") else ()
            # Rows go to the subscription's owner: only agreements its client may receive
            # rows of (its bindings; onward sharing for a third party), as registered now.
            audience = await self._clients.audience(str(record.get("owner") or ""),
                                                    record.get("purpose") or None)
            # The subscription id names the feed, so that its cursors are its own and survive
            # a restart of this node.
            self._federated[sub_id] = asyncio.create_task(self._consume(
                record, source(types, q or (), record.get("purpose") or "", name=sub_id,
                               usable=audience.may_use)))

    async def _consume(self, record: Mapping[str, Any], stream: AsyncIterator[PeerChange]
                       ) -> None:
        sub_id = record["subscription"]["id"]
        try:
            async for change in stream:
                current = (await self._subs.all()).get(sub_id)
                if current is None:
                    return
                if state(current, self._clock.now()) != "active":
                    continue
                entity = orjson.loads(change.entity) if change.entity else None
                kind = change.kind
                entity_type = entity.get("type", "") if entity else ""
                if fires(current["subscription"], kind, entity, None, change.entity_id,
                         entity_type):
                    self._schedule(current, entity or {"id": change.entity_id,
                                                       "type": entity_type,
                                                       "deletedAt": iso(self._clock.now())})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscription %s: federated change stream ended", sub_id)


__all__ = ["Notifier", "CONTEXT_REL"]
