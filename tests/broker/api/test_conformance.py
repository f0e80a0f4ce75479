"""What an external NGSI-LD conformance suite checks (ETSI GS CIM 009 v1.8): status codes,
Location, ProblemDetails, representations, media types, q, geo-queries, idPattern,
pagination and subscription CRUD, all without @context (the core context applies)."""

from __future__ import annotations

from typing import Any

import orjson

from .conftest import JSON, LD, ApiClient

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
NGSI = "https://uri.etsi.org/ngsi-ld/errors/"


def t_entity(suffix: str = "I123k467", **extra: Any) -> dict[str, Any]:
    """The shape of entity the public NGSI-LD test suites use."""
    return {"id": f"urn:ngsi-ld:T:{suffix}", "type": "T_Query",
            "P1": {"type": "Property", "value": 12, "observedAt": "2018-12-04T12:00:00Z",
                   "P1_R1": {"type": "Relationship", "object": "urn:ngsi-ld:T2:6789"},
                   "P1_P1": {"type": "Property", "value": 0.79}},
            "R1": {"type": "Relationship", "object": "urn:ngsi-ld:T2:6789",
                   "R1_R1": {"type": "Relationship", "object": "urn:ngsi-ld:T3:A2345"},
                   "R1_P1": {"type": "Property", "value": False}},
            "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                          "coordinates": [-8.01, 40.01]}},
            **extra}


def city(name: str, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:City:{name}", "type": "T_City",
            "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                          "coordinates": [lon, lat]}},
            **extra}


def ids(reply: Any) -> list[str]:
    return [e["id"].rsplit(":", 1)[-1] for e in reply.json()]


def assert_problem(reply: Any, status: int, kind: str) -> None:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"].startswith(JSON)
    body = reply.json()
    assert body["type"] == NGSI + kind
    assert body["title"] and body["detail"]


async def test_create_conflict_and_errors(api: ApiClient) -> None:
    r = await api.post(E, t_entity())
    assert r.status == 201 and r.body == b""
    assert r.headers["Location"] == f"{E}/urn:ngsi-ld:T:I123k467"
    assert_problem(await api.post(E, t_entity()), 409, "AlreadyExists")
    # An id that is not one path segment is escaped, and the Location still leads to it.
    r = await api.post(E, {"id": "http://a.example/entity/E3", "type": "T"})
    assert r.headers["Location"] == f"{E}/http:%2F%2Fa.example%2Fentity%2FE3"
    assert (await api.get(r.headers["Location"])).json()["id"] == "http://a.example/entity/E3"
    assert_problem(await api.post(E, {"id": "abcdef", "type": "T"}), 400, "BadRequestData")
    assert_problem(await api.post(E, {"id": "urn:ngsi-ld:T4:9000", "type": "T",
                                      "P1": {"type": "abcdef", "value": 34}}),
                   400, "BadRequestData")
    # JSON, but not an object: the request itself is wrong (suite 001_02_02).
    assert_problem(await api.post(E, [t_entity("other")]), 400, "InvalidRequest")
    assert_problem(await api.call("POST", E, data=b'{"id": ', headers={"Content-Type": JSON}),
                   400, "InvalidRequest")
    r = await api.call("POST", E, data=orjson.dumps(t_entity("x")),
                       headers={"Content-Type": "image/gif"})
    assert r.status == 415
    assert_problem(await api.get(f"{E}/abcdef"), 400, "BadRequestData")
    assert_problem(await api.get(f"{E}/urn:ngsi-ld:xxxxxxx"), 404, "ResourceNotFound")
    assert_problem(await api.call("DELETE", f"{E}/urn:ngsi-ld:xxxxxxx"), 404,
                   "ResourceNotFound")
    # Replace or merge without an entity id lacks its target (suite 054_02_02, 056_02_02).
    assert_problem(await api.call("PUT", E, json={"type": "T"}), 400, "BadRequestData")
    assert_problem(await api.call("PATCH", E, json={"type": "T"}), 400, "BadRequestData")
    r = await api.call("DELETE", "/ngsi-ld/v1/types")
    assert r.status == 405 and set(r.headers["Allow"].split(",")) == {"GET"}


async def test_updates_and_deletes_answer_204(api: ApiClient) -> None:
    eid = t_entity()["id"]
    await api.post(E, t_entity())
    assert (await api.post(f"{E}/{eid}/attrs", {"P2": 1})).status == 204
    assert (await api.call("PATCH", f"{E}/{eid}/attrs", json={"P2": 2})).status == 204
    assert (await api.call("PATCH", f"{E}/{eid}/attrs/P2", json={"value": 3})).status == 204
    assert (await api.call("PUT", f"{E}/{eid}/attrs/P2",
                           json={"type": "Property", "value": 4})).status == 204
    assert (await api.call("PATCH", f"{E}/{eid}", json={"P3": 5})).status == 204
    got = (await api.get(f"{E}/{eid}", params={"options": "keyValues"})).json()
    assert (got["P2"], got["P3"]) == (4, 5)
    assert (await api.call("DELETE", f"{E}/{eid}/attrs/P2")).status == 204
    assert_problem(await api.call("DELETE", f"{E}/{eid}/attrs/P2"), 404, "ResourceNotFound")
    assert (await api.call("PUT", f"{E}/{eid}", json={"type": "T_Query", "P9": 9})
            ).status == 204
    assert set((await api.get(f"{E}/{eid}")).json()) == {"id", "type", "P9"}
    assert (await api.call("DELETE", f"{E}/{eid}")).status == 204
    assert (await api.get(f"{E}/{eid}")).status == 404


async def test_retrieve_representations(api: ApiClient) -> None:
    entity = t_entity()
    await api.post(E, entity)
    path = f"{E}/{entity['id']}"
    assert (await api.get(path)).json() == entity
    key_values = {"id": entity["id"], "type": "T_Query", "P1": 12, "R1": "urn:ngsi-ld:T2:6789",
                  "location": entity["location"]["value"]}
    assert (await api.get(path, params={"options": "keyValues"})).json() == key_values
    assert (await api.get(path, params={"format": "simplified"})).json() == key_values
    assert (await api.get(path, params={"attrs": "P1"})).json() == {
        "id": entity["id"], "type": "T_Query", "P1": entity["P1"]}
    # 5.7.1.4: an entity holding none of the attributes asked for is not found.
    assert_problem(await api.get(path, params={"attrs": "notFoundAttr"}), 404,
                   "ResourceNotFound")
    assert (await api.get(path, params={"type": "T_Query"})).status == 200
    assert (await api.get(path, params={"type": "Other"})).status == 404
    concise = (await api.get(path, params={"format": "concise"})).json()
    assert concise["P1"]["value"] == 12 and concise["R1"]["object"] == "urn:ngsi-ld:T2:6789"
    # 6.3.20 (suite 018_16): an options or format value the operation does not define.
    assert_problem(await api.get(path, params={"options": "nonsense"}), 400, "InvalidRequest")
    assert_problem(await api.get(path, params={"format": "nonsense"}), 400, "InvalidRequest")


async def test_media_types(api: ApiClient) -> None:
    await api.post(E, t_entity())
    path = f"{E}/{t_entity()['id']}"
    for accept in (None, "*/*", "application/*", JSON):
        r = await api.get(path, headers={"Accept": accept} if accept else None)
        assert r.headers["Content-Type"].startswith(JSON), accept
        assert 'rel="http://www.w3.org/ns/json-ld#context"' in r.headers["Link"]
        assert "@context" not in r.json()
    r = await api.get(path, headers={"Accept": LD})
    assert r.headers["Content-Type"].startswith(LD) and "Link" not in r.headers
    assert "@context" in r.json()
    assert (await api.get(path, headers={"Accept": "text/plain"})).status == 406
    assert (await api.get(E, params={"type": "T_Query"},
                          headers={"Accept": "text/plain"})).status == 406


async def test_q_with_compound_paths(api: ApiClient) -> None:
    await api.post(E, t_entity(address={"type": "Property", "value": {
        "streetAddress": "Kawaramachi 1", "addressLocality": "Nanao"}}))
    await api.post(E, t_entity("other", P1={"type": "Property", "value": 1}))

    async def q(text: str) -> list[str]:
        r = await api.get(E, params={"type": "T_Query", "q": text})
        assert r.status == 200, r.body
        return ids(r)

    assert await q("P1>5") == ["I123k467"]
    assert await q('R1=="urn:ngsi-ld:T2:6789"') == ["I123k467", "other"]
    assert await q("P1.observedAt>2018-12-03") == ["I123k467"]
    assert await q("P1.P1_P1 > 0.70") == ["I123k467"]
    assert await q('address[addressLocality]=="Nanao"') == ["I123k467"]
    assert await q('address[addressLocality]=="Kanazawa"') == []
    assert await q("P1==1..5") == ["other"]
    assert await q("P1==1,12") == ["I123k467", "other"]
    assert await q("P1>100|P1.P1_P1>0.5") == ["I123k467"]
    assert await q("!address") == ["other"]
    for bad in ("a>>>4;c<<<5", "P1>", "(P1>1", 'P1=="open'):
        assert_problem(await api.get(E, params={"type": "T_Query", "q": bad}), 400,
                       "BadRequestData")


async def test_geo_queries(api: ApiClient) -> None:
    await api.post(E, city("Madrid", -3.691944, 40.418889, P_GEO={
        "type": "GeoProperty", "value": {"type": "Point", "coordinates": [10.0, 10.0]}}))
    await api.post(E, city("Leganes", -3.75, 40.316667))
    await api.post(E, city("Alcobendas", -3.633333, 40.533333))

    async def geo(georel: str, geometry: str, coordinates: str, **extra: str) -> list[str]:
        r = await api.get(E, params={"type": "T_City", "georel": georel, "geometry": geometry,
                                     "coordinates": coordinates, **extra})
        assert r.status == 200, r.body
        return ids(r)

    madrid = "[-3.691944, 40.418889]"
    assert await geo("near;maxDistance==15", "Point", madrid) == ["Madrid"]
    assert await geo("near;maxDistance==15000", "Point", madrid) == [
        "Alcobendas", "Leganes", "Madrid"]
    assert await geo("near;minDistance==1000", "Point", madrid) == ["Alcobendas", "Leganes"]
    triangle = "[[[-3.65,40.316667],[-3.85,40.416667],[-3.85,40.216667],[-3.65,40.316667]]]"
    assert await geo("within", "Polygon", triangle) == ["Leganes"]
    assert await geo("intersects", "Polygon", triangle) == ["Leganes"]
    # Another GeoProperty than location: the query looks at that one.
    assert await geo("near;maxDistance==1000", "Point", "[10, 10]",
                     geoproperty="P_GEO") == ["Madrid"]
    assert await geo("intersects", "Point", "[10, 10]", geoproperty="P_GEO") == ["Madrid"]
    assert await geo("near;maxDistance==1000", "Point", "[10, 10]") == []
    for georel, geometry, coordinates in (("invalid", "Point", "[-5,10]"),
                                          ("near;maxDistance==1000", "xxxxx", "[-5,10]"),
                                          ("near;maxDistance==1000", "Point", "[-5]")):
        r = await api.get(E, params={"type": "T_City", "georel": georel, "geometry": geometry,
                                     "coordinates": coordinates})
        assert_problem(r, 400, "BadRequestData")


async def test_id_pattern_is_a_regular_expression_searched_in_the_id(api: ApiClient) -> None:
    await api.post(E, t_entity())
    await api.post(E, t_entity("I999"))

    def by_pattern(pattern: str) -> dict[str, str]:
        return {"type": "T_Query", "idPattern": pattern}

    assert ids(await api.get(E, params=by_pattern(".*:I123k467"))) == ["I123k467"]
    assert ids(await api.get(E, params=by_pattern("I1"))) == ["I123k467"]
    assert ids(await api.get(E, params=by_pattern("^urn:ngsi-ld:T:I"))) == ["I123k467", "I999"]
    assert ids(await api.get(E, params=by_pattern("^I1"))) == []
    assert_problem(await api.get(E, params=by_pattern("(")), 400, "BadRequestData")
    # 5.7.2.4: ids or an id pattern alone are no query (suite 019_03_05).
    assert_problem(await api.get(E, params={"idPattern": "I1"}), 400, "BadRequestData")
    assert_problem(await api.get(E, params={"id": "urn:ngsi-ld:T:I999"}), 400, "BadRequestData")


async def test_count_and_pagination_links(api: ApiClient) -> None:
    for i in range(5):
        await api.post(E, {"id": f"urn:ngsi-ld:T:{i}", "type": "T"})
    first = await api.get(E, params={"type": "T", "limit": "2", "count": "true"})
    assert first.headers["NGSILD-Results-Count"] == "5"
    assert ids(first) == ["0", "1"]
    links = first.headers.getall("Link")
    nxt = next(link for link in links if 'rel="next"' in link)
    assert not any('rel="prev"' in link for link in links)
    seen = ids(first)
    while nxt:  # follow rel="next" to the end, as a client pages
        page = await api.get(nxt[1:nxt.index(">")])
        seen += ids(page)
        nxt = next((link for link in page.headers.getall("Link") if 'rel="next"' in link), "")
        assert any('rel="prev"' in link for link in page.headers.getall("Link"))
    assert seen == ["0", "1", "2", "3", "4"]
    count_only = await api.get(E, params={"type": "T", "limit": "0", "count": "true"})
    assert count_only.json() == [] and count_only.headers["NGSILD-Results-Count"] == "5"
    assert_problem(await api.get(E, params={"type": "T", "limit": "0"}), 400, "BadRequestData")
    assert_problem(await api.get(E), 400, "BadRequestData")  # no type, id, q, attrs...


async def test_subscription_crud(api: ApiClient) -> None:
    sub = {"id": "urn:ngsi-ld:Subscription:mySubscription1", "type": "Subscription",
           "entities": [{"type": "Vehicle"}], "watchedAttributes": ["speed"],
           "q": 'speed>50;name=="Bus 1"',
           "geoQ": {"georel": "near;maxDistance==2000", "geometry": "Point",
                    "coordinates": [-1, 10]},
           "notification": {"attributes": ["speed"], "format": "keyValues",
                            "endpoint": {"uri": "http://127.0.0.1:9/notify",
                                         "accept": JSON}}}
    r = await api.post(S, sub)
    assert r.status == 201 and r.headers["Location"] == f"{S}/{sub['id']}"
    assert_problem(await api.post(S, sub), 409, "AlreadyExists")
    got = await api.get(r.headers["Location"])
    assert got.status == 200 and got.headers["Content-Type"].startswith(JSON)
    shown = got.json()
    for key in ("id", "type", "entities", "watchedAttributes", "q"):
        assert shown[key] == sub[key], key
    assert shown["notification"]["endpoint"] == sub["notification"]["endpoint"]
    # isActive is shown only when the subscriber set it (the ETSI suite's 028_01); status says.
    assert shown["notification"]["format"] == "keyValues" and shown["status"] == "active"
    assert "isActive" not in shown
    assert (await api.get(S)).json()[0]["id"] == sub["id"]
    assert (await api.call("PATCH", f"{S}/{sub['id']}", json={"q": "speed>70"})).status == 204
    assert (await api.get(f"{S}/{sub['id']}")).json()["q"] == "speed>70"
    assert_problem(await api.get(f"{S}/urn:ngsi-ld:xxxxxxx"), 404, "ResourceNotFound")
    assert_problem(await api.get(f"{S}/notauri"), 400, "BadRequestData")
    assert (await api.call("DELETE", f"{S}/{sub['id']}")).status == 204
    assert_problem(await api.call("DELETE", f"{S}/{sub['id']}"), 404, "ResourceNotFound")


async def test_encoded_parameters_keep_their_meaning_in_links_and_repeats(
        api: ApiClient) -> None:
    """An encoded '&', '#' or ';' inside a value is not a separator, in the next-page link
    either; the same URL asked twice answers the same."""
    for i in range(3):
        await api.post(E, {"id": f"urn:ngsi-ld:T:{i}", "type": "T",
                           "name": {"type": "Property", "value": "a&b#c"}})
    params = {"type": "T", "q": 'name=="a&b#c"', "limit": "2"}
    first = await api.get(E, params=params)
    assert ids(first) == ["0", "1"]
    again = await api.get(E, params=params)
    assert again.json() == first.json()
    nxt = next(link for link in first.headers.getall("Link") if 'rel="next"' in link)
    assert ids(await api.get(nxt[1:nxt.index(">")])) == ["2"]
    other = await api.get(E, params={"type": "T", "q": 'name=="a"', "limit": "2"})
    assert other.json() == []


async def test_empty_batches_and_keyword_types_are_refused(api: ApiClient) -> None:
    # 5.6.7-5.6.10: a batch is a non-empty array of entities (or ids).
    for op in ("create", "upsert", "update", "merge", "delete"):
        assert_problem(await api.post(f"/ngsi-ld/v1/entityOperations/{op}", []), 400,
                       "BadRequestData")
    # The core context maps "type" to @type: it cannot name an entity type.
    assert_problem(await api.post(E, {"id": "urn:ngsi-ld:T:k", "type": "type"}), 400,
                   "BadRequestData")
    assert (await api.get(f"{E}/urn:ngsi-ld:T:k")).status == 404
