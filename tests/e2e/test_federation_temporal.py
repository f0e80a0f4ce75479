"""The temporal API across the federation: "occupancy of the last 3 days" asked of an agency.

Two real cities and an agency on 127.0.0.1 (the demo federation harness). Each city records
four days of shelter occupancy observations (history written through its store, as every
entity write is). The agency's ``/temporal/entities`` must answer with the cities' history
under the agreements written in this test: only the types and attributes they share (a
hidden attribute's instances never leave the city), only the entities inside the agreed area
(Takamatsu shares its east half), only the window asked for. The expectation is computed from
the cities' own ``local=true`` temporal answers and those terms, never from the code under
test. Refusals: an attribute the agreements hide (``field_not_allowed``) and a type shared
aggregate-only (``aggregate_only``, PERMISSION_DENIED on the wire) give warnings, no rows.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from broker.api.auth import ClientRegistry
from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import PeerRejected
from broker.node import Node
from broker.service.entity_write import entity_write
from broker.service.model import EntityBatch, QuerySummary, TemporalQuery
from mappings.contexts import RENKEI_CONTEXT_URL

AGENCY, NANAO, TAKAMATSU = "jp-gov-bousai", "jp-172022", "jp-372013"
PURPOSE = "disaster_response"
LINK = f'<{RENKEI_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; ' \
       'type="application/ld+json"'
T = "/ngsi-ld/v1/temporal/entities"
OCC, SITE = "ShelterOccupancy", "EvacuationSite"
DAY = 86400.0
NOW = float(int(time.time()))
# Takamatsu shares its occupancy east of 134.05 only.
TAKAMATSU_AREA = {"type": "Polygon", "coordinates": [[
    [134.05, 34.20], [134.30, 34.20], [134.30, 34.50], [134.05, 34.50], [134.05, 34.20]]]}
SHARED_ATTRS = {"occupancy", "location"}  # both cities hide staffNote
# (city, local id, longitude, latitude): Takamatsu's 2 lies outside its agreed area.
SHELTERS = [(NANAO, 1, 136.95, 37.03), (NANAO, 2, 136.97, 37.05),
            (TAKAMATSU, 1, 134.10, 34.33), (TAKAMATSU, 2, 133.98, 34.33)]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def observation(city: str, n: int, lon: float, lat: float, day: float) -> dict[str, Any]:
    """Shelter n's occupancy ``day`` days before NOW (day 3.5 is outside "the last 3 days")."""
    observed = iso(NOW - day * DAY)
    return {"id": f"urn:ngsi-ld:{OCC}:{city}:{n:03d}", "type": OCC,
            "occupancy": {"type": "Property", "value": 10 * n + int(day * 10),
                          "observedAt": observed},
            "staffNote": {"type": "Property", "value": f"note {day}", "observedAt": observed},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [lon, lat]}}}


class Api:
    def __init__(self, node: Node, session: aiohttp.ClientSession, token: str) -> None:
        self.url, self.session, self.token = node.http.url, session, token

    async def get(self, params: dict[str, str]) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Link": LINK}
        async with self.session.get(self.url + T, params=params, headers=headers) as r:
            return r.status, r.headers, orjson.loads(await r.read())


async def api_for(node: Node, session: aiohttp.ClientSession) -> Api:
    client_id, secret = await ClientRegistry(node.store, node.clock).add(
        "temporal", PURPOSE, ("read",))
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
        await f.add_node(NodeSpec(NANAO, "city", "七尾市", "Nanao"))
        await f.add_node(NodeSpec(TAKAMATSU, "city", "高松市", "Takamatsu"))
        await f.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office"))
        await f.publish()
        for day in (3.5, 2.0, 1.0, 0.25):  # oldest first: each write adds instances
            for city, n, lon, lat in SHELTERS:
                await f.nodes[city].store.upsert_entities(
                    [entity_write(observation(city, n, lon, lat, day))], NOW - day * DAY)
            await f.nodes[NANAO].store.upsert_entities([entity_write({
                "id": f"urn:ngsi-ld:{SITE}:{NANAO}:001", "type": SITE,
                "capacity": {"type": "Property", "value": int(100 * day),
                             "observedAt": iso(NOW - day * DAY)}})], NOW - day * DAY)
        for city in (NANAO, TAKAMATSU):
            await f.agree(provider=city, consumer=AGENCY, agreement_id=f"agr-{city}",
                          purpose=PURPOSE, types={OCC: sorted(SHARED_ATTRS)},
                          area=TAKAMATSU_AREA if city == TAKAMATSU else None)
        # Nanao's evacuation sites are shared as statistics only.
        await f.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-nanao-stats",
                      purpose=PURPOSE, types={SITE: ["capacity"]}, aggregate_only=True, k=2)
        yield f
    finally:
        await f.stop()


def under_terms(city: str, entity: dict[str, Any]) -> dict[str, Any] | None:
    """A city's temporal entity as the agreement lets it leave (None: it does not)."""
    if city == TAKAMATSU and not any(n == int(entity["id"].rsplit(":", 1)[1]) and lon >= 134.05
                                     for c, n, lon, _ in SHELTERS if c == city):
        return None
    return {k: v for k, v in entity.items() if k in ("id", "type") or k in SHARED_ATTRS}


def warned(headers: Any) -> dict[str, str]:
    out = {}
    for value in headers.getall("NGSILD-Warning", []):
        _, peer, text = value.split(" ", 2)
        out[peer] = text
    return out


async def test_occupancy_of_the_last_3_days_through_an_agency(fed: LocalFederation) -> None:
    window = {"type": OCC, "timerel": "after", "timeAt": iso(NOW - 3 * DAY)}
    async with aiohttp.ClientSession() as session:
        agency = await api_for(fed.nodes[AGENCY], session)
        cities = {c: await api_for(fed.nodes[c], session) for c in (NANAO, TAKAMATSU)}
        expected: list[dict[str, Any]] = []
        for city, api in cities.items():
            status, _, body = await api.get({**window, "local": "true"})
            assert status == 200, body
            # The city's own answer holds the hidden attribute and the old observation is out.
            assert all("staffNote" in e for e in body), body
            assert all(len(e["occupancy"]) == 3 for e in body), body
            expected.extend(e for e in (under_terms(city, e) for e in body) if e is not None)
        expected.sort(key=lambda e: str(e["id"]))
        assert [e["id"] for e in expected] == [
            f"urn:ngsi-ld:{OCC}:{NANAO}:001", f"urn:ngsi-ld:{OCC}:{NANAO}:002",
            f"urn:ngsi-ld:{OCC}:{TAKAMATSU}:001"]

        status, headers, body = await agency.get(window)
        assert status == 200, body
        assert warned(headers) == {}
        assert body == expected

        # The simplified form of the same answer: three (value, observedAt) pairs each.
        status, _, body = await agency.get({**window, "attrs": "occupancy",
                                            "options": "temporalValues"})
        assert status == 200, body
        assert [[p[0] for p in e["occupancy"]["values"]] for e in body] == [
            [v["value"] for v in e["occupancy"]] for e in expected]

        # Paging over the merged answer: the second entity, and a next link.
        status, headers, body = await agency.get({**window, "limit": "1", "offset": "1"})
        assert status == 200, body
        assert [e["id"] for e in body] == [expected[1]["id"]]
        assert 'rel="next"' in " ".join(headers.getall("Link", []))

        # local=true at the agency: it keeps no history of its own.
        status, _, body = await agency.get({**window, "local": "true"})
        assert (status, body) == (200, [])

        # A hidden attribute: both cities refuse, nothing is sent.
        status, headers, body = await agency.get({**window, "attrs": "staffNote"})
        assert (status, body) == (200, [])
        assert {p: t for p, t in warned(headers).items()} == {
            NANAO: '"denied: field_not_allowed"', TAKAMATSU: '"denied: field_not_allowed"'}

        # History of a type shared as statistics only: refused.
        status, headers, body = await agency.get({"type": SITE, "timerel": "after",
                                                  "timeAt": iso(NOW - 3 * DAY)})
        assert (status, body) == (200, [])
        assert warned(headers) == {NANAO: '"denied: aggregate_only"'}


async def test_a_refused_temporal_query_is_permission_denied_and_audited(
        fed: LocalFederation) -> None:
    channel = fed.nodes[AGENCY].peers()[NANAO]
    with pytest.raises(PeerRejected) as refused:
        async for _ in channel.temporal_query(TemporalQuery(
                types=(SITE,), purpose=PURPOSE, timerel="after", time_at=NOW - 3 * DAY), 5.0):
            pass
    assert (refused.value.status, refused.value.reason) == ("PERMISSION_DENIED",
                                                            "aggregate_only")
    entries = [orjson.loads(row.body) for row in await fed.nodes[NANAO].store.audit_rows()]
    assert any(e["operation"] == "temporal_query" and e["decision"] == "deny"
               and e["reason"] == "aggregate_only" and e["caller"] == AGENCY for e in entries)

    # An allowed one (the whole history) sends the shared attributes' instances only, is
    # audited with what was sent and comes with a receipt.
    items = [i async for i in channel.temporal_query(TemporalQuery(
        types=(OCC,), purpose=PURPOSE), 5.0)]
    batches = [i for i in items if isinstance(i, EntityBatch)]
    summary = items[-1]
    assert isinstance(summary, QuerySummary)
    sent = [orjson.loads(raw) for b in batches for raw in b.entities]
    assert [e["id"] for e in sent] == [f"urn:ngsi-ld:{OCC}:{NANAO}:001",
                                       f"urn:ngsi-ld:{OCC}:{NANAO}:002"]
    for entity in sent:
        assert sorted(i["attr"] for i in entity["instances"]) == ["location"] + ["occupancy"] * 4
    assert summary.count == 2 and summary.receipt and not summary.next_page_token
    entries = [orjson.loads(row.body) for row in await fed.nodes[NANAO].store.audit_rows()]
    assert entries[-1]["operation"] == "temporal_query" and entries[-1]["result_count"] == 2
