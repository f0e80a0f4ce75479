"""Subscriptions: CRUD, and notifications POSTed to a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from broker.api.server import HttpServer

from .conftest import RENKEI_LINK, ApiClient, Receiver, site

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"


def subscription(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "EvacuationSite"}],
            "notification": {"endpoint": {"uri": url, "accept": "application/json"}}, **extra}


async def test_notifications_for_creates_and_updates(api: ApiClient, receiver: Receiver) -> None:
    r = await api.post(S, subscription(receiver.url, q="capacity>150"))
    assert r.status == 201
    sub_url = r.headers["Location"]
    await api.post(E, site(1, 100))  # does not match q
    await api.post(E, site(2, 200))
    headers, note = await receiver.next()
    assert note["type"] == "Notification" and note["subscriptionId"] in sub_url.replace(
        "%3A", ":")
    assert [e["id"] for e in note["data"]] == [site(2)["id"]]
    assert note["data"][0]["capacity"] == {"type": "Property", "value": 200}
    assert "Link" in headers and headers["Content-Type"] == "application/json"
    await api.call("PATCH", f"{E}/{site(1)['id']}/attrs", json={"capacity": 500})
    _, note = await receiver.next()
    assert note["data"][0]["id"] == site(1)["id"]
    # The receiver has the notification before the notifier has its answer and records it.
    for _ in range(100):
        shown = (await api.get(sub_url)).json()
        if shown["notification"]["timesSent"] == 2:
            break
        await asyncio.sleep(0.02)
    assert shown["notification"]["timesSent"] == 2
    assert shown["notification"]["status"] == "ok" and shown["status"] == "active"
    assert (await api.call("DELETE", sub_url)).status == 204
    assert (await api.get(sub_url)).status == 404


async def test_watched_attributes_key_values_and_retries(api: ApiClient,
                                                         receiver: Receiver) -> None:
    await api.post(E, site(1, 100))
    r = await api.post(S, subscription(
        receiver.url, watchedAttributes=["capacity"],
        notification={"endpoint": {"uri": receiver.url}, "format": "keyValues",
                      "attributes": ["capacity"]}))
    assert r.status == 201
    await api.call("PATCH", f"{E}/{site(1)['id']}/attrs", json={
        "name": {"type": "LanguageProperty", "languageMap": {"ja": "新"}}})  # not watched
    receiver.fail_first = 1  # the next delivery fails once, then is retried
    await api.call("PATCH", f"{E}/{site(1)['id']}/attrs", json={"capacity": 150})
    _, note = await receiver.next()
    assert note["data"] == [{"id": site(1)["id"], "type": "EvacuationSite", "capacity": 150}]
    assert len(receiver.received) == 1


async def test_subscription_validation_and_list(api: ApiClient, receiver: Receiver) -> None:
    bad = await api.post(S, {"type": "Subscription", "notification": {
        "endpoint": {"uri": receiver.url}}})
    assert bad.status == 400
    bad = await api.post(S, subscription("mqtt://broker"))  # an MQTT endpoint needs a topic
    assert bad.status == 400
    sub = subscription(receiver.url, id="urn:ngsi-ld:Subscription:one")
    assert (await api.post(S, sub)).status == 201
    assert (await api.post(S, sub)).status == 409
    listed = await api.get(S, params={"count": "true"})
    assert listed.headers["NGSILD-Results-Count"] == "1"
    assert listed.json()[0]["id"] == "urn:ngsi-ld:Subscription:one"
    assert (await api.call("PATCH", f"{S}/urn:ngsi-ld:Subscription:one",
                           json={"isActive": False})).status == 204
    shown = (await api.get(f"{S}/urn:ngsi-ld:Subscription:one")).json()
    assert shown["status"] == "paused"


class _Change:
    def __init__(self, kind: str, entity: dict[str, Any]) -> None:
        self.kind = kind
        self.entity_id = entity["id"]
        self.entity = orjson.dumps(entity)


async def test_federated_subscription_consumes_the_node_change_source(
        renkei: ApiClient, receiver: Receiver) -> None:
    """The notifier's side of ``node.federated_changes``: a second API server over the same
    node's parts (its ``ApiDeps``) is handed a stand-in change feed, so that a peer's change in
    a given shape reaches the notifier; the real gRPC path is exercised end to end in
    tests/e2e/test_federation_subscribe.py."""
    asked: list[tuple[Any, ...]] = []
    peer_entity = {**site(7, 70), "id": "urn:ngsi-ld:EvacuationSite:jp-372013:7"}

    async def federated_changes(types: Sequence[str], q: Sequence[Any] = (), purpose: str = "",
                                *, name: str = "", usable: Any = None
                                ) -> AsyncIterator[_Change]:
        asked.append((types, q, purpose))
        yield _Change("updated", peer_entity)

    node = renkei.node
    server = HttpServer(dataclasses.replace(node.api_deps(),
                                            federated_changes=federated_changes))
    await server.start()
    try:
        api = renkei.speaking(RENKEI_LINK)  # peers' changes come in Renkei's names
        api.url = server.url  # the node's tokens hold for it: the token key is in the store
        r = await api.post(S, subscription(receiver.url, q="capacity<100"))
        assert r.status == 201
        _, note = await receiver.next()
        assert note["data"][0]["id"] == peer_entity["id"]
        (types, q, purpose), = asked
        assert tuple(types) == ("EvacuationSite",) and purpose == "disaster_response"
        assert q[0].attribute == "capacity" and q[0].op == "<"
    finally:
        await server.stop()


async def test_an_ingest_notifies_subscribers_like_an_api_write(renkei: ApiClient,
                                                               receiver: Receiver) -> None:
    from broker.ingest import Ingestor
    from broker.store.base import EntityFilter
    from mappings.loader import bundled_sample

    node = renkei.node
    r = await renkei.post(S, subscription(receiver.url, q="capacity>=10000"))
    assert r.status == 201
    report = await Ingestor(node.store, node.clock, node.changes.notify).ingest(
        "sites", "bundled:nanao_evacuation_sites", bundled_sample("nanao_evacuation_sites"))
    assert report.mapped > 100
    import orjson as _json

    expected = {e.id async for e in node.store.scan_entities(EntityFilter(
        types=("EvacuationSite",)))
        if _json.loads(e.doc).get("capacity", {}).get("value", 0) >= 10000}
    assert len(expected) >= 3  # the Nanao file has several sites for 10,000 people or more
    received: set[str] = set()
    for _ in range(100):  # notifications may come in several deliveries
        received = {e["id"] for _, note in receiver.received for e in note["data"]}
        if received >= expected:
            break
        await asyncio.sleep(0.1)
    assert received == expected
    assert all(e["capacity"]["value"] >= 10000
               for _, note in receiver.received for e in note["data"])


async def test_subscription_pages_link_to_their_neighbours(api: ApiClient,
                                                           receiver: Receiver) -> None:
    for _ in range(3):
        assert (await api.post(S, subscription(receiver.url))).status == 201
    everything = [s["id"] for s in (await api.get(f"{S}?limit=10")).json()]
    # Asked with a trailing slash, the links name the collection itself.
    r = await api.get(f"{S}/?limit=1&offset=1", headers={"Accept": "application/ld+json"})
    assert [s["id"] for s in r.json()] == everything[1:2]
    links = {}
    for value in ",".join(r.headers.getall("Link")).split(","):
        target, *params = value.strip().split(";")
        rel = next(p.split("=", 1)[1].strip('"') for p in params if p.startswith("rel="))
        links[rel] = target.strip("<>")
        assert 'type="application/ld+json"' in params
    assert set(links) == {"prev", "next"}
    assert links["prev"] == f"{S}?limit=1&offset=0"
    assert [s["id"] for s in (await api.get(links["prev"])).json()] == everything[:1]
    assert [s["id"] for s in (await api.get(links["next"])).json()] == everything[2:3]
    last = await api.get(links["next"], headers={"Accept": "application/ld+json"})
    values = last.headers.getall("Link")
    assert not any('rel="next"' in v for v in values) and any('rel="prev"' in v for v in values)


async def test_deleting_an_entity_fires_attribute_deleted_for_its_watched_attributes(
        api: ApiClient, receiver: Receiver) -> None:
    r = await api.post(S, subscription(receiver.url, entities=[{"type": "Thing"}],
                                       watchedAttributes=["name"],
                                       notificationTrigger=["attributeDeleted"]))
    assert r.status == 201, r.body
    with_name = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing",
                 "name": {"type": "Property", "value": "a"},
                 "height": {"type": "Property", "value": 3}}
    without = {"id": "urn:ngsi-ld:Thing:2", "type": "Thing",
               "height": {"type": "Property", "value": 4}}
    for entity in (without, with_name):
        assert (await api.post("/ngsi-ld/v1/entities", entity)).status == 201
    # Neither creation is an attribute deletion; deleting the entity without the watched
    # attribute deletes nothing watched.
    assert (await api.call("DELETE", "/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:2")).status == 204
    assert (await api.call("DELETE", "/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:1")).status == 204
    _headers, note = await receiver.next()
    (data,) = note["data"]
    assert data["id"] == "urn:ngsi-ld:Thing:1" and "deletedAt" in data
    assert data["name"] == {"type": "Property", "value": "urn:ngsi-ld:null"}
    assert "height" not in data
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 1
