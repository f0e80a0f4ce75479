"""A request without any @context speaks the NGSI-LD core context alone (ETSI GS CIM 009):
a client gets back exactly the names it wrote, and Renkei's names read as full IRIs."""

from __future__ import annotations

from typing import Any

import orjson

from mappings.contexts import NGSI_LD_CORE_V1_8_URL

from .conftest import CTX_REL, LD, ApiClient, Receiver, site

E = "/ngsi-ld/v1/entities"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
RENKEI = "https://w3id.org/renkei/v1#"
CORE_LINK_HEADER = f"<{NGSI_LD_CORE_V1_8_URL}>; {CTX_REL}"


def t_query(i: int = 1) -> dict[str, Any]:
    """An entity of a conformance suite: names the core context does not define, two of which
    (``name``, ``address``) Renkei's context defines with other IRIs."""
    return {"id": f"urn:ngsi-ld:T_Query:EntityForQuery{i:04d}", "type": "T_Query",
            "name": {"type": "Property", "value": f"Entity {i}"},
            "address": {"type": "Property", "value": {"streetAddress": "Kawaramachi 1",
                                                      "addressLocality": "Nanao"}},
            "P1": {"type": "Property", "value": 10 * i, "observedAt": "2026-01-01T00:00:00Z",
                   "P1_P1": {"type": "Property", "value": 0.5}},
            "R1": {"type": "Relationship", "object": "urn:ngsi-ld:T_Query:EntityForQuery9999"},
            "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                          "coordinates": [136.96, 37.04]}}}


async def test_round_trip_without_context_keeps_the_clients_names(api: ApiClient) -> None:
    assert (await api.post(E, t_query(1))).status == 201
    got = await api.get(f"{E}/{t_query(1)['id']}")
    assert got.status == 200
    assert got.json() == t_query(1)
    assert got.headers["Content-Type"].startswith("application/json")
    assert got.headers["Link"] == CORE_LINK_HEADER
    ld = await api.get(f"{E}/{t_query(1)['id']}", headers={"Accept": LD})
    assert ld.json() == {"@context": NGSI_LD_CORE_V1_8_URL, **t_query(1)}
    assert "Link" not in ld.headers
    await api.post(E, t_query(2))
    found = await api.get(E, params={"type": "T_Query", "q": "P1>15;name==\"Entity 2\""})
    assert found.json() == [t_query(2)]
    kv = await api.get(E, params={"type": "T_Query", "options": "keyValues", "attrs": "name,P1",
                                  "limit": "1"})
    assert kv.json() == [{"id": t_query(1)["id"], "type": "T_Query", "name": "Entity 1",
                          "P1": 10}]
    assert (await api.call("PATCH", f"{E}/{t_query(1)['id']}/attrs",
                           json={"name": "renamed"})).status == 204
    assert (await api.get(f"{E}/{t_query(1)['id']}")).json()["name"]["value"] == "renamed"
    listed = (await api.get("/ngsi-ld/v1/types")).json()
    assert listed["typeList"] == ["T_Query"]


async def test_a_renkei_reader_sees_the_default_context_iris(api: ApiClient,
                                                             renkei: ApiClient) -> None:
    await api.post(E, t_query(1))
    seen = (await renkei.get(f"{E}/{t_query(1)['id']}")).json()
    # Renkei's own `name` and `address` are other attributes (sdm:name, sdm:address).
    assert set(seen) == {"id", "type", DEFAULT + "name", DEFAULT + "address", "P1", "R1",
                         "location"}
    assert seen["type"] == "T_Query"
    assert seen[DEFAULT + "name"] == t_query(1)["name"]
    assert seen["P1"]["P1_P1"] == {"type": "Property", "value": 0.5}
    # ... and it asks for them by those IRIs.
    q = await renkei.get(E, params={"type": "T_Query", "q": f"{DEFAULT}name==\"Entity 1\""})
    assert [e["id"] for e in q.json()] == [t_query(1)["id"]]
    assert (await renkei.get(E, params={"type": "T_Query", "q": "name==\"Entity 1\""})
            ).json() == []


async def test_renkei_data_reads_as_full_iris_without_context(api: ApiClient,
                                                              renkei: ApiClient) -> None:
    assert (await renkei.post(E, site(1, 250))).status == 201
    assert (await renkei.get(f"{E}/{site(1)['id']}")).json() == site(1, 250)
    plain = (await api.get(f"{E}/{site(1)['id']}")).json()
    assert plain["type"] == RENKEI + "EvacuationSite"
    assert plain["https://schema.org/maximumAttendeeCapacity"]["value"] == 250
    assert plain["https://smartdatamodels.org/name"] == site(1)["name"]
    assert plain["location"] == site(1)["location"]  # a core term keeps its name
    assert set(plain) == {"id", "type", "https://schema.org/maximumAttendeeCapacity",
                          "https://smartdatamodels.org/name", "location"}
    # `EvacuationSite` without a context is another type (default-context/EvacuationSite).
    assert (await api.get(E, params={"type": "EvacuationSite"})).json() == []
    by_iri = await api.get(E, params={
        "type": RENKEI + "EvacuationSite", "q": "https://schema.org/maximumAttendeeCapacity>200",
        "count": "true"})
    assert [e["id"] for e in by_iri.json()] == [site(1)["id"]]
    assert by_iri.headers["NGSILD-Results-Count"] == "1"
    kv = (await api.get(E, params={"type": RENKEI + "EvacuationSite",
                                   "options": "keyValues"})).json()
    assert kv[0]["https://schema.org/maximumAttendeeCapacity"] == 250
    assert (await api.get("/ngsi-ld/v1/types")).json()["typeList"] == [RENKEI + "EvacuationSite"]
    assert (await renkei.get("/ngsi-ld/v1/types")).json()["typeList"] == ["EvacuationSite"]


async def test_pages_without_context_follow_every_change_of_an_entity(
        api: ApiClient, renkei: ApiClient) -> None:
    """Each entity's translation is kept per context (the stored bytes are the key): pages
    asked again are the same, and a changed entity reads changed at once."""
    capacity = "https://schema.org/maximumAttendeeCapacity"
    page = {"type": RENKEI + "EvacuationSite", "local": "true"}
    for i in (1, 2):
        assert (await renkei.post(E, site(i, 100 * i))).status == 201
    first = await api.get(E, params=page)
    again = await api.get(E, params=page)
    assert first.body == again.body
    assert [e[capacity]["value"] for e in first.json()] == [100, 200]
    patch = await renkei.call("PATCH", f"{E}/{site(1)['id']}/attrs", json={
        "capacity": {"type": "Property", "value": 150}})
    assert patch.status == 204
    assert [e[capacity]["value"] for e in (await api.get(E, params=page)).json()] == [150, 200]
    assert (await renkei.call("DELETE", f"{E}/{site(2)['id']}")).status == 204
    assert [e["id"] for e in (await api.get(E, params=page)).json()] == [site(1)["id"]]


async def test_inline_user_context_read_back_without_context(api: ApiClient) -> None:
    body = {"@context": [{"name": "http://schema.org/name"}, NGSI_LD_CORE_V1_8_URL],
            "id": "urn:ngsi-ld:T:inline", "type": "T",
            "name": {"type": "Property", "value": "Schema name"},
            "P1": {"type": "Property", "value": 1}}
    r = await api.call("POST", E, data=orjson.dumps(body), headers={"Content-Type": LD})
    assert r.status == 201, r.body
    got = (await api.get(f"{E}/urn:ngsi-ld:T:inline")).json()
    assert got == {"id": "urn:ngsi-ld:T:inline", "type": "T",
                   "http://schema.org/name": {"type": "Property", "value": "Schema name"},
                   "P1": {"type": "Property", "value": 1}}
    # The name a no-context client would mean is another attribute: absent here.
    assert (await api.get(E, params={"type": "T", "attrs": "name"})).json() == []
    assert len((await api.get(E, params={"type": "T", "attrs": "http://schema.org/name"})
                ).json()) == 1


async def test_subscription_without_context_notifies_in_core_terms(
        api: ApiClient, receiver: Receiver) -> None:
    sub = {"type": "Subscription", "entities": [{"type": "T_Query"}],
           "watchedAttributes": ["name"],
           "notification": {"endpoint": {"uri": receiver.url}, "attributes": ["name"]}}
    assert (await api.post("/ngsi-ld/v1/subscriptions", sub)).status == 201
    await api.post(E, t_query(1))
    headers, note = await receiver.next()
    assert note["data"] == [{"id": t_query(1)["id"], "type": "T_Query",
                             "name": t_query(1)["name"]}]
    assert headers["Link"] == CORE_LINK_HEADER
    listed = (await api.get("/ngsi-ld/v1/subscriptions")).json()
    assert listed[0]["entities"] == [{"type": "T_Query"}]
    assert listed[0]["watchedAttributes"] == ["name"]
