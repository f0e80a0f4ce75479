"""Notifications as ETSI GS CIM 009 v1.8.1 5.8.6 and NotificationParams (5.2.14) describe them,
delivered to a real receiver on 127.0.0.1: periodic subscriptions (timeInterval), attribute
triggers, deleted attributes as NGSI-LD Nulls, showChanges, join, pick, JSON-LD data,
jsonldContext, and the representation of a subscription."""

from __future__ import annotations

import asyncio
from typing import Any

from .conftest import ApiClient, Receiver, site

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
NULL = "urn:ngsi-ld:null"


def subscription(url: str, notification: dict[str, Any] | None = None,
                 **extra: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "EvacuationSite"}],
            "notification": {"endpoint": {"uri": url, "accept": "application/json"},
                             **(notification or {})}, **extra}


async def test_a_periodic_subscription_notifies_every_interval_unchanged(
        api: ApiClient, receiver: Receiver) -> None:
    await api.post(E, site(1, 100))
    r = await api.post(S, subscription(receiver.url, timeInterval=1))
    assert r.status == 201
    started = asyncio.get_running_loop().time()
    _, first = await receiver.next()
    _, second = await receiver.next()  # nothing changed in between
    assert asyncio.get_running_loop().time() - started >= 0.9
    for note in (first, second):
        assert [e["id"] for e in note["data"]] == [site(1)["id"]]
        assert note["data"][0]["capacity"]["value"] == 100
    for bad in ({"timeInterval": 0}, {"timeInterval": "10"},
                {"timeInterval": 5, "watchedAttributes": ["capacity"]},
                {"timeInterval": 5, "throttling": 2}):
        assert (await api.post(S, subscription(receiver.url, **bad))).status == 400, bad


async def test_attribute_deleted_shows_a_null_and_show_changes_the_previous_value(
        api: ApiClient, receiver: Receiver) -> None:
    await api.post(E, site(1, 100))
    r = await api.post(S, subscription(receiver.url, {"showChanges": True},
                                       notificationTrigger=["attributeDeleted",
                                                            "attributeUpdated"]))
    assert r.status == 201
    await api.call("PATCH", f"{E}/{site(1)['id']}/attrs", json={"capacity": 120})
    _, note = await receiver.next()
    assert note["data"][0]["capacity"] == {"type": "Property", "value": 120,
                                           "previousValue": 100}
    assert (await api.call("DELETE", f"{E}/{site(1)['id']}/attrs/capacity")).status == 204
    _, note = await receiver.next()
    assert note["data"][0]["capacity"] == {"type": "Property", "value": NULL,
                                           "previousValue": 120}


async def test_only_the_triggers_asked_for_fire(api: ApiClient, receiver: Receiver) -> None:
    await api.post(E, site(1, 100))
    await api.post(S, subscription(receiver.url, notificationTrigger=["attributeDeleted"]))
    await api.call("PATCH", f"{E}/{site(1)['id']}/attrs", json={"capacity": 120})  # update
    await api.call("DELETE", f"{E}/{site(1)['id']}/attrs/capacity")
    _, note = await receiver.next()  # the first notification is the deletion's
    assert note["data"][0]["capacity"]["value"] == NULL


async def test_join_pick_and_json_ld_data(api: ApiClient, receiver: Receiver) -> None:
    city = {"id": "urn:ngsi-ld:City:nanao", "type": "City",
            "name": {"type": "Property", "value": "Nanao"}}
    await api.post(E, city)
    await api.post(S, subscription(receiver.url, {"join": "inline", "pick": ["id", "locatedAt"],
                                                  "endpoint": {"uri": receiver.url,
                                                               "accept": "application/ld+json"}}))
    await api.post(E, {**site(1, 100), "locatedAt": {"type": "Relationship",
                                                      "object": city["id"]}})
    _, note = await receiver.next()
    (entity,) = note["data"]
    assert "@context" in entity  # each entity a JSON-LD document of its own
    assert set(entity) == {"@context", "id", "locatedAt"}
    assert entity["locatedAt"]["entity"]["name"]["value"] == "Nanao"
    for bad in ({"pick": ["id"], "omit": ["name"]}, {"pick": ["id"], "attributes": ["x"]},
                {"join": "sideways"}):
        assert (await api.post(S, subscription(receiver.url, bad))).status == 400, bad


async def test_representation_context_and_expiry(api: ApiClient, receiver: Receiver) -> None:
    r = await api.post(S, subscription(receiver.url))
    shown = (await api.get(r.headers["Location"])).json()
    # 5.2.12 defaults are shown; nothing the subscriber did not set or the broker counted.
    assert shown["notificationTrigger"] == ["attributeCreated", "attributeUpdated"]
    assert "isActive" not in shown and "timesSent" not in shown["notification"]
    unknown = await api.post(S, subscription(
        receiver.url, jsonldContext="https://context.example/never-fetched.jsonld"))
    assert unknown.status == 503
    past = await api.post(S, subscription(receiver.url, expiresAt="2001-01-01T00:00:00Z"))
    assert past.status == 400
