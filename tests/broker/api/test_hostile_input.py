"""Small, malformed or hostile requests get a 4xx quickly, never a 500 or a stalled node."""

from __future__ import annotations

import asyncio
from typing import Any

from .conftest import ApiClient, Receiver

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
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
