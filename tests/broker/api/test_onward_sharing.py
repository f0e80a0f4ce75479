"""Onward sharing (issue 12, smaller holes): an agency's NGSI-LD API served a city's rows to any
API client registered at the agency. Rows fetched under an agreement with
``onward_sharing = false`` now go only to the agency's own clients (not ``--third-party``), and a
client bound to agreements (``--agreement``) reads through those only; federated subscriptions
follow the same rule as reads."""

from __future__ import annotations

import aiohttp

from broker.api.auth import ClientRegistry
from broker.demo.harness import LocalFederation, NodeSpec
from broker.node import Node
from broker.service.entity_write import entity_write

from .conftest import AGENCY, CITY, RENKEI_LINK, ApiClient, Receiver, basic, site

E = "/ngsi-ld/v1/entities"
OTHER = "jp-372013"
PURPOSE = "disaster_response"
SHARED = {"EvacuationSite": ["capacity", "location", "name"]}


async def token(node: Node, session: aiohttp.ClientSession, name: str, **binding: object
                ) -> str:
    client_id, secret = await ClientRegistry(node.store, node.clock).add(
        name, PURPOSE, ("read", "write"), **binding)  # type: ignore[arg-type]
    async with session.post(node.http.url + "/oauth2/token",
                            data={"grant_type": "client_credentials"},
                            headers={"Authorization": basic(client_id, secret)}) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["access_token"])


async def test_rows_without_onward_sharing_reach_only_the_members_own_clients(
        federation: LocalFederation, session: aiohttp.ClientSession) -> None:
    city = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City", http=False))
    other = await federation.add_node(NodeSpec(OTHER, "city", "高松市", "Takamatsu", http=False))
    agency = await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office"))
    await federation.publish()
    await city.store.upsert_entities([entity_write(site(i)) for i in (1, 2)], 1.0)
    takamatsu = {**site(9), "id": f"urn:ngsi-ld:EvacuationSite:{OTHER}:9"}
    await other.store.upsert_entities([entity_write(takamatsu)], 1.0)
    # Nanao forbids onward sharing (the default); Takamatsu allows it.
    await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-nanao",
                           purpose=PURPOSE, types=SHARED)
    await federation.agree(provider=OTHER, consumer=AGENCY, agreement_id="agr-takamatsu",
                           purpose=PURPOSE, types=SHARED, onward_sharing=True)
    nanao_ids = {site(1)["id"], site(2)["id"]}

    async def ids(client: ApiClient) -> set[str]:
        r = await client.get(E, params={"type": "EvacuationSite"})
        assert r.status == 200, r.json()
        return {e["id"] for e in r.json()}

    own = ApiClient(agency, session, await token(agency, session, "ops-dashboard"), RENKEI_LINK)
    third = ApiClient(agency, session,
                      await token(agency, session, "shelter-app", third_party=True), RENKEI_LINK)
    bound = ApiClient(agency, session, await token(agency, session, "nanao-only",
                                                   agreements=("agr-nanao",)), RENKEI_LINK)
    assert await ids(own) == nanao_ids | {takamatsu["id"]}
    # The third party gets what may be shared onward, and nothing of Nanao's: not in a
    # query, not by id.
    assert await ids(third) == {takamatsu["id"]}
    assert (await third.get(f"{E}/{site(1)['id']}")).status == 404
    assert (await own.get(f"{E}/{site(1)['id']}")).status == 200
    # A client bound to one agreement reads through it only.
    assert await ids(bound) == nanao_ids


async def test_a_third_partys_federated_subscription_gets_no_rows_without_onward_sharing(
        federation: LocalFederation, session: aiohttp.ClientSession,
        receiver: Receiver) -> None:
    city = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City", http=False))
    agency = await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office"))
    await federation.publish()
    await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-nanao",
                           purpose=PURPOSE, types=SHARED)
    subscription_of = {}
    for name, binding in (("ops-dashboard", {}), ("shelter-app", {"third_party": True})):
        client = ApiClient(agency, session, await token(agency, session, name, **binding),
                           RENKEI_LINK)
        created = await client.post("/ngsi-ld/v1/subscriptions", {
            "type": "Subscription", "entities": [{"type": "EvacuationSite"}],
            "notification": {"endpoint": {"uri": receiver.url, "accept": "application/json"}}})
        assert created.status == 201
        subscription_of[name] = created.headers["Location"].rsplit("/", 1)[-1]
    # The feeds start "now": write until the agency's own subscriber hears of a change.
    for n in range(40):
        await city.store.upsert_entities([entity_write(site(100 + n))], city.clock.now())
        city.changes.notify()
        try:
            await receiver.next(timeout=0.5)
        except TimeoutError:
            continue
        if any(note["subscriptionId"] == subscription_of["ops-dashboard"]
               for _, note in receiver.received):
            break
    for n in range(5):  # more changes after the own subscriber is wired, for both to hear
        await city.store.upsert_entities([entity_write(site(300 + n))], city.clock.now())
        city.changes.notify()
        await receiver.next(timeout=5)
    heard = {note["subscriptionId"] for _, note in receiver.received}
    assert heard == {subscription_of["ops-dashboard"]}, heard
