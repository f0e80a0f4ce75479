"""Differential test: an agency's federated answer equals its cities' local answers under the
agreements.

Two real cities and an agency on 127.0.0.1 (the demo federation harness), a seeded generator
of queries (types, q, near/within, attrs, pick/omit, limit/offset, count). For each query the
expectation is computed here from the cities' own ``local=true`` answers and the agreement
terms written in this file (types and attributes shared, area), never from the code under
test: the entities of the shared types inside the area, with only the shared attributes,
projected as asked, in id order, paged; a city the policy must refuse (an attribute asked for
or filtered on that the agreement does not share) gives nothing and a warning naming it.
Every mismatch is reported with its query.
"""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import shapely.geometry

from broker.api.auth import ClientRegistry
from broker.demo.harness import LocalFederation, NodeSpec
from broker.node import Node
from broker.service.entity_write import entity_write
from mappings.contexts import RENKEI_CONTEXT_URL

AGENCY, NANAO, TAKAMATSU = "jp-gov-bousai", "jp-172022", "jp-372013"
PURPOSE = "disaster_response"
LINK = f'<{RENKEI_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; ' \
       'type="application/ld+json"'
E = "/ngsi-ld/v1/entities"
CENTRES = {NANAO: (136.96, 37.04), TAKAMATSU: (134.05, 34.34)}
SITE, OCC = "EvacuationSite", "ShelterOccupancy"
# The agreements' terms: what each city shares with the agency, and where.
SHARED: dict[str, dict[str, set[str]]] = {
    NANAO: {SITE: {"name", "location", "capacity", "suitableFor"},
            OCC: {"occupancy", "refEvacuationSite", "location"}},
    TAKAMATSU: {SITE: {"name", "location", "capacity"}},
}
# Takamatsu shares only the east half of the city.
TAKAMATSU_AREA = {"type": "Polygon", "coordinates": [[
    [134.05, 34.20], [134.30, 34.20], [134.30, 34.50], [134.05, 34.50], [134.05, 34.20]]]}
AREAS = {NANAO: None, TAKAMATSU: shapely.geometry.shape(TAKAMATSU_AREA)}
CASES = 200
SEED = 13
CORE = {"id", "type"}


def entities(city: str, rng: random.Random) -> list[dict[str, Any]]:
    """Evacuation sites and occupancy observations around the city's centre."""
    lon0, lat0 = CENTRES[city]
    out: list[dict[str, Any]] = []
    for n in range(45):
        lon, lat = lon0 + rng.uniform(-0.06, 0.06), lat0 + rng.uniform(-0.06, 0.06)
        site: dict[str, Any] = {
            "id": f"urn:ngsi-ld:{SITE}:{city}:{n:05d}", "type": SITE,
            "name": {"type": "Property", "value": f"避難所{n}"},
            "location": {"type": "GeoProperty", "value": {
                "type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}},
            "telephone": {"type": "Property", "value": f"0767-53-{n:04d}"},
            "suitableFor": {"type": "Property", "value": rng.sample(
                ["flood", "earthquake", "tsunami"], rng.randint(1, 3))}}
        if rng.random() < 0.85:  # some sites have no capacity on record
            site["capacity"] = {"type": "Property", "value": rng.randrange(0, 1000, 10)}
        out.append(site)
    for n in range(15):
        lon, lat = lon0 + rng.uniform(-0.06, 0.06), lat0 + rng.uniform(-0.06, 0.06)
        out.append({
            "id": f"urn:ngsi-ld:{OCC}:{city}:{n:05d}", "type": OCC,
            "occupancy": {"type": "Property", "value": rng.randrange(0, 300)},
            "refEvacuationSite": {"type": "Relationship",
                                  "object": f"urn:ngsi-ld:{SITE}:{city}:{n:05d}"},
            "location": {"type": "GeoProperty", "value": {
                "type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}}})
    return out


def generate(rng: random.Random) -> dict[str, str]:
    """One query's parameters."""
    params: dict[str, str] = {"type": rng.choice([SITE, SITE, OCC, f"{SITE},{OCC}"])}
    q = rng.choice([
        None, None, f"capacity>={rng.randrange(0, 1000, 50)}",
        f"capacity<{rng.randrange(0, 1000, 50)}", "capacity==200..600",
        "suitableFor==tsunami", "telephone==\"0767-53-0003\"", f"occupancy>{rng.randrange(300)}",
        "capacity>=300;suitableFor==flood", "capacity<100|capacity>900", "!capacity"])
    if q is not None:
        params["q"] = q
    geo = rng.choice(["none", "none", "near", "within"])
    if geo != "none":
        lon0, lat0 = CENTRES[rng.choice([NANAO, TAKAMATSU])]
        lon, lat = lon0 + rng.uniform(-0.05, 0.05), lat0 + rng.uniform(-0.05, 0.05)
        if geo == "near":
            params.update(georel=f"near;maxDistance=={rng.choice([1000, 3000, 6000])}",
                          geometry="Point", coordinates=f"[{lon:.5f},{lat:.5f}]")
        else:
            d = rng.choice([0.01, 0.03, 0.06])
            ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                    [lon - d, lat + d], [lon - d, lat - d]]
            params.update(georel="within", geometry="Polygon",
                          coordinates=orjson.dumps([[[round(x, 5), round(y, 5)]
                                                     for x, y in ring]]).decode())
    projection = rng.choice([
        None, None, ("attrs", "name,capacity"), ("attrs", "name"), ("attrs", "occupancy"),
        ("attrs", "capacity,telephone"), ("pick", "id,name"), ("pick", "id,type,capacity"),
        ("omit", "capacity"), ("omit", "location,name")])
    if projection is not None:
        params[projection[0]] = projection[1]
    params["limit"] = str(rng.choice([1, 2, 5, 20, 100]))
    params["offset"] = str(rng.choice([0, 0, 0, 1, 3, 10, 30]))
    if rng.random() < 0.5:
        params["count"] = "true"
    return params


def filtered_attributes(params: dict[str, str]) -> set[str]:
    """The attributes the query filters on (the q's names, ``location`` for geo)."""
    names: set[str] = set()
    for part in params.get("q", "").replace("|", ";").split(";"):
        name = part.lstrip("!").split("=")[0].split("<")[0].split(">")[0].strip()
        if name:
            names.add(name)
    if "georel" in params:
        names.add("location")
    return names - CORE


def asked_attributes(params: dict[str, str]) -> set[str]:
    for key in ("attrs", "pick"):
        if key in params:
            return set(params[key].split(",")) - CORE
    return set()


def refused(city: str, params: dict[str, str]) -> bool:
    """Whether the agreement's terms refuse the query (the policy's ``field_not_allowed``)."""
    types = [t for t in params["type"].split(",") if t in SHARED[city]]
    asked = asked_attributes(params)
    if asked:
        # Asked for explicitly (with what the consumer must check again): shared for one of
        # the types asked for.
        allowed = set().union(*(SHARED[city][t] for t in types))
        if not (asked | filtered_attributes(params)) <= allowed:
            return True
    # Filtered on: shared for every type asked for.
    return any(not filtered_attributes(params) <= SHARED[city][t] for t in types)


def under_terms(city: str, entity: dict[str, Any]) -> dict[str, Any] | None:
    """The entity as the agreement lets it leave the city (None: it does not)."""
    shared = SHARED[city].get(entity["type"])
    if shared is None:
        return None
    area = AREAS[city]
    if area is not None:
        lon, lat = entity["location"]["value"]["coordinates"]
        if not area.covers(shapely.geometry.Point(lon, lat)):
            return None
    return {k: v for k, v in entity.items() if k in CORE or k in shared}


def projected(entity: dict[str, Any], params: dict[str, str]) -> dict[str, Any] | None:
    """NGSI-LD projection: ``attrs`` (the entity must hold one), ``pick``, ``omit``."""
    if "attrs" in params:
        keep = set(params["attrs"].split(","))
        if not keep & set(entity):
            return None
        return {k: v for k, v in entity.items() if k in CORE or k in keep}
    if "pick" in params:
        keep = set(params["pick"].split(","))
        out = {k: v for k, v in entity.items() if k in keep}
        return out or None
    if "omit" in params:
        drop = set(params["omit"].split(","))
        return {k: v for k, v in entity.items() if k not in drop}
    return entity


class Api:
    def __init__(self, node: Node, session: aiohttp.ClientSession, token: str) -> None:
        self.url, self.session, self.token = node.http.url, session, token

    async def get(self, params: dict[str, str]) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Link": LINK}
        async with self.session.get(self.url + E, params=params, headers=headers) as r:
            return r.status, r.headers, orjson.loads(await r.read())


async def api_for(node: Node, session: aiohttp.ClientSession) -> Api:
    client_id, secret = await ClientRegistry(node.store, node.clock).add(
        "differential", PURPOSE, ("read",))
    async with session.post(node.http.url + "/oauth2/token",
                            data={"grant_type": "client_credentials"},
                            headers={"Authorization": "Basic " + base64.b64encode(
                                f"{client_id}:{secret}".encode()).decode()}) as resp:
        assert resp.status == 200, await resp.text()
        return Api(node, session, str((await resp.json())["access_token"]))


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = LocalFederation(tmp_path)
    try:
        await f.start_authority()
        # Many generated queries are refused on purpose: their refusals must not spend the
        # agency's budget of refused calls (60 a minute by default) and turn into rate limits.
        lenient = "[federation]\nrefused_calls_per_minute = 100000\n"
        await f.add_node(NodeSpec(NANAO, "city", "七尾市", "Nanao", extra_toml=lenient))
        await f.add_node(NodeSpec(TAKAMATSU, "city", "高松市", "Takamatsu",
                                  extra_toml=lenient))
        await f.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office"))
        await f.publish()
        rng = random.Random(SEED)
        for city in (NANAO, TAKAMATSU):
            await f.nodes[city].store.upsert_entities(
                [entity_write(e) for e in entities(city, rng)], 1.0)
            await f.agree(provider=city, consumer=AGENCY, agreement_id=f"agr-{city}",
                          purpose=PURPOSE, types={t: sorted(a) for t, a in SHARED[city].items()},
                          area=TAKAMATSU_AREA if city == TAKAMATSU else None,
                          requests_per_minute=100_000)
        yield f
    finally:
        await f.stop()


async def expected(cities: dict[str, Api], params: dict[str, str]
                   ) -> tuple[list[dict[str, Any]], int, set[str], set[str]]:
    """(the page, the total, the cities that must refuse, those that give nothing)."""
    rows: list[dict[str, Any]] = []
    denied: set[str] = set()
    empty: set[str] = set()
    local = {k: v for k, v in params.items()
             if k not in ("attrs", "pick", "omit", "limit", "offset", "count")}
    for city, api in cities.items():
        if not any(t in SHARED[city] for t in params["type"].split(",")):
            continue  # not asked: it shares none of these types
        if refused(city, params):
            denied.add(city)
            continue
        status, _, body = await api.get({**local, "local": "true", "limit": "1000"})
        assert status == 200, (city, params, body)
        assert len(body) < 1000
        mine = [p for p in (projected(e, params) for e in
                            (under_terms(city, e) for e in body) if e is not None)
                if p is not None]
        if not mine:
            empty.add(city)
        rows.extend(mine)
    rows.sort(key=lambda e: str(e["id"]))
    offset, limit = int(params["offset"]), int(params["limit"])
    return rows[offset:offset + limit], len(rows), denied, empty


def warned(headers: Any) -> dict[str, str]:
    out = {}
    for value in headers.getall("NGSILD-Warning", []):
        _, peer, text = value.split(" ", 2)
        out[peer] = text
    return out


async def test_federated_answers_equal_the_cities_local_answers_under_the_agreements(
        fed: LocalFederation) -> None:
    rng = random.Random(SEED * 7)
    mismatches: list[str] = []
    kinds = {"denied": 0, "non-empty": 0, "paged": 0, "counted": 0}
    async with aiohttp.ClientSession() as session:
        agency = await api_for(fed.nodes[AGENCY], session)
        cities = {c: await api_for(fed.nodes[c], session) for c in (NANAO, TAKAMATSU)}
        for _ in range(CASES):
            params = generate(rng)
            page, total, denied, empty = await expected(cities, params)
            status, headers, body = await agency.get(params)
            problems = []
            if status != 200:
                problems.append(f"status {status}: {body}")
            else:
                if body != page:
                    problems.append(f"entities {[e['id'] for e in body]} != "
                                    f"{[e['id'] for e in page]}"
                                    if [e["id"] for e in body] != [e["id"] for e in page]
                                    else f"contents differ: {body} != {page}")
                warnings = warned(headers)
                for city in denied:
                    # The policy checks the area before the filters: a geo-query outside the
                    # area is refused as outside_area first (nothing is sent either way).
                    text = warnings.get(city, "")
                    if "field_not_allowed" not in text and not (
                            "georel" in params and "outside_area" in text):
                        problems.append(f"{city} must refuse, warnings {warnings}")
                for peer, text in warnings.items():
                    if peer not in denied and not (peer in empty and "outside_area" in text):
                        problems.append(f"unexpected warning {peer} {text}")
                if params.get("count") == "true":
                    got = headers.get("NGSILD-Results-Count")
                    if got != str(total):
                        problems.append(f"count {got} != {total}")
                more = int(params["offset"]) + int(params["limit"]) < total
                links = " ".join(headers.getall("Link", []))
                if ('rel="next"' in links) != more:
                    problems.append(f"next link {links!r} but total {total}")
            if problems:
                mismatches.append(f"{params}: {'; '.join(problems)}")
            kinds["denied"] += bool(denied)
            kinds["non-empty"] += bool(page)
            kinds["paged"] += int(params["offset"]) + int(params["limit"]) < total
            kinds["counted"] += params.get("count") == "true"
    # The generator must exercise every case it is meant to, or the test proves little.
    assert all(n >= 10 for n in kinds.values()), kinds
    assert not mismatches, f"{len(mismatches)} of {CASES} differ:\n" + "\n".join(mismatches)
