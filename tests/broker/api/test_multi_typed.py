"""Entities with several types (NGSI-LD 4.16) through the NGSI-LD API of a running node.

Created with a list of types, an entity is found by any of them and by type expressions over
them, counted under each in /types; update, append and merge add the types a fragment names,
Replace Entity replaces them.
"""

from __future__ import annotations

from .conftest import ApiClient

E = "/ngsi-ld/v1/entities"
OPS = "/ngsi-ld/v1/entityOperations"


def thing(n: int, types: str | list[str]) -> dict[str, object]:
    return {"id": f"urn:ngsi-ld:Thing:{n}", "type": types,
            "name": {"type": "Property", "value": f"thing {n}"}}


async def _ids(api: ApiClient, type_expr: str) -> list[str]:
    r = await api.get(f"{E}?type={type_expr}")
    assert r.status == 200, r.body
    return [e["id"].rsplit(":", 1)[-1] for e in r.json()]


async def test_queries_find_a_multi_typed_entity_by_any_of_its_types(api: ApiClient) -> None:
    for n, types in ((1, "Building"), (2, ["Building", "Vehicle"]), (3, ["Vehicle", "Car"]),
                     (4, ["Car", "Car"])):
        r = await api.post(E, thing(n, types))
        assert r.status == 201, r.body
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:2")).json()["type"] == ["Building",
                                                                          "Vehicle"]
    # A repeated type is one type.
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:4")).json()["type"] == "Car"
    assert await _ids(api, "Vehicle") == ["2", "3"]
    assert await _ids(api, "Building,Vehicle") == ["1", "2", "3"]
    assert await _ids(api, "Building;Vehicle") == ["2"]
    assert await _ids(api, "(Building;Vehicle)|Car") == ["2", "3", "4"]
    assert await _ids(api, "Vehicle;Car") == ["3"]
    r = await api.get(f"{E}?type=Vehicle&count=true&limit=1")
    assert r.headers["NGSILD-Results-Count"] == "2"
    types = (await api.get("/ngsi-ld/v1/types?details=true")).json()
    assert {t["typeName"] for t in types} >= {"Building", "Vehicle", "Car"}
    # Retrieve with a type: any of the entity's types will do.
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:3?type=Car")).status == 200
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:3?type=Building")).status == 404


async def test_partial_writes_add_types_and_replace_replaces_them(api: ApiClient) -> None:
    assert (await api.post(E, thing(1, "Building"))).status == 201
    r = await api.call("PATCH", f"{E}/urn:ngsi-ld:Thing:1/attrs", json={"type": "Vehicle"})
    assert r.status == 204, r.body
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:1")).json()["type"] == ["Building", "Vehicle"]
    r = await api.post(f"{E}/urn:ngsi-ld:Thing:1/attrs", {"type": ["Car", "Building"]})
    assert r.status == 204, r.body
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:1")).json()["type"] == [
        "Building", "Vehicle", "Car"]
    assert await _ids(api, "Car") == ["1"]
    r = await api.call("PUT", f"{E}/urn:ngsi-ld:Thing:1", json={"type": "Boat"})
    assert r.status == 204, r.body
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:1")).json()["type"] == "Boat"
    assert await _ids(api, "Car") == []
    assert await _ids(api, "Building,Vehicle") == []
    r = await api.call("PATCH", f"{E}/urn:ngsi-ld:Thing:1", json={"type": ["Boat", "Ship"]})
    assert r.status == 204, r.body
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:1")).json()["type"] == ["Boat", "Ship"]
    # Batch update and upsert with options=update add too; a plain upsert replaces.
    r = await api.post(f"{OPS}/update", [{"id": "urn:ngsi-ld:Thing:1", "type": "Raft"}])
    assert r.status == 204, r.body
    r = await api.post(f"{OPS}/upsert?options=update",
                       [{"id": "urn:ngsi-ld:Thing:1", "type": "Canoe"}])
    assert r.status == 204, r.body
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:1")).json()["type"] == [
        "Boat", "Ship", "Raft", "Canoe"]
    r = await api.post(f"{OPS}/upsert", [{"id": "urn:ngsi-ld:Thing:1", "type": "Kayak"}])
    assert r.status == 204, r.body
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:1")).json()["type"] == "Kayak"


async def test_a_malformed_type_list_is_refused(api: ApiClient) -> None:
    for bad in ([], ["Building", 3], ["Building", ""], ["Build ing"]):
        r = await api.post(E, thing(9, bad))  # type: ignore[arg-type]
        assert r.status == 400, (bad, r.body)
        assert r.json()["type"].endswith("BadRequestData")
    assert (await api.get(f"{E}/urn:ngsi-ld:Thing:9")).status == 404
