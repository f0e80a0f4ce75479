"""An NGSI-LD subscription on the agency's node covers its cities' data: a change written in a
city reaches the subscriber's endpoint, carried by the gRPC Subscribe stream."""

from __future__ import annotations

from typing import Any

from broker.demo.harness import LocalFederation, NodeSpec
from broker.service.entity_write import entity_write

from .conftest import AGENCY, CITY, RENKEI_LINK, ApiClient, Receiver, client_token, site

S = "/ngsi-ld/v1/subscriptions"


async def test_a_city_change_reaches_the_agency_subscriber(
        federation: LocalFederation, session: Any, receiver: Receiver) -> None:
    city = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City", http=False))
    agency = await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office"))
    await federation.publish()
    await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-sub",
                           purpose="disaster_response",
                           types={"EvacuationSite": ["capacity", "name"]})
    api = ApiClient(agency, session, await client_token(agency, session), RENKEI_LINK)
    created = await api.post(S, {
        "type": "Subscription", "entities": [{"type": "EvacuationSite"}],
        "q": "capacity>=100",
        "notification": {"endpoint": {"uri": receiver.url, "accept": "application/json"}}})
    assert created.status == 201
    sub_url = created.headers["Location"]

    shown = (await api.get(sub_url)).json()
    assert shown["renkeiFederation"]["status"] == "wired"

    # The feed starts "now", when the city accepts the stream, a moment this test cannot see
    # from outside; so it writes a pair of sites until a notification arrives. Every pair has
    # one site the subscription's q excludes, and every notification must leave it out.
    notes = []
    for n in range(40):
        await city.store.upsert_entities(
            [entity_write(site(100 + n, 50)), entity_write(site(200 + n, 300 + n))],
            city.clock.now())
        city.changes.notify()
        try:
            notes.append((await receiver.next(timeout=0.5))[1])
            break
        except TimeoutError:
            continue
    assert notes, "no notification reached the subscriber"
    entities = [e for note in notes for e in note["data"]]
    assert entities and all(e["capacity"]["value"] >= 300 for e in entities)  # q held
    assert all(e["id"].endswith(tuple(f":{200 + n:04d}" for n in range(40))) for e in entities)
    assert all("location" not in e for e in entities)  # not in the agreement's field mask
