"""The temporal API (ETSI GS CIM 009 5.6.11-5.6.16, 5.7.3, 5.7.4) on a running node: what the
core API's writes leave in an entity's history, the windows a client asks for
(timerel/timeAt/endTimeAt, lastN), the simplified and aggregated representations, the
temporal API's own writes (instances added, replaced, deleted), and queries (type, q,
orderBy, paging) with the refusals the specification asks for.
"""

from __future__ import annotations

from typing import Any

from .conftest import ApiClient

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
NGSI = "https://uri.etsi.org/ngsi-ld/errors/"
CAR = "urn:ngsi-ld:Car:1"


def _speed(value: float, at: str) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": at}


async def _car_with_three_speeds(api: ApiClient) -> None:
    r = await api.post(E, {"id": CAR, "type": "Car", "speed": _speed(10, "2024-01-01T00:00:00Z")})
    assert r.status == 201, r.body
    for value, at in ((20, "2024-01-02T00:00:00Z"), (30, "2024-01-03T00:00:00Z")):
        r = await api.call("PATCH", f"{E}/{CAR}/attrs", json={"speed": _speed(value, at)})
        assert r.status == 204, r.body


def _values(body: dict[str, Any], attr: str = "speed") -> list[Any]:
    instances = body[attr] if isinstance(body[attr], list) else [body[attr]]
    return [i["value"] for i in instances]


async def test_core_writes_are_the_history_and_windows_select_it(api: ApiClient) -> None:
    await _car_with_three_speeds(api)
    r = await api.get(f"{T}/{CAR}")
    assert r.status == 200, r.body
    body = r.json()
    assert body["id"] == CAR and body["type"] == "Car"
    assert _values(body) == [10, 20, 30]  # oldest first
    assert len({i["instanceId"] for i in body["speed"]}) == 3
    day2 = "2024-01-02T00:00:00Z"
    cases = {f"timerel=after&timeAt={day2}": [20, 30],  # t >= timeAt
             f"timerel=before&timeAt={day2}": [10],  # t < timeAt
             f"timerel=between&timeAt={day2}&endTimeAt=2024-01-03T00:00:00Z": [20],
             "lastN=2": [30, 20]}  # the newest two, newest first
    for params, expected in cases.items():
        r = await api.get(f"{T}/{CAR}?{params}")
        assert r.status == 200, (params, r.body)
        assert _values(r.json()) == expected, params
    r = await api.get(f"{T}/{CAR}?options=temporalValues")
    assert r.json()["speed"]["values"] == [[10, "2024-01-01T00:00:00Z"],
                                           [20, "2024-01-02T00:00:00Z"],
                                           [30, "2024-01-03T00:00:00Z"]]
    r = await api.get(f"{T}/{CAR}?options=aggregatedValues&aggrMethods=sum,max,totalCount")
    assert r.status == 200, r.body
    speed = r.json()["speed"]
    assert [row[0] for row in speed["sum"]] == [60]
    assert [row[0] for row in speed["max"]] == [30]
    assert [row[0] for row in speed["totalCount"]] == [3]
    # The history is the node's, not the client's to rewrite through the core API: deleting
    # the entity leaves it (with the deletion recorded).
    assert (await api.call("DELETE", f"{E}/{CAR}")).status == 204
    r = await api.get(f"{T}/{CAR}?timeproperty=deletedAt")
    assert r.status == 200, r.body


async def test_temporal_writes_add_replace_and_delete_instances(api: ApiClient) -> None:
    r = await api.post(T, {"id": CAR, "type": "Car",
                           "speed": [_speed(1, "2024-01-01T00:00:00Z"),
                                     _speed(2, "2024-01-02T00:00:00Z")]})
    assert r.status == 201, r.body
    r = await api.post(T, {"id": CAR, "type": "Car", "speed": [_speed(3, "2024-01-03T00:00:00Z")]})
    assert r.status == 204, r.body
    r = await api.post(f"{T}/{CAR}/attrs", {"fuel": [_speed(50, "2024-01-03T00:00:00Z")]})
    assert r.status == 204, r.body
    body = (await api.get(f"{T}/{CAR}")).json()
    # Each observation once: the entity the creation made recorded none twice.
    assert _values(body) == [1, 2, 3] and _values(body, "fuel") == [50]
    # Creating the representation of an unknown entity created the entity, from its newest
    # instances; later temporal writes change the history only.
    current = (await api.get(f"{E}/{CAR}")).json()
    assert current["speed"]["value"] == 2 and "fuel" not in current
    first = body["speed"][0]["instanceId"]
    r = await api.call("PATCH", f"{T}/{CAR}/attrs/speed/{first}",
                       json={"speed": [_speed(100, "2024-01-01T00:00:00Z")]})
    assert r.status == 204, r.body
    assert _values((await api.get(f"{T}/{CAR}")).json()) == [100, 2, 3]
    assert (await api.call("DELETE", f"{T}/{CAR}/attrs/speed/{first}")).status == 204
    assert _values((await api.get(f"{T}/{CAR}")).json()) == [2, 3]
    r = await api.call("DELETE", f"{T}/{CAR}/attrs/speed/{first}")
    assert r.status == 404 and r.json()["type"] == NGSI + "ResourceNotFound"
    assert (await api.call("DELETE", f"{T}/{CAR}/attrs/fuel")).status == 204
    assert "fuel" not in (await api.get(f"{T}/{CAR}")).json()
    assert (await api.call("DELETE", f"{T}/{CAR}")).status == 204
    r = await api.get(f"{T}/{CAR}")
    assert r.status == 404 and r.json()["type"] == NGSI + "ResourceNotFound"


async def test_a_temporal_creation_makes_an_entity_the_core_api_changes(api: ApiClient) -> None:
    r = await api.post(T, {"id": CAR, "type": "Car",
                           "speed": [_speed(2, "2024-01-02T00:00:00Z"),
                                     _speed(1, "2024-01-01T00:00:00Z")],
                           "name": [{"type": "Property", "value": "old"},
                                    {"type": "Property", "value": "new"}]})
    assert r.status == 201, r.body
    current = (await api.get(f"{E}/{CAR}")).json()
    # The latest observation, not the last listed; without observedAt, the last listed.
    assert current["speed"]["value"] == 2 and current["name"]["value"] == "new"
    r = await api.get(f"{T}/{CAR}?attrs=name&timeproperty=createdAt")
    assert sorted(_values(r.json(), "name")) == ["new", "old"]  # each once
    # A core deletion of an attribute is in the history as a deletedAt instance.
    assert (await api.call("DELETE", f"{E}/{CAR}/attrs/speed")).status == 204
    r = await api.get(f"{T}/{CAR}?timeproperty=deletedAt")
    assert r.status == 200, r.body
    deleted = r.json()["speed"]
    deleted = deleted if isinstance(deleted, list) else [deleted]
    assert len(deleted) == 1 and "deletedAt" in deleted[0]
    # An entity the node holds is not touched by a temporal creation.
    other = "urn:ngsi-ld:Car:2"
    r = await api.post(E, {"id": other, "type": "Car", "speed": _speed(9, "2024-02-01T00:00:00Z")})
    assert r.status == 201, r.body
    assert (await api.call("DELETE", f"{T}/{other}")).status == 204
    r = await api.post(T, {"id": other, "type": "Car",
                           "speed": [_speed(5, "2024-03-01T00:00:00Z")]})
    assert r.status == 201, r.body
    assert (await api.get(f"{E}/{other}")).json()["speed"]["value"] == 9


async def _ids(api: ApiClient, params: str) -> list[str]:
    r = await api.get(f"{T}?{params}")
    assert r.status == 200, (params, r.body)
    return [e["id"].rsplit(":", 1)[-1] for e in r.json()]


async def test_queries_select_order_and_page_temporal_entities(api: ApiClient) -> None:
    # Created in the order b, a, c; named so that name order differs from both.
    for n, name, rank in (("b", "Y", 2), ("a", "Z", 1), ("c", "X", 3)):
        r = await api.post(E, {"id": f"urn:ngsi-ld:Shop:{n}", "type": "Shop",
                               "name": {"type": "Property", "value": name,
                                        "rank": {"type": "Property", "value": rank}}})
        assert r.status == 201, r.body
    assert (await api.post(E, {"id": "urn:ngsi-ld:Car:z", "type": "Car"})).status == 201
    assert await _ids(api, "type=Shop") == ["a", "b", "c"]  # id order
    assert await _ids(api, "type=Shop&q=name==%22Y%22") == ["b"]
    assert await _ids(api, "type=Shop&orderBy=name") == ["c", "b", "a"]
    assert await _ids(api, "type=Shop&orderBy=name;desc") == ["a", "b", "c"]
    assert await _ids(api, "type=Shop&orderBy=name.rank;desc") == ["c", "b", "a"]
    assert await _ids(api, "type=Shop&orderBy=createdAt") == ["b", "a", "c"]
    assert await _ids(api, "type=Shop&orderBy=type,name&limit=2") == ["c", "b"]
    assert await _ids(api, "type=Shop&orderBy=name&limit=2&offset=2") == ["a"]
    r = await api.get(f"{T}?type=Shop&limit=2")
    assert any('rel="next"' in link for link in r.headers.getall("Link"))
    for params, kind in (("type=Shop&orderBy=name;sideways", "BadRequestData"),
                         ("id=urn:ngsi-ld:Shop:a", "BadRequestData"),  # 5.7.4: ids alone
                         ("type=Shop&timerel=after", "BadRequestData"),  # no timeAt
                         ("type=Shop&tpye=Car", "InvalidRequest"),  # not a parameter
                         ("type=Shop&options=nonsense", "InvalidRequest")):
        r = await api.get(f"{T}?{params}")
        assert r.status == 400, (params, r.body)
        assert r.json()["type"] == NGSI + kind, params


async def test_the_node_runs_temporal_retention_as_a_supervised_loop(api: ApiClient) -> None:
    # [temporal] retention_days defaults to 365: the prune runs as one of the node's loops,
    # shown on /health like the others.
    assert api.node.loops.report()["temporal-retention"]["state"] == "running"
    r = await api.get("/health")
    assert "temporal-retention" in r.body.decode()
