"""Context source registrations (ETSI GS CIM 009 5.9, 5.10) and Purge Entities (v1.9.1
5.6.21) against a running node: CRUD, validation as ProblemDetails, discovery matching,
ownership between two clients, terms in the caller's context."""

from __future__ import annotations

from typing import Any

import orjson

from broker.ngsi.registrations import Discovery, matches
from broker.service.query import parse_types
from broker.store.base import CSourceRow

from .conftest import LD, ApiClient, client_token
from .test_conformance import assert_problem

R = "/ngsi-ld/v1/csourceRegistrations"
E = "/ngsi-ld/v1/entities"
CTX = "https://example.org/ctx.jsonld"  # not a context this node holds
CAR_CONTEXT = {"Car": "https://example.org/vocab/Car", "speed": "https://example.org/v/speed"}


def registration(suffix: str = "r1", **extra: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:ContextSourceRegistration:{suffix}",
            "type": "ContextSourceRegistration",
            "information": [
                {"entities": [{"id": "urn:ngsi-ld:Vehicle:A456", "type": "Vehicle"}],
                 "propertyNames": ["brandName", "speed"], "relationshipNames": ["isParked"]},
                {"entities": [{"idPattern": ".*downtown$", "type": "OffStreetParking"}]}],
            "endpoint": "http://csource.example:1026", **extra}


async def test_register_retrieve_update_delete(api: ApiClient) -> None:
    r = await api.post(R, registration(expiresAt="2035-11-29T14:53:15Z", csourceProperty1="x"))
    assert r.status == 201, r.body
    location = r.headers["Location"]
    assert location == f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1"
    got = (await api.get(location)).json()
    assert got == {**registration(expiresAt="2035-11-29T14:53:15Z", csourceProperty1="x"),
                   "mode": "inclusive", "operations": ["federationOps"]}
    assert_problem(await api.post(R, registration()), 409, "AlreadyExists")

    sys_attrs = (await api.get(location, params={"options": "sysAttrs"})).json()
    assert sys_attrs["createdAt"].endswith("Z") and sys_attrs["modifiedAt"].endswith("Z")

    r = await api.call("PATCH", location, json={"expiresAt": None, "description": "cars"})
    assert r.status == 204, r.body
    got = (await api.get(location)).json()
    assert "expiresAt" not in got and got["description"] == "cars"
    assert_problem(await api.call("PATCH", location, json={"endpoint": None}), 400,
                   "BadRequestData")
    assert_problem(await api.call("PATCH", location, json={"type": "Building"}), 400,
                   "BadRequestData")
    assert (await api.call("DELETE", location)).status == 204
    assert_problem(await api.get(location), 404, "ResourceNotFound")
    assert_problem(await api.call("DELETE", location), 404, "ResourceNotFound")
    assert_problem(await api.call("PATCH", location, json={"description": "x"}), 404,
                   "ResourceNotFound")


async def test_generated_id(api: ApiClient) -> None:
    body = registration()
    del body["id"]
    r = await api.post(R, body)
    assert r.status == 201
    assert r.headers["Location"].startswith(f"{R}/urn:ngsi-ld:ContextSourceRegistration:")
    assert (await api.get(r.headers["Location"])).status == 200


async def test_invalid_registrations_are_bad_request_data(api: ApiClient) -> None:
    base = registration()
    bad = [
        {k: v for k, v in base.items() if k != "information"},
        {k: v for k, v in base.items() if k != "endpoint"},
        {**base, "type": "Registration"},
        {**base, "id": "not a uri"},
        {**base, "information": None},
        {**base, "information": []},
        {**base, "information": [{}]},
        {**base, "information": [{"entities": [{"id": "urn:x:1"}]}]},  # no type
        {**base, "information": [{"entities": [{"type": "T", "idPattern": "(a"}]}]},
        {**base, "information": [{"propertyNames": "speed"}]},
        {**base, "endpoint": "no uri"},
        {**base, "expiresAt": "2001-01-01T00:00:00Z"},  # in the past
        {**base, "expiresAt": "tomorrow"},
        {**base, "mode": "sometimes"},
        {**base, "observationInterval": {"endAt": "2020-01-01T00:00:00Z"}},
        {**base, "location": {"type": "Point"}},
        {**base, "contextSourceInfo": [{"key": "k"}]},
    ]
    for body in bad:
        assert_problem(await api.post(R, body), 400, "BadRequestData")
    assert_problem(await api.get(f"{R}/not-a-uri"), 400, "BadRequestData")
    assert (await api.get(R, params={"type": "Vehicle"})).json() == []  # none kept


async def test_discovery_matches_types_ids_and_attributes(api: ApiClient) -> None:
    assert (await api.post(R, registration("a"))).status == 201
    assert (await api.post(R, {**registration("b"), "information": [
        {"propertyNames": ["speed"]}]})).status == 201  # any entity, one attribute

    async def found(**params: str) -> list[str]:
        r = await api.get(R, params=params)
        assert r.status == 200, r.body
        return [reg["id"].rsplit(":", 1)[-1] for reg in r.json()]

    assert await found(type="Vehicle") == ["a", "b"]
    assert await found(type="OffStreetParking") == ["a", "b"]
    assert await found(type="Building") == ["b"]
    assert await found(type="Vehicle", id="urn:ngsi-ld:Vehicle:A456") == ["a", "b"]
    assert await found(type="Vehicle", id="urn:ngsi-ld:Vehicle:B1") == ["b"]
    assert await found(type="OffStreetParking", id="urn:ngsi-ld:P:downtown") == ["a", "b"]
    assert await found(attrs="isParked") == ["a"]
    assert await found(attrs="speed") == ["a", "b"]
    # a's parking entry names no attributes: it may hold every one of them (5.12).
    assert await found(attrs="colour") == ["a"]
    assert await found(type="Vehicle", attrs="colour") == []
    assert await found(type="Vehicle", idPattern="^urn:ngsi-ld:Vehicle:A") == ["a", "b"]
    assert await found(type="Vehicle", idPattern="^urn:other") == ["b"]
    r = await api.get(R, params={"type": "Vehicle", "limit": "1", "count": "true"})
    assert r.headers["NGSILD-Results-Count"] == "2" and len(r.json()) == 1
    assert any('rel="next"' in link for link in r.headers.getall("Link"))

    # Neither type nor attrs: 400; a filter this node does not implement is refused, not
    # ignored; an unknown parameter is InvalidRequest.
    assert_problem(await api.get(R), 400, "BadRequestData")
    assert_problem(await api.get(R, params={"type": "Vehicle", "id": "bad id"}), 400,
                   "BadRequestData")
    assert_problem(await api.get(R, params={"type": "Vehicle", "q": "a==1"}), 422,
                   "OperationNotSupported")
    assert_problem(await api.get(R, params={"type": "Vehicle", "nonsense": "1"}), 400,
                   "InvalidRequest")
    assert (await api.get(R, params={"type": "Vehicle"},
                          headers={"Accept": "application/xml"})).status == 406
    assert (await api.get(R, params={"type": "Vehicle"},
                          headers={"Accept": "application/geo+json"})).status == 406


def test_an_expired_registration_covers_nothing() -> None:
    row = CSourceRow("app", "urn:x:r", orjson.dumps({"information": [
        {"entities": [{"type": "Vehicle"}]}]}), 0.0, 0.0, 100.0)
    asked = Discovery(types=parse_types("Vehicle"))
    assert matches(row, asked, 99.0)
    assert not matches(row, asked, 100.0)


async def test_terms_follow_the_callers_context(api: ApiClient) -> None:
    body = {**registration("ctx"), "information": [
        {"entities": [{"type": "Car"}], "propertyNames": ["speed"]}],
        "@context": [CAR_CONTEXT, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"]}
    r = await api.post(R, body, headers={"Content-Type": LD})
    assert r.status == 201, r.body
    # Without the caller's context the stored IRIs come back whole.
    plain = (await api.get(r.headers["Location"])).json()
    assert plain["information"] == [{"entities": [{"type": "https://example.org/vocab/Car"}],
                                     "propertyNames": ["https://example.org/v/speed"]}]
    found = await api.get(R, params={"type": "https://example.org/vocab/Car"})
    assert [reg["id"] for reg in found.json()] == [body["id"]]
    assert (await api.get(R, params={"type": "Car"})).json() == []  # another Car


async def test_a_registration_is_its_owners_only(api: ApiClient) -> None:
    other = ApiClient(api.node, api.session,
                      await client_token(api.node, api.session, name="other"))
    location = (await api.post(R, registration())).headers["Location"]
    assert_problem(await other.get(location), 404, "ResourceNotFound")
    assert (await other.get(R, params={"type": "Vehicle"})).json() == []
    assert_problem(await other.call("DELETE", location), 404, "ResourceNotFound")
    # Ids are per owner: the other client's own registration with that id is its own.
    assert (await other.post(R, registration())).status == 201
    assert (await other.call("DELETE", location)).status == 204
    assert (await api.get(location)).status == 200


async def test_purge_entities(api: ApiClient) -> None:
    for i, kind in enumerate(["Car", "Car", "Bus"]):
        body = {"id": f"urn:ngsi-ld:{kind}:{i}", "type": kind,
                "speed": {"type": "Property", "value": i * 10}}
        assert (await api.post(E, body)).status == 201
    assert_problem(await api.call("DELETE", E), 400, "BadRequestData")  # no selection
    assert_problem(await api.call("DELETE", E, params={"type": "Car", "bogus": "1"}), 400,
                   "InvalidRequest")
    assert (await api.call("DELETE", E, params={"type": "Car", "q": "speed>5"})).status == 204
    left = (await api.get(E, params={"type": "Car,Bus"})).json()
    assert sorted(e["id"] for e in left) == ["urn:ngsi-ld:Bus:2", "urn:ngsi-ld:Car:0"]
    assert (await api.call("DELETE", E, params={"id": "urn:ngsi-ld:Bus:2"})).status == 204
    left = (await api.get(E, params={"type": "Car,Bus"})).json()
    assert [e["id"] for e in left] == ["urn:ngsi-ld:Car:0"]
    assert (await api.call("DELETE", E, params={"type": "Nothing"})).status == 204
