"""Subscriptions are their owner's: other clients cannot see, change or delete them, and
nobody reads back the credentials sent to the endpoint."""

from __future__ import annotations

from typing import Any

from broker.node import Node

from .conftest import ApiClient, Receiver, client_token, site

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
SECRET = "Bearer s3cr3t-of-the-receiver"


def subscription(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "EvacuationSite"}],
            "notification": {"endpoint": {"uri": url, "receiverInfo": [
                {"key": "Authorization", "value": SECRET}]}}, **extra}


async def test_subscriptions_are_scoped_to_their_owner(api: ApiClient, city: Node, session: Any,
                                                      receiver: Receiver) -> None:
    sub_id = "urn:ngsi-ld:Subscription:owned"
    assert (await api.post(S, subscription(receiver.url, id=sub_id))).status == 201
    one = f"{S}/{sub_id}"
    reader = ApiClient(city, session, await client_token(city, session, scopes=("read",),
                                                         name="reader"))
    other = ApiClient(city, session, await client_token(city, session, name="other"))
    for intruder in (reader, other):
        listed = await intruder.get(S, params={"count": "true"})
        assert listed.status == 200 and listed.json() == []
        assert listed.headers["NGSILD-Results-Count"] == "0"
        assert SECRET.encode() not in listed.body
        assert (await intruder.get(one)).status == 404
    assert (await other.call("PATCH", one, json={"isActive": False})).status == 404
    assert (await other.call("DELETE", one)).status == 404
    # The read-only client is stopped earlier still, by scope.
    assert (await reader.call("DELETE", one)).status == 403
    # The owner's subscription is untouched, and keeps notifying.
    shown = (await api.get(one)).json()
    assert shown["status"] == "active"
    await api.post(E, site(1))
    headers, _note = await receiver.next()
    assert headers["Authorization"] == SECRET
    assert (await api.call("DELETE", one)).status == 204


async def test_receiver_info_values_are_never_echoed(api: ApiClient, receiver: Receiver) -> None:
    r = await api.post(S, subscription(receiver.url))
    assert r.status == 201
    for reply in (await api.get(S), await api.get(r.headers["Location"]),
                  await api.get(r.headers["Location"], headers={
                      "Accept": "application/ld+json"})):
        assert reply.status == 200 and SECRET.encode() not in reply.body
    shown = (await api.get(r.headers["Location"])).json()
    assert shown["notification"]["endpoint"]["receiverInfo"] == [
        {"key": "Authorization", "value": "***"}]
