"""scopeQ on a running node: GET /entities, a Query body, and NGSI-LD subscriptions filter by
it; a malformed one is 400, never ignored."""

from __future__ import annotations

import asyncio

from .conftest import ApiClient, Receiver

E = "/ngsi-ld/v1/entities"


async def _seed(api: ApiClient) -> None:
    for n, scope in ((1, "/Madrid/Gardens/ParqueNorte"),
                     (2, ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]),
                     (3, None)):
        entity = {"id": f"urn:ngsi-ld:Building:{n}", "type": "Building",
                  "name": {"type": "Property", "value": f"building {n}"}}
        if scope:
            entity["scope"] = scope  # type: ignore[assignment]
        assert (await api.post(E, entity)).status == 201


async def _ids(api: ApiClient, scope_q: str) -> list[str]:
    r = await api.get(E, params={"type": "Building", "scopeQ": scope_q})
    assert r.status == 200, r.body
    return [e["id"].rsplit(":", 1)[-1] for e in r.json()]


async def test_queries_filter_by_scope(api: ApiClient) -> None:
    await _seed(api)
    assert await _ids(api, "/Madrid/Gardens/ParqueNorte") == ["1", "2"]
    assert await _ids(api, "/CompanyA/#") == ["2"]
    assert await _ids(api, "/#") == ["1", "2"]
    assert await _ids(api, "/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC") == ["2"]
    r = await api.get(E, params={"type": "Building", "scopeQ": "/CompanyA/#", "count": "true"})
    assert r.headers["NGSILD-Results-Count"] == "1"
    r = await api.post("/ngsi-ld/v1/entityOperations/query",
                       {"type": "Query", "entities": [{"type": "Building"}],
                        "scopeQ": "/CompanyA/+/UnitC"})
    assert r.status == 200, r.body
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Building:2"]
    for bad in ("Madrid", "/A/#/B"):
        r = await api.get(E, params={"type": "Building", "scopeQ": bad})
        assert r.status == 400 and r.json()["type"].endswith("BadRequestData"), r.body


async def test_a_subscription_is_notified_only_of_entities_in_its_scope(
        api: ApiClient, receiver: Receiver) -> None:
    r = await api.post("/ngsi-ld/v1/subscriptions", {
        "type": "Subscription", "entities": [{"type": "Building"}], "scopeQ": "/CompanyA/#",
        "notification": {"endpoint": {"uri": receiver.url}}})
    assert r.status == 201, r.body
    r = await api.post("/ngsi-ld/v1/subscriptions", {
        "type": "Subscription", "entities": [{"type": "Building"}], "scopeQ": "CompanyA",
        "notification": {"endpoint": {"uri": receiver.url}}})
    assert r.status == 400, r.body
    await _seed(api)
    _headers, body = await receiver.next()
    assert [e["id"] for e in body["data"]] == ["urn:ngsi-ld:Building:2"]
    # The entities out of scope were written before that one and after it: none notified.
    await asyncio.sleep(1.0)
    assert len(receiver.received) == 1
