"""Media types, @context handling and trailing slashes, as the specification and real
clients exercise them."""

from __future__ import annotations

from pathlib import Path

import orjson

from broker.demo.harness import LocalFederation, NodeSpec
from mappings.contexts import NGSI_LD_CORE_URL

from .conftest import CTX_REL, JSON, LD, RENKEI_LINK, ApiClient, client_token, site

E = "/ngsi-ld/v1/entities"
UNKNOWN_CTX = "https://example.org/unregistered/context.jsonld"


async def test_406_and_415(api: ApiClient) -> None:
    r = await api.get(E, params={"type": "EvacuationSite"}, headers={"Accept": "text/html"})
    assert r.status == 406
    assert r.json()["title"] == "Not acceptable"
    r = await api.call("POST", E, data=orjson.dumps(site(1)),
                       headers={"Content-Type": "text/plain"})
    assert r.status == 415
    ok = await api.get(E, params={"type": "EvacuationSite"},
                       headers={"Accept": "text/html;q=0.5, application/ld+json"})
    assert ok.status == 200 and ok.headers["Content-Type"].startswith(LD)


async def test_body_context_rules(api: ApiClient) -> None:
    r = await api.call("POST", E, data=orjson.dumps(site(1)), headers={"Content-Type": LD})
    assert r.status == 400
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    with_ctx = {**site(1), "@context": NGSI_LD_CORE_URL}
    r = await api.call("POST", E, data=orjson.dumps(with_ctx), headers={"Content-Type": JSON})
    assert r.status == 400
    r = await api.call("POST", E, data=b"{not json", headers={"Content-Type": JSON})
    assert r.status == 400
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest"


async def test_unknown_context_is_refused_never_fetched(api: ApiClient) -> None:
    body = {**site(1), "@context": [UNKNOWN_CTX, NGSI_LD_CORE_URL]}
    r = await api.call("POST", E, data=orjson.dumps(body), headers={"Content-Type": LD})
    assert r.status == 503
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/LdContextNotAvailable"
    assert UNKNOWN_CTX in r.json()["detail"]
    r = await api.get(E, params={"type": "EvacuationSite"},
                      headers={"Link": f"<{UNKNOWN_CTX}>; {CTX_REL}"})
    assert r.status == 503


async def test_core_context_client_gets_full_iris_for_renkei_terms(api: ApiClient,
                                                                   renkei: ApiClient) -> None:
    assert (await renkei.post(E, site(1, 250))).status == 201
    r = await api.get(f"{E}/{site(1)['id']}", headers={
        "Link": f"<{NGSI_LD_CORE_URL}>; {CTX_REL}", "Accept": LD})
    entity = r.json()
    assert entity["@context"] == NGSI_LD_CORE_URL
    assert entity["type"] == "https://w3id.org/renkei/v1#EvacuationSite"
    assert entity["https://schema.org/maximumAttendeeCapacity"]["value"] == 250
    assert "location" in entity  # a core term keeps its short name
    # The same client queries with the full IRI of the type, and q on the full IRI.
    q = await api.get(E, params={"type": "https://w3id.org/renkei/v1#EvacuationSite",
                                 "q": "https://schema.org/maximumAttendeeCapacity>200"},
                      headers={"Link": f"<{NGSI_LD_CORE_URL}>; {CTX_REL}"})
    assert [e["id"] for e in q.json()] == [site(1)["id"]]
    # A core-only client's own terms land in the default vocabulary, apart from Renkei's.
    mine = {"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor",
            "capacity": {"type": "Property", "value": 1}, "@context": NGSI_LD_CORE_URL}
    assert (await api.call("POST", E, data=orjson.dumps(mine),
                           headers={"Content-Type": LD})).status == 201
    renkei_view = (await renkei.get(f"{E}/urn:ngsi-ld:Sensor:1")).json()
    assert "https://uri.etsi.org/ngsi-ld/default-context/capacity" in renkei_view
    core_view = (await api.get(f"{E}/urn:ngsi-ld:Sensor:1", headers={
        "Link": f"<{NGSI_LD_CORE_URL}>; {CTX_REL}"})).json()
    assert core_view["capacity"]["value"] == 1 and core_view["type"] == "Sensor"


async def test_operator_registered_local_copy(federation: LocalFederation, session,
                                              tmp_path: Path) -> None:
    url = "https://city.example.jp/contexts/shelter.jsonld"
    copy = tmp_path / "shelter.jsonld"
    copy.write_text(orjson.dumps({"@context": {
        "Shelter": "https://w3id.org/renkei/v1#EvacuationSite",
        "headcount": "https://schema.org/maximumAttendeeCapacity"}}).decode())
    node = await federation.add_node(NodeSpec(
        "jp-372013", "city", "高松市", "Takamatsu City",
        extra_toml=f'\n[contexts]\n"{url}" = "{copy}"\n'))
    await federation.publish()
    api = ApiClient(node, session, await client_token(node, session))
    body = {"id": "urn:ngsi-ld:EvacuationSite:jp-372013:1", "type": "Shelter",
            "headcount": {"type": "Property", "value": 80}, "@context": [url, NGSI_LD_CORE_URL]}
    r = await api.call("POST", E, data=orjson.dumps(body), headers={"Content-Type": LD})
    assert r.status == 201, r.body
    stored = (await api.speaking(RENKEI_LINK).get(f"{E}/{body['id']}")).json()
    assert stored["type"] == "EvacuationSite" and stored["capacity"]["value"] == 80
    mine = (await api.get(f"{E}/{body['id']}", headers={"Link": f"<{url}>; {CTX_REL}"})).json()
    assert mine["type"] == "Shelter" and mine["headcount"]["value"] == 80


async def test_trailing_slashes(api: ApiClient) -> None:
    assert (await api.post(E + "/", site(1))).status == 201
    assert (await api.get(E + "/", params={"type": "EvacuationSite"})).json()[0]["id"] == \
        site(1)["id"]
    assert (await api.get(f"{E}/{site(1)['id']}/")).status == 200
    assert (await api.get("/ngsi-ld/v1/types/")).status == 200


async def test_geojson(api: ApiClient) -> None:
    await api.post(E, site(1))
    r = await api.get(E, params={"type": "EvacuationSite"},
                      headers={"Accept": "application/geo+json"})
    assert r.headers["Content-Type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["features"][0]["geometry"]["type"] == "Point"
    assert fc["features"][0]["properties"]["type"] == "EvacuationSite"
    one = await api.get(f"{E}/{site(1)['id']}", headers={"Accept": "application/geo+json"})
    assert one.json()["type"] == "Feature" and one.json()["id"] == site(1)["id"]
