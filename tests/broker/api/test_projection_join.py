"""ETSI GS CIM 009 v1.8.1 projections (4.21 pick/omit, 5.7.1 attrs), linked entity retrieval
(4.5.23 join/joinLevel/containedBy) and refused URI parameters (6.3.20), through the API.

Expected bodies are written from the clauses (and the ETSI suite's expectation files), not
from what the code answers."""

from __future__ import annotations

from typing import Any

from .conftest import ApiClient

E = "/ngsi-ld/v1/entities"
Q = "/ngsi-ld/v1/entityOperations/query"
NGSI = "https://uri.etsi.org/ngsi-ld/errors/"


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


BUILDING = {"id": "urn:ngsi-ld:Building:b1", "type": "Building",
            "name": {"type": "Property", "value": "Eiffel Tower"},
            "height": {"type": "Property", "value": 330},
            "locatedAt": rel("urn:ngsi-ld:City:paris")}
CITY = {"id": "urn:ngsi-ld:City:paris", "type": "City",
        "name": {"type": "Property", "value": "Paris"},
        "isInCountry": rel("urn:ngsi-ld:Country:fr")}
COUNTRY = {"id": "urn:ngsi-ld:Country:fr", "type": "Country",
           "description": {"type": "Property", "value": "A European country"}}


async def seed(api: ApiClient, *entities: dict[str, Any]) -> None:
    for entity in entities:
        assert (await api.post(E, entity)).status == 201


def problem(reply: Any, status: int, kind: str) -> None:
    assert reply.status == status, reply.body
    assert reply.json()["type"] == NGSI + kind, reply.body


async def test_pick_and_omit_select_entity_members(api: ApiClient) -> None:
    await seed(api, BUILDING, COUNTRY)
    one = f"{E}/{BUILDING['id']}"
    assert (await api.get(one, params={"pick": "name"})).json() == {"name": BUILDING["name"]}
    assert (await api.get(one, params={"pick": "id"})).json() == {"id": BUILDING["id"]}
    assert (await api.get(one, params={"omit": "type,name,locatedAt"})).json() == {
        "id": BUILDING["id"], "height": BUILDING["height"]}
    # attrs keeps the core members beside the attributes it lists.
    assert (await api.get(one, params={"attrs": "height"})).json() == {
        "id": BUILDING["id"], "type": "Building", "height": BUILDING["height"]}
    # In a query, an entity the projection leaves empty is not part of the answer.
    page = await api.get(E, params={"type": "Building,Country", "pick": "name"})
    assert page.json() == [{"name": BUILDING["name"]}]


async def test_a_projection_leaving_nothing_is_not_found(api: ApiClient) -> None:
    await seed(api, BUILDING)
    one = f"{E}/{BUILDING['id']}"
    problem(await api.get(one, params={"pick": "unknown"}), 404, "ResourceNotFound")
    problem(await api.get(one, params={"omit": "id,type,name,height,locatedAt"}), 404,
            "ResourceNotFound")
    # 5.7.1.4: none of the attributes asked for.
    problem(await api.get(one, params={"attrs": "unknown"}), 404, "ResourceNotFound")


async def test_malformed_or_conflicting_projections_are_bad_request_data(
        api: ApiClient) -> None:
    await seed(api, BUILDING)
    one = f"{E}/{BUILDING['id']}"
    for params in ({"pick": "id;name"}, {"pick": "id,locatedAt{name"},
                   {"pick": "id,locatedAt{{name}"}, {"pick": "id,,name"},
                   {"pick": "id,locatedAt{,name}"}, {"pick": "id,locatedAt{}"},
                   {"pick": "name", "omit": "name"}, {"pick": "name", "attrs": "height"},
                   {"omit": "name", "attrs": "height"}):
        problem(await api.get(one, params=params), 400, "BadRequestData")
        problem(await api.get(E, params={"type": "Building", **params}), 400,
                "BadRequestData")
    # attrs names attributes: id and type are not (pick selects those).
    problem(await api.get(E, params={"attrs": "id,type"}), 400, "BadRequestData")


async def test_join_inline_and_flat_in_both_representations(api: ApiClient) -> None:
    await seed(api, BUILDING, CITY)
    one = f"{E}/{BUILDING['id']}"
    city = {"id": CITY["id"], "type": "City", "name": CITY["name"],
            "isInCountry": CITY["isInCountry"]}
    inline = (await api.get(one, params={"join": "inline"})).json()
    assert inline["locatedAt"] == {**rel(CITY["id"]), "entity": city}
    simple = (await api.get(one, params={"join": "inline", "options": "keyValues"})).json()
    assert simple["locatedAt"] == {"id": CITY["id"], "type": "City", "name": "Paris",
                                   "isInCountry": "urn:ngsi-ld:Country:fr"}
    flat = (await api.get(one, params={"join": "flat"})).json()
    assert flat == [BUILDING, city]
    page = (await api.get(E, params={"type": "Building", "join": "flat"})).json()
    assert page == [BUILDING, city]
    # A link to an entity that does not exist stays as it is; flat then answers the entity.
    assert (await api.get(f"{E}/{CITY['id']}", params={"join": "flat"})).json() == CITY


async def test_join_level_and_nested_pick_follow_two_hops(api: ApiClient) -> None:
    await seed(api, BUILDING, CITY, COUNTRY)
    one = f"{E}/{BUILDING['id']}"
    reply = await api.get(one, params={
        "join": "inline", "joinLevel": "2",
        "pick": "id,locatedAt{id,name,isInCountry{id,description}}"})
    assert reply.json() == {"id": BUILDING["id"], "locatedAt": {
        **rel(CITY["id"]), "entity": {
            "id": CITY["id"], "name": CITY["name"], "isInCountry": {
                **rel(COUNTRY["id"]), "entity": {
                    "id": COUNTRY["id"], "description": COUNTRY["description"]}}}}}
    # joinLevel 1 stops at the city; containedBy names entities the caller already has.
    level1 = (await api.get(one, params={"join": "flat"})).json()
    assert [e["id"] for e in level1] == [BUILDING["id"], CITY["id"]]
    known = (await api.get(one, params={"join": "flat", "joinLevel": "2",
                                        "containedBy": CITY["id"]})).json()
    assert known == BUILDING
    for bad in ({"join": "sideways"}, {"join": "flat", "joinLevel": "0"},
                {"join": "flat", "joinLevel": "x"}):
        problem(await api.get(one, params=bad), 400, "BadRequestData")


async def test_post_query_takes_join_and_answers_geojson(api: ApiClient) -> None:
    located = {**BUILDING, "location": {"type": "GeoProperty", "value": {
        "type": "Point", "coordinates": [2.29, 48.86]}}}
    await seed(api, located, CITY)
    reply = await api.post(Q, {"type": "Query", "entities": [{"type": "Building"}],
                               "join": "inline"})
    assert reply.status == 200 and reply.json()[0]["locatedAt"]["entity"]["id"] == CITY["id"]
    geo = await api.post(Q, {"type": "Query", "entities": [{"type": "Building"}]},
                         headers={"Accept": "application/geo+json"})
    assert geo.status == 200 and geo.headers["Content-Type"].startswith("application/geo+json")
    body = geo.json()
    assert body["type"] == "FeatureCollection"
    assert body["features"][0]["geometry"] == {"type": "Point", "coordinates": [2.29, 48.86]}


async def test_an_undefined_uri_parameter_is_an_invalid_request(api: ApiClient) -> None:
    # 6.3.20: never silently ignored (a misspelt filter would widen the answer).
    await seed(api, BUILDING)
    problem(await api.get(E, params={"type": "Building", "tpye": "x"}), 400, "InvalidRequest")
    problem(await api.post(E, {**BUILDING, "id": "urn:ngsi-ld:Building:b2"},
                           params={"invalidParams": "v"}), 400, "InvalidRequest")
    problem(await api.get("/ngsi-ld/v1/types", params={"invalidParams": "v"}), 400,
            "InvalidRequest")
    problem(await api.get("/ngsi-ld/v1/subscriptions", params={"invalidParams": "v"}), 400,
            "InvalidRequest")
    assert (await api.get(f"{E}/urn:ngsi-ld:Building:b2")).status == 404  # nothing created


async def test_dataset_id_order_by_and_geometry_property(api: ApiClient) -> None:
    names = [{"type": "Property", "value": "Eiffel Tower"},
             {"type": "Property", "value": "Tour Eiffel", "datasetId": "urn:ngsi-ld:Dataset:fr"}]
    await seed(api, {**BUILDING, "name": names},
               {"id": "urn:ngsi-ld:Building:b0", "type": "Building",
                "name": {"type": "Property", "value": "Pisa Tower"}})
    # 4.5.5: only the instances of the datasetIds asked for (@none: the default instance).
    page = await api.get(E, params={"type": "Building", "datasetId": "urn:ngsi-ld:Dataset:fr"})
    by_id = {e["id"]: e for e in page.json()}
    assert by_id[BUILDING["id"]]["name"] == names[1]
    assert "name" not in by_id["urn:ngsi-ld:Building:b0"]  # the entity stays
    one = await api.get(f"{E}/{BUILDING['id']}", params={"datasetId": "@none"})
    assert one.json()["name"] == names[0]
    # 4.23: orderBy on an attribute, descending; ids break no tie here.
    ordered = await api.get(E, params={"type": "Building", "orderBy": "name;desc"})
    assert [e["id"] for e in ordered.json()] == ["urn:ngsi-ld:Building:b0", BUILDING["id"]]
    ordered = await api.get(E, params={"type": "Building", "orderBy": "id"})
    assert [e["id"] for e in ordered.json()] == ["urn:ngsi-ld:Building:b0", BUILDING["id"]]
    problem(await api.get(E, params={"type": "Building", "orderBy": "name;up"}), 400,
            "BadRequestData")
    located = {**CITY, "centre": {"type": "GeoProperty", "value": {
        "type": "Point", "coordinates": [2.35, 48.85]}}}
    await seed(api, located)
    feature = await api.get(f"{E}/{CITY['id']}", params={"geometryProperty": "centre"},
                            headers={"Accept": "application/geo+json"})
    assert feature.json()["geometry"] == {"type": "Point", "coordinates": [2.35, 48.85]}
