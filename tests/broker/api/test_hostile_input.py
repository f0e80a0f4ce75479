"""Small, malformed or hostile requests get a 4xx quickly, never a 500 or a stalled node."""

from __future__ import annotations

import asyncio
from typing import Any

from .conftest import ApiClient, Receiver

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
B = "/ngsi-ld/v1/entityOperations"
EVIL = "^urn:ngsi-ld:(.|.)*Z"  # exponential for a backtracking matcher on a long id


def long_id(i: int, tail: str = "") -> str:
    return f"urn:ngsi-ld:EvacuationSite:{'a' * 400}{i}{tail}"


async def _create(api: ApiClient, entity_id: str) -> None:
    r = await api.post(E, {"id": entity_id, "type": "EvacuationSite",
                           "capacity": {"type": "Property", "value": 1}})
    assert r.status == 201, r.body


async def test_a_catastrophic_id_pattern_answers_and_the_node_stays_responsive(
        api: ApiClient) -> None:
    for i in range(3):
        await _create(api, long_id(i))
    await _create(api, long_id(9, "Z"))
    query = asyncio.ensure_future(api.get(E, params={"idPattern": EVIL, "local": "true"}))
    health = await api.get("/health")
    assert health.status == 200
    reply = await query
    assert reply.status == 200, reply.body
    assert [e["id"] for e in reply.json()] == [long_id(9, "Z")]


async def test_patterns_too_long_or_not_re2_are_bad_request_data(api: ApiClient,
                                                                receiver: Receiver) -> None:
    for params in ({"idPattern": "a" * 257, "local": "true"},
                   {"idPattern": "(?=lookahead)", "local": "true"},
                   {"idPattern": "(", "local": "true"},
                   {"type": "EvacuationSite", "q": 'name~="(?=x)"'},
                   {"type": "EvacuationSite", "q": "name~=" + "a" * 300}):
        r = await api.get(E, params=params)
        assert r.status == 400, (params, r.body)
        assert r.json()["type"].endswith("/BadRequestData")
    for pattern in ("a" * 257, "(?=x)", 42):
        r = await api.post(S, {"type": "Subscription", "entities": [
            {"type": "EvacuationSite", "idPattern": pattern}],
            "notification": {"endpoint": {"uri": receiver.url}}})
        assert r.status == 400, (pattern, r.body)
    r = await api.post("/ngsi-ld/v1/entityOperations/query", {
        "type": "Query", "entities": [{"type": "EvacuationSite", "idPattern": 42}]})
    assert r.status == 400, r.body


async def test_a_catastrophic_subscription_id_pattern_is_matched_in_linear_time(
        api: ApiClient, receiver: Receiver) -> None:
    sub: dict[str, Any] = {"type": "Subscription", "entities": [
        {"type": "EvacuationSite", "idPattern": EVIL + "$"}],
        "notification": {"endpoint": {"uri": receiver.url}}}
    assert (await api.post(S, sub)).status == 201
    await _create(api, long_id(1))  # no match: the notifier searches the whole id
    await _create(api, long_id(2, "Z"))
    _headers, note = await receiver.next()
    assert [e["id"] for e in note["data"]] == [long_id(2, "Z")]
    assert (await api.get("/health")).status == 200


# -- @context ---------------------------------------------------------------------------------

LD = "application/ld+json"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"


def vocab_context(n: int, iri_length: int = 0) -> dict[str, str]:
    pad = "x" * iri_length
    return {f"term{i}": f"https://example.org/vocab{pad}#term{i}" for i in range(n)}


async def test_a_moderate_inline_context_translates_every_term(api: ApiClient) -> None:
    context = [vocab_context(1500), CORE]
    entity = {"@context": context, "id": "urn:ngsi-ld:Thing:inline", "type": "term7",
              "term1234": {"type": "Property", "value": 1}, "term3": 2}
    r = await api.post(E, entity, headers={"Content-Type": LD})
    assert r.status == 201, r.body
    plain = (await api.get(f"{E}/urn:ngsi-ld:Thing:inline")).json()  # no context: full IRIs
    assert plain["type"] == "https://example.org/vocab#term7"
    assert plain["https://example.org/vocab#term1234"]["value"] == 1
    assert plain["https://example.org/vocab#term3"]["value"] == 2
    r = await api.post("/ngsi-ld/v1/entityOperations/query", {
        "@context": context, "type": "Query", "entities": [{"type": "term7"}],
        "q": "term1234==1"}, headers={"Content-Type": LD, "Accept": LD})
    assert r.status == 200, r.body
    (back,) = r.json()
    assert back["type"] == "term7" and back["term1234"]["value"] == 1 and "term3" in back


async def test_an_oversized_inline_context_is_refused_naming_the_limit(api: ApiClient) -> None:
    for context, limit in (([vocab_context(2001), CORE], "2000"),
                           ([vocab_context(100, iri_length=1500), CORE], "131072 bytes")):
        r = await api.post(E, {"@context": context, "id": "urn:ngsi-ld:Thing:big",
                               "type": "term1"}, headers={"Content-Type": LD})
        assert r.status == 400, r.body
        assert r.json()["type"].endswith("/BadRequestData") and limit in r.json()["detail"]


async def test_unresolvable_contexts_are_4xx_or_503(api: ApiClient) -> None:
    entity = {"id": "urn:ngsi-ld:Thing:ctx", "type": "Thing"}
    for context, status in (([{"@base": "http://x/"}, "rel.jsonld"], 400),
                            ("rel.jsonld", 400),
                            ({"@import": "rel.jsonld"}, 400),
                            ([{"T": {"@id": "http://ex/T", "@context": "rel"}}], 400),
                            ({"@vocab": 5}, 400),
                            ([[["nested"]]], 400),
                            (42, 400),
                            ("https://unknown.example/context.jsonld", 503)):
        r = await api.post(E, {"@context": context, **entity}, headers={"Content-Type": LD})
        assert r.status == status, (context, r.body)
        assert r.json()["type"].endswith(
            "/BadRequestData" if status == 400 else "/LdContextNotAvailable"), r.body


# -- small malformed requests that used to be 500s ------------------------------------------

QUERY = "/ngsi-ld/v1/entityOperations/query"


async def _all_400(api: ApiClient, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
    for method, path, kw in calls:
        r = await api.call(method, path, **kw)
        assert r.status == 400, (method, path, kw, r.body[:300])
        assert r.json()["type"].endswith("/BadRequestData"), r.body


async def test_geo_queries_need_numeric_wgs84_positions(api: ApiClient,
                                                        receiver: Receiver) -> None:
    near = {"georel": "near;maxDistance==10", "geometry": "Point"}
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for coordinates in ([[1, 2]], [1], ["a", 2], [True, False], [200, 2], [1, 2, 3, 4]):
        calls.append(("GET", E, {"params": {"type": "T", **near,
                                            "coordinates": str(coordinates).lower()}}))
        calls.append(("POST", QUERY, {"json": {"type": "Query", "entities": [{"type": "T"}],
                                               "geoQ": {**near, "coordinates": coordinates}}}))
        calls.append(("POST", S, {"json": {
            "type": "Subscription", "entities": [{"type": "T"}],
            "geoQ": {**near, "coordinates": coordinates},
            "notification": {"endpoint": {"uri": receiver.url}}}}))
    calls.append(("GET", E, {"params": {"type": "T", "georel": "within", "geometry": "Polygon",
                                        "coordinates": '[[[0,0],[1,1],["x",0],[0,0]]]'}}))
    calls.append(("GET", E, {"params": {"type": "T", "q": "(" * 40 + "a==1" + ")" * 40}}))
    await _all_400(api, calls)


async def test_offsets_and_limits_beyond_any_meaning(api: ApiClient) -> None:
    await _all_400(api, [("GET", E, {"params": {"type": "T", "offset": "9" * 23}}),
                         ("GET", E, {"params": {"type": "T", "offset": str(2**31)}}),
                         ("GET", S, {"params": {"offset": "9" * 23}}),
                         ("POST", QUERY + "?offset=" + "9" * 23, {"json": {
                             "type": "Query", "entities": [{"type": "T"}]}})])


async def test_query_bodies_with_wrong_json_types(api: ApiClient) -> None:
    bodies: list[dict[str, Any]] = [
        {"entities": [{"type": 1}]}, {"entities": [{"type": ["T"]}]}, {"entities": ["T"]},
        {"entities": [{"type": "T", "id": 7}]}, {"entities": [{"type": "T"}], "q": 1},
        {"entities": [{"type": "T"}], "q": ["a==1"]}, {"entities": [{"type": "T"}], "geoQ": "x"},
        {"entities": [{"type": "T"}], "geoQ": [1]}, {"entities": [{"type": "T"}], "attrs": 1},
        {"entities": [{"type": "T"}], "attrs": [1]},
        {"entities": [{"type": "T"}], "geoQ": {"georel": "near;maxDistance==1",
                                              "geometry": "Point", "coordinates": [1, 2],
                                              "geoproperty": ["location"]}},
        {"entities": [{"type": "T"}], "attrs": [f"a{i}" for i in range(1001)]},
        {"entities": [{"type": "T"} for _ in range(1001)]}]
    await _all_400(api, [("POST", QUERY, {"json": {"type": "Query", **b}}) for b in bodies])


async def test_attributes_with_wrong_json_types(api: ApiClient) -> None:
    bad: list[Any] = [
        {"type": {}}, {"type": []}, [{"type": ["Property"], "value": 1}],
        {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": [["a", "b"]]}},
        {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": [[1, 2]]}},
        {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [500, 1]}},
        {"type": "GeoProperty", "value": {"type": "MultiPoint", "coordinates": [[1e308, 1]]}},
        {"type": "GeoProperty", "value": {"type": "GeometryCollection", "geometries": [1]}},
        {"type": "GeoProperty", "value": {"type": ["Point"], "coordinates": [1, 2]}},
        {"value": {"type": "Point", "coordinates": "x"}}]
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for i, value in enumerate(bad):
        entity = {"id": f"urn:ngsi-ld:T:bad{i}", "type": "T", "attr": value}
        calls.append(("POST", E, {"json": entity}))
        calls.append(("POST", E, {"json": {**entity, "attr": 1, "location": value}}))
    await _all_400(api, calls)
    r = await api.post(f"{B}/upsert", [{"id": "urn:ngsi-ld:T:b", "type": "T",
                                        "attr": {"type": {}}}])
    assert r.status == 207 and r.json()["errors"][0]["error"]["status"] == 400


async def test_stored_values_no_geometry_library_can_read_match_nothing(
        api: ApiClient) -> None:
    for i, value in enumerate((
            {"type": "GeoProperty", "value": {"type": "GeometryCollection", "geometries": []}},
            {"type": "Property", "value": {"type": "x"}},
            {"type": "Property", "value": {"type": ["Point"], "coordinates": [1, 2]}})):
        r = await api.post(E, {"id": f"urn:ngsi-ld:T:odd{i}", "type": "T", "spot": value})
        assert r.status == 201, r.body
    for georel in ("near;maxDistance==100000", "near;minDistance==1"):
        r = await api.get(E, params={"type": "T", "georel": georel, "geometry": "Point",
                                     "coordinates": "[1,2]", "geoproperty": "spot"})
        assert r.status == 200 and r.json() == [], r.body
    r = await api.get(E, params={"type": "T", "geoproperty": "spot"},
                      headers={"Accept": "application/geo+json"})
    assert r.status == 200
    assert [f["geometry"] for f in r.json()["features"]] == [
        {"type": "GeometryCollection", "geometries": []}, None, None]


async def test_list_parameters_are_capped(api: ApiClient) -> None:
    names = ",".join(f"a{i}" for i in range(1001))  # fits a URL; a thousand is the cap
    await _all_400(api, [("GET", E, {"params": {"type": "T", "attrs": names}}),
                         ("GET", E, {"params": {"type": "T", "pick": names}}),
                         ("GET", f"{E}/urn:ngsi-ld:T:x", {"params": {"omit": names}})])
