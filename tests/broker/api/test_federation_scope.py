"""Federation scope: an agency's API answers with its cities' data under agreements; failed
or denied peers become NGSILD-Warning headers (a 503 only for one entity whose own member did
not answer: it may exist there)."""

from __future__ import annotations

from broker.demo.harness import LocalFederation, NodeSpec
from broker.service.entity_write import entity_write

from .conftest import AGENCY, CITY, RENKEI_LINK, ApiClient, Reply, client_token, site

E = "/ngsi-ld/v1/entities"
OTHER = "jp-372013"


async def test_federated_reads_merge_and_warn(federation: LocalFederation, session) -> None:
    city = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City", http=False))
    other = await federation.add_node(NodeSpec(OTHER, "city", "高松市", "Takamatsu", http=False))
    agency = await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office"))
    await federation.publish()
    await city.store.upsert_entities([entity_write(site(i, 100 * i)) for i in (1, 2, 3)], 1.0)
    await other.store.upsert_entities([entity_write(
        {**site(9), "id": f"urn:ngsi-ld:EvacuationSite:{OTHER}:9"})], 1.0)
    for provider, agreement_id in ((CITY, "agr-nanao"), (OTHER, "agr-takamatsu")):
        await federation.agree(provider=provider, consumer=AGENCY, agreement_id=agreement_id,
                               purpose="disaster_response",
                               types={"EvacuationSite": ["capacity", "location", "name"]})
    # The agency holds its own copy of site 1 with a newer capacity: local data wins.
    await agency.store.upsert_entities([entity_write(
        {"id": site(1)["id"], "type": "EvacuationSite",
         "capacity": {"type": "Property", "value": 999}})], 1.0)
    # Agreements and peers speak Renkei's names; so does this client.
    api = ApiClient(agency, session, await client_token(agency, session), RENKEI_LINK)

    r = await api.get(E, params={"type": "EvacuationSite", "count": "true"})
    assert r.status == 200
    by_id = {e["id"]: e for e in r.json()}
    assert len(by_id) == 4 and r.headers["NGSILD-Results-Count"] == "4"
    merged = by_id[site(1)["id"]]
    assert merged["capacity"]["value"] == 999 and "location" in merged  # ours + the city's
    assert "NGSILD-Warning" not in r.headers

    local = await api.get(E, params={"type": "EvacuationSite", "local": "true"})
    assert [e["id"] for e in local.json()] == [site(1)["id"]]

    one = await api.get(f"{E}/{site(2)['id']}")
    assert one.status == 200 and one.json()["capacity"]["value"] == 200

    # A q the federation's wire form cannot carry (a range) is checked here on arrival: the
    # peers' matches are neither lost nor replaced by an error.
    ranged = await api.get(E, params={"type": "EvacuationSite", "q": "capacity==150..300"})
    assert ranged.status == 200 and "NGSILD-Warning" not in ranged.headers
    assert {e["id"] for e in ranged.json()} == {site(2)["id"], site(3)["id"]}

    # A field the agreements do not share: both cities deny, the answer is still a 200.
    denied = await api.get(E, params={"type": "EvacuationSite", "pick": "telephone"})
    assert denied.status == 200
    warnings = denied.headers.getall("NGSILD-Warning")
    assert len(warnings) == 2 and all("denied" in w for w in warnings)
    assert any(CITY in w for w in warnings)

    # One city goes down: its data is missing, a warning names it, the rest is served.
    await other.stop()
    federation.nodes.pop(OTHER)
    r = await api.get(E, params={"type": "EvacuationSite"})
    assert r.status == 200
    assert {e["id"] for e in r.json()} == {site(i)["id"] for i in (1, 2, 3)}
    (warning,) = r.headers.getall("NGSILD-Warning")
    assert warning.startswith(f"199 {OTHER} ") and "unavailable" in warning
    # Its entity is not "not found": the member it belongs to did not answer (issue 14).
    silent = await api.get(f"{E}/urn:ngsi-ld:EvacuationSite:{OTHER}:9")
    assert silent.status == 503, silent.json()
    problem = silent.json()
    assert problem["type"].endswith("PeerUnavailable") and OTHER in problem["detail"]
    # An id of a city that did answer, and has no such entity, is still a 404.
    missing = await api.get(f"{E}/urn:ngsi-ld:EvacuationSite:{CITY}:0404")
    assert missing.status == 404 and OTHER in missing.headers["NGSILD-Warning"]


async def test_an_id_pattern_is_searched_in_the_cities_ids_as_in_the_agencys_own(
        federation: LocalFederation, session) -> None:
    city = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City", http=False))
    other = await federation.add_node(NodeSpec(OTHER, "city", "高松市", "Takamatsu", http=False))
    agency = await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office"))
    await federation.publish()
    await city.store.upsert_entities([entity_write(site(i)) for i in (1, 2)], 1.0)
    takamatsu = f"urn:ngsi-ld:EvacuationSite:{OTHER}:9"
    await other.store.upsert_entities([entity_write({**site(9), "id": takamatsu})], 1.0)
    own = f"urn:ngsi-ld:EvacuationSite:{AGENCY}:hq"
    await agency.store.upsert_entities([entity_write({**site(5), "id": own})], 1.0)
    for provider, agreement_id in ((CITY, "agr-nanao"), (OTHER, "agr-takamatsu")):
        await federation.agree(provider=provider, consumer=AGENCY, agreement_id=agreement_id,
                               purpose="disaster_response",
                               types={"EvacuationSite": ["capacity", "location", "name"]})
    api = ApiClient(agency, session, await client_token(agency, session), RENKEI_LINK)

    def ids(reply: Reply) -> list[str]:
        assert reply.status == 200 and "NGSILD-Warning" not in reply.headers, reply.body
        return sorted(e["id"] for e in reply.json())

    # Unanchored, the pattern matches anywhere in the id, at the peers as here (the peers
    # used to full-match it and silently returned nothing).
    everyone = sorted([site(1)["id"], site(2)["id"], takamatsu, own])
    assert ids(await api.get(E, params={"type": "EvacuationSite",
                                        "idPattern": "EvacuationSite"})) == everyone
    assert ids(await api.get(E, params={"type": "EvacuationSite", "idPattern": OTHER})) == [
        takamatsu]
    # Anchored, it is a prefix; anchored on the wrong beginning, it matches nothing anywhere.
    assert ids(await api.get(E, params={
        "type": "EvacuationSite", "idPattern": f"^urn:ngsi-ld:EvacuationSite:{CITY}:"})) == [
        site(1)["id"], site(2)["id"]]
    assert ids(await api.get(E, params={"type": "EvacuationSite",
                                        "idPattern": "^EvacuationSite"})) == []
