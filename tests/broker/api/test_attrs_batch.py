"""Attribute operations, batch operations and discovery."""

from __future__ import annotations

from .conftest import ApiClient, site

E = "/ngsi-ld/v1/entities"
B = "/ngsi-ld/v1/entityOperations"


async def test_append_update_merge_and_attribute_operations(api: ApiClient) -> None:
    sid = site(1)["id"]
    await api.post(E, site(1, 100))
    r = await api.post(f"{E}/{sid}/attrs", {"capacity": {"type": "Property", "value": 1},
                                            "elevation": 12.5},
                       params={"options": "noOverwrite"})
    assert r.status == 207
    # An UpdateResult names attributes by IRI (no @context travels with it): the client
    # sent core-context terms, so the default-context IRIs (ETSI suite 010_04_01).
    vocab = "https://uri.etsi.org/ngsi-ld/default-context/"
    assert r.json()["notUpdated"][0]["attributeName"] == vocab + "capacity"
    assert r.json()["updated"] == [vocab + "elevation"]
    entity = (await api.get(f"{E}/{sid}")).json()
    assert entity["capacity"]["value"] == 100
    assert entity["elevation"] == {"type": "Property", "value": 12.5}  # concise input
    r = await api.call("PATCH", f"{E}/{sid}/attrs",
                       json={"capacity": {"type": "Property", "value": 120},
                             "telephone": {"type": "Property", "value": "0767"}})
    # Update Entity Attributes adds what the entity lacks (ETSI suite 011_01_03).
    assert r.status == 204
    assert (await api.get(f"{E}/{sid}")).json()["telephone"]["value"] == "0767"
    r = await api.call("PATCH", f"{E}/{sid}", json={
        "elevation": "urn:ngsi-ld:null",
        "capacity": {"value": 130, "observedAt": "2026-01-01T00:00:00Z"}})
    assert r.status == 204
    entity = (await api.get(f"{E}/{sid}")).json()
    assert "elevation" not in entity
    assert entity["capacity"] == {"type": "Property", "value": 130,
                                  "observedAt": "2026-01-01T00:00:00Z"}
    assert (await api.call("PATCH", f"{E}/{sid}/attrs/capacity",
                           json={"value": 140})).status == 204
    assert (await api.get(f"{E}/{sid}")).json()["capacity"]["value"] == 140
    assert (await api.call("DELETE", f"{E}/{sid}/attrs/capacity")).status == 204
    assert (await api.call("DELETE", f"{E}/{sid}/attrs/capacity")).status == 404
    r = await api.call("PATCH", f"{E}/urn:ngsi-ld:X:none/attrs", json={"a": 1})
    assert r.status == 404
    sys_attrs = (await api.get(f"{E}/{sid}", params={"options": "sysAttrs"})).json()
    assert sys_attrs["createdAt"].endswith("Z") and "modifiedAt" in sys_attrs
    # 4.21: pick keeps exactly the members listed, id and type included only when listed.
    picked = (await api.get(f"{E}/{sid}", params={"pick": "name"})).json()
    assert set(picked) == {"name"}
    picked = (await api.get(f"{E}/{sid}", params={"pick": "id,type,name"})).json()
    assert set(picked) == {"id", "type", "name"}
    concise = (await api.get(f"{E}/{sid}", params={"format": "concise"})).json()
    assert concise["location"]["type"] == "Point"
    english = (await api.get(f"{E}/{sid}", params={"options": "keyValues",
                                                   "lang": "en"})).json()
    assert english["name"] == "Shelter 1"


async def test_batch_operations_report_per_entity(api: ApiClient) -> None:
    r = await api.post(f"{B}/create", [site(1), site(2), {"id": "not a uri", "type": "X"}])
    assert r.status == 207
    body = r.json()
    assert body["success"] == [site(1)["id"], site(2)["id"]]
    assert body["errors"][0]["error"]["type"].endswith("/BadRequestData")
    r = await api.post(f"{B}/create", [site(3)])
    assert r.status == 201 and r.json() == [site(3)["id"]]
    r = await api.post(f"{B}/upsert", [site(3, 333), site(4)])
    assert r.status == 201 and r.json() == [site(4)["id"]]
    r = await api.post(f"{B}/upsert", [site(3, 334)], params={"options": "update"})
    assert r.status == 204
    assert (await api.get(f"{E}/{site(3)['id']}")).json()["capacity"]["value"] == 334
    r = await api.post(f"{B}/update", [{"id": site(1)["id"], "capacity": 9},
                                       {"id": "urn:ngsi-ld:X:missing", "capacity": 1}])
    assert r.status == 207 and r.json()["errors"][0]["entityId"] == "urn:ngsi-ld:X:missing"
    r = await api.post(f"{B}/delete", [site(1)["id"], "urn:ngsi-ld:X:missing"])
    assert r.status == 207
    assert r.json()["errors"][0]["error"]["type"].endswith("/ResourceNotFound")
    r = await api.post(f"{B}/query", {"type": "Query", "entities": [{"type": "EvacuationSite"}],
                                      "q": "capacity>300"})
    assert [e["id"] for e in r.json()] == [site(3)["id"]]


async def test_discovery(api: ApiClient) -> None:
    await api.post(f"{B}/create", [site(1), site(2)])
    types = (await api.get("/ngsi-ld/v1/types")).json()
    assert types["type"] == "EntityTypeList" and types["typeList"] == ["EvacuationSite"]
    info = (await api.get("/ngsi-ld/v1/types/EvacuationSite")).json()
    assert info["entityCount"] == 2
    assert {a["attributeName"] for a in info["attributeDetails"]} == {"name", "capacity",
                                                                      "location"}
    attrs = (await api.get("/ngsi-ld/v1/attributes")).json()
    assert "capacity" in attrs["attributeList"]
    one = (await api.get("/ngsi-ld/v1/attributes/capacity")).json()
    assert one["attributeCount"] == 2 and one["typeNames"] == ["EvacuationSite"]
    assert (await api.get("/ngsi-ld/v1/types/Nothing")).status == 404
