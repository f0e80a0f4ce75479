"""Caller expressions nested past the limit are 400 BadRequestData naming it, on every read
route (issue 12: a type expression 1,000 parentheses deep was a 500 RecursionError)."""

from __future__ import annotations

from broker.service.boolexpr import MAX_NESTING

from .conftest import ApiClient, site

E = "/ngsi-ld/v1/entities"
QUERY = "/ngsi-ld/v1/entityOperations/query"


def nested(text: str, depth: int) -> str:
    return "(" * depth + text + ")" * depth


async def test_deep_type_expressions_are_bad_request_data_on_every_read(
        api: ApiClient) -> None:
    r = await api.post(E, site(1))
    assert r.status == 201, r.body
    entity = E + "/" + site(1)["id"]
    deep = nested("EvacuationSite", 1000)
    assert len(deep) <= 2048  # within the length limit: only the nesting refuses it
    for method, path, params, body in (
            ("GET", E, {"type": deep, "local": "true"}, None),
            ("GET", E, {"type": deep}, None),  # federated read
            ("GET", entity, {"type": deep}, None),
            ("POST", QUERY, None, {"type": "Query", "entities": [{"type": deep}]})):
        r = await api.call(method, path, params=params, json=body)
        assert r.status == 400, (method, path, r.body)
        problem = r.json()
        assert problem["type"].endswith("/BadRequestData")
        assert f"deeper than {MAX_NESTING} levels" in problem["detail"]
    # At the limit, the same expression is a query like any other.
    r = await api.get(E, params={"type": nested("EvacuationSite", MAX_NESTING), "local": "true"})
    assert r.status == 200, r.body
    assert [e["id"] for e in r.json()] == [site(1)["id"]]


async def test_deep_q_is_bad_request_data_naming_the_limit(api: ApiClient) -> None:
    for q in (nested("capacity>1", MAX_NESTING + 1), nested("capacity>1", 1000)):
        r = await api.get(E, params={"type": "EvacuationSite", "q": q})
        assert r.status == 400, r.body
        assert f"deeper than {MAX_NESTING} levels" in r.json()["detail"]
    r = await api.get(E, params={"type": "EvacuationSite", "local": "true",
                                 "q": nested("capacity>1", MAX_NESTING)})
    assert r.status == 200, r.body
