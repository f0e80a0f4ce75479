"""An NGSI-LD subscription on the agency's node covers its cities' data: a change written in a
city reaches the subscriber's endpoint, carried by the gRPC Subscribe stream."""

from __future__ import annotations

import asyncio
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

    # The feed starts "now", at the moment the city accepts the stream (and audits it).
    async def city_streams() -> bool:
        return any(e.record.operation == "subscribe" and e.record.decision == "allow"
                   for e in await city.audit.entries())

    for _ in range(200):
        if await city_streams():
            break
        await asyncio.sleep(0.05)
    assert await city_streams(), "the agency never opened its change stream to the city"
    await asyncio.sleep(0.3)  # the city takes its "now" cursor right after auditing

    await city.store.upsert_entities([entity_write(site(7, 50)), entity_write(site(8, 300))],
                                     city.clock.now())
    city.changes.notify()
    _, note = await receiver.next(timeout=20)
    assert [e["id"] for e in note["data"]] == [site(8)["id"]]  # q filtered site 7 out
    entity = note["data"][0]
    assert entity["capacity"]["value"] == 300
    assert "location" not in entity  # not in the agreement's field mask
