"""The differencing attacks of issue 12 against a provider over real gRPC on loopback: a
consumer with an aggregate-only agreement (k = 3) asks "all shelters", floods the guard with
harmless group-by answers, then asks "all but the easternmost shelter". The old per-process
guard (256 groups per caller) had forgotten "all" and answered, revealing that one shelter's
capacity; now the second is refused, also after the provider restarts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.demo.harness import LocalFederation
from broker.errors import PeerRejected
from broker.service.entity_write import entity_write
from broker.service.filters import Within
from broker.service.model import AggregateQuery

from .conftest import AGENCY, CITY, PURPOSE, city_and_agency

SHELTERS = 30
WEST, LAT = 136.90, 37.00


def box(east: float) -> Within:
    return Within({"type": "Polygon", "coordinates": [[
        [WEST - 0.01, LAT - 0.01], [east, LAT - 0.01], [east, LAT + 0.01],
        [WEST - 0.01, LAT + 0.01], [WEST - 0.01, LAT - 0.01]]]})


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    async with city_and_agency(tmp_path, "agr-agg",
                               {"EvacuationSite": ["capacity", "category", "location"]},
                               aggregate_only=True, k=3) as federation:
        await federation.nodes[CITY].store.upsert_entities([entity_write({
            "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{i:03d}", "type": "EvacuationSite",
            "location": {"type": "GeoProperty", "value": {
                "type": "Point", "coordinates": [round(WEST + i * 0.001, 6), LAT]}},
            "category": {"type": "Property", "value": f"c{i % 6}"},
            "capacity": {"type": "Property", "value": 100 + i}}) for i in range(SHELTERS)],
            time.time())
        yield federation


async def total(fed: LocalFederation, geo: Within | None = None, group_by: str = "") -> float:
    channel = fed.nodes[AGENCY].peers()[CITY]
    result = await channel.aggregate(AggregateQuery(
        types=("EvacuationSite",), attribute="capacity", functions=("sum",),
        group_by=group_by, geo=geo, purpose=PURPOSE, agreement_id="agr-agg"), timeout=10)
    return sum(g.sum for g in result.groups if not g.suppressed)


async def test_the_flush_attack_is_refused_also_after_a_restart(fed: LocalFederation) -> None:
    everything = await total(fed, box(WEST + 0.1))
    assert everything == sum(100 + i for i in range(SHELTERS))
    # 50 harmless answers of 6 groups each: 300 groups, more than the old 256-group memory.
    for _ in range(50):
        await total(fed, group_by="category")
    all_but_one = box(WEST + (SHELTERS - 1.5) * 0.001)  # leaves out the easternmost shelter
    with pytest.raises(PeerRejected) as refused:
        await total(fed, all_but_one)
    assert (refused.value.status, refused.value.reason) == (
        "PERMISSION_DENIED", "differencing_suspected")
    await fed.restart(CITY)
    with pytest.raises(PeerRejected) as again:
        await total(fed, all_but_one)
    assert again.value.reason == "differencing_suspected"
