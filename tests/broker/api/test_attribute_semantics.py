"""Attribute-level write semantics of ETSI GS CIM 009 v1.8.1 through the API: NGSI-LD Null
deletes one instance (4.5.5), scope (4.18), partial attribute update (5.6.4), system
attributes (sysAttrs), batch merge and batch update with noOverwrite (5.6.9, 5.6.20).

Expected entities are written from the clauses and the ETSI suite's expectation files."""

from __future__ import annotations

from typing import Any

from .conftest import ApiClient

E = "/ngsi-ld/v1/entities"
B = "/ngsi-ld/v1/entityOperations"
NULL = "urn:ngsi-ld:null"
ID = "urn:ngsi-ld:Building:s1"


def building(**attrs: Any) -> dict[str, Any]:
    return {"id": ID, "type": "Building", **attrs}


TWO_NAMES = [{"type": "Property", "value": "Eiffel Tower", "datasetId": "urn:ngsi-ld:Dataset:01"},
             {"type": "Property", "value": "The iron lady"}]


async def get(api: ApiClient, **params: str) -> dict[str, Any]:
    reply = await api.get(f"{E}/{ID}", params=params or None)
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.json()
    return body


async def test_a_null_deletes_the_instance_of_its_dataset_id(api: ApiClient) -> None:
    assert (await api.post(E, building(name=TWO_NAMES))).status == 201
    # Merge: the default instance (no datasetId) goes, the dataset instance stays.
    r = await api.call("PATCH", f"{E}/{ID}", json={"name": {"type": "Property", "value": NULL}})
    assert r.status == 204
    assert (await get(api))["name"] == TWO_NAMES[0]
    # Partial attribute update: the datasetId instance goes, then nothing is left.
    r = await api.call("PATCH", f"{E}/{ID}/attrs/name", json={
        "type": "Property", "value": NULL, "datasetId": "urn:ngsi-ld:Dataset:01"})
    assert r.status == 204
    assert "name" not in await get(api)
    # A LanguageProperty's Null is {"@none": "urn:ngsi-ld:null"} (5.2.1).
    street = {"type": "LanguageProperty", "languageMap": {"fr": "Rue", "en": "Street"}}
    assert (await api.post(f"{E}/{ID}/attrs", {"street": street})).status == 204
    r = await api.call("PATCH", f"{E}/{ID}/attrs", json={
        "street": {"type": "LanguageProperty", "languageMap": {"@none": NULL}}})
    assert r.status == 204
    assert "street" not in await get(api)


async def test_partial_update_changes_sub_attributes_and_keeps_the_type(api: ApiClient) -> None:
    parked = {"type": "Relationship", "object": "urn:ngsi-ld:Parking:1",
              "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"}}
    assert (await api.post(E, building(isParked=parked))).status == 201
    r = await api.call("PATCH", f"{E}/{ID}/attrs/isParked", json={
        "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:John"}},
        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 204
    assert (await get(api))["isParked"] == {**parked, "providedBy": {
        "type": "Relationship", "object": "urn:ngsi-ld:Person:John"}}
    r = await api.call("PATCH", f"{E}/{ID}/attrs/isParked",
                       json={"type": "Property", "value": 3})
    assert r.status == 400  # another attribute type than the instance's
    r = await api.call("PUT", f"{E}/{ID}/attrs/scope", json={"type": "Property", "value": 1})
    assert r.status == 400  # scope is no attribute


async def test_scope_is_replaced_appended_or_left(api: ApiClient) -> None:
    assert (await api.post(E, building(scope="/A/B"))).status == 201
    assert (await api.post(f"{E}/{ID}/attrs", {"scope": "/C"})).status == 204
    assert (await get(api))["scope"] == "/C"
    r = await api.post(f"{E}/{ID}/attrs", {"scope": "/D"}, params={"options": "noOverwrite"})
    assert r.status == 204 and (await get(api))["scope"] == ["/C", "/D"]
    assert (await api.call("DELETE", f"{E}/{ID}/attrs/scope")).status == 204
    assert "scope" not in await get(api)
    # Update Entity Attributes does not add a scope the entity lacks.
    r = await api.call("PATCH", f"{E}/{ID}/attrs", json={"scope": "/E"})
    assert r.status == 207 and r.json()["notUpdated"][0]["attributeName"] == "scope"


async def test_sys_attrs_time_the_entity_and_its_attributes(api: ApiClient) -> None:
    assert (await api.post(E, building(name=TWO_NAMES))).status == 201
    first = await get(api, options="sysAttrs")
    assert first["createdAt"].endswith("Z")
    for instance in first["name"]:
        assert (instance["createdAt"], instance["modifiedAt"]) == (
            first["createdAt"], first["modifiedAt"])
    r = await api.call("PUT", f"{E}/{ID}/attrs/name",
                       json={"type": "Property", "value": "Tour Eiffel"})
    assert r.status == 204
    after = await get(api, options="sysAttrs")
    # Replacing an attribute leaves its createdAt as it was.
    assert after["name"][0]["createdAt"] == first["name"][0]["createdAt"]
    assert "createdAt" not in (await get(api))["name"][0]


async def test_batch_merge_keeps_members_and_no_overwrite_reports_entities(
        api: ApiClient) -> None:
    air = {"type": "Property", "value": 4, "unitCode": "C62"}
    assert (await api.post(E, building(airQuality=air))).status == 201
    r = await api.post(f"{B}/merge", [{"id": ID, "type": "Building",
                                       "airQuality": {"type": "Property", "value": 5}}])
    assert r.status == 204
    assert (await get(api))["airQuality"] == {**air, "value": 5}  # unitCode stays
    r = await api.post(f"{B}/update", [{"id": ID, "airQuality": {"type": "Property",
                                                                 "value": 6}}],
                       params={"options": "noOverwrite"})
    assert r.status == 207 and r.json()["errors"][0]["entityId"] == ID
    assert (await get(api))["airQuality"]["value"] == 5


async def test_an_empty_id_segment_is_bad_request_data(api: ApiClient) -> None:
    r = await api.post(f"{E}//attrs/", {"name": {"type": "Property", "value": "x"}})
    assert r.status == 400
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
