"""A small kit for federation tests: synthetic entities, seeding, and a federation builder.

Tests run with ``--import-mode=importlib``; the federation tests put this directory on
``sys.path`` (see ``conftest.py``, and the top of each ``tests/e2e/test_federation_*.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from broker.demo.harness import LocalFederation, NodeSpec
from broker.node import Node
from broker.service.entity_write import entity_write

AGENCY = "jp-gov-fdma"
NANAO = "jp-172022"
WAJIMA = "jp-172049"
SUZU = "jp-172054"
TAKAMATSU = "jp-372013"
NAMES = {AGENCY: ("消防庁", "Fire and Disaster Management Agency"),
         NANAO: ("七尾市", "Nanao"), WAJIMA: ("輪島市", "Wajima"), SUZU: ("珠洲市", "Suzu"),
         TAKAMATSU: ("高松市", "Takamatsu")}
CENTRES = {NANAO: (136.96, 37.04), WAJIMA: (136.90, 37.39), SUZU: (137.26, 37.44),
           TAKAMATSU: (134.05, 34.34), AGENCY: (139.75, 35.68)}
SITE_ATTRS = ["name", "location", "capacity", "suitableFor"]

# Short backoff and deadlines so that fault tests take seconds, not minutes.
FAST = """
[federation]
deadline_seconds = 5.0
backoff_min_seconds = 0.05
backoff_max_seconds = 0.5
backoff_jitter = 0.0
"""


def site(city: str, n: int, *, dlon: float = 0.0, dlat: float = 0.0, capacity: int = 100,
         **extra: Any) -> dict[str, Any]:
    """A normalized EvacuationSite of ``city`` near the city's centre."""
    lon, lat = CENTRES[city]
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:EvacuationSite:{city}:{n:05d}", "type": "EvacuationSite",
        "name": {"type": "LanguageProperty",
                 "languageMap": {"ja": f"避難所{n}", "en": f"Shelter {n}"}},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point",
                               "coordinates": [round(lon + dlon, 6), round(lat + dlat, 6)]}},
        "capacity": {"type": "Property", "value": capacity},
        "telephone": {"type": "Property", "value": "0767-53-1111"},
        "suitableFor": {"type": "Property", "value": ["flood", "earthquake"]},
    }
    entity.update(extra)
    return entity


def occupancy(city: str, n: int, occupied: int) -> dict[str, Any]:
    """A ShelterOccupancy observation for shelter ``n`` of ``city``."""
    return {"id": f"urn:ngsi-ld:ShelterOccupancy:{city}:{n:05d}", "type": "ShelterOccupancy",
            "occupancy": {"type": "Property", "value": occupied,
                          "observedAt": "2024-01-01T16:10:00Z"},
            "refEvacuationSite": {"type": "Relationship",
                                  "object": f"urn:ngsi-ld:EvacuationSite:{city}:{n:05d}"}}


async def seed_child(fed: LocalFederation, member_id: str,
                     entities: Iterable[dict[str, Any]]) -> None:
    """Write into a child node's store from outside (SQLite WAL allows it, as ingest would)."""
    from broker.config import load_config
    from broker.store.sqlite import SqliteStore

    store = SqliteStore(load_config(fed.config_files[member_id]).sqlite_path)
    await store.open()
    try:
        await store.upsert_entities([entity_write(e) for e in entities], time.time())
    finally:
        await store.close()


async def seed(node: Node, entities: Iterable[dict[str, Any]]) -> None:
    """Upsert entities into a node's own store, as ingest would, and wake its subscribers."""
    await node.store.upsert_entities([entity_write(e) for e in entities], time.time())
    node.changes.notify()


def spec(member_id: str, extra_toml: str = "") -> NodeSpec:
    role = "agency" if member_id.startswith("jp-gov") else "city"
    name_ja, name_en = NAMES.get(member_id, (member_id, member_id))
    return NodeSpec(member_id, role, name_ja, name_en, http=False, extra_toml=FAST + extra_toml)


async def federation(root: Path, members: Iterable[str], extra_toml: str = ""
                     ) -> LocalFederation:
    """An authority plus ``members`` (TLS on loopback), the directory published to all."""
    fed = LocalFederation(root)
    try:
        await fed.start_authority()
        for member in members:
            await fed.add_node(spec(member, extra_toml))
        await fed.publish()
    except BaseException:
        await fed.stop()
        raise
    return fed


async def until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait until ``await predicate()`` is true; fail with a clear message after ``timeout``."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await predicate():
        if loop.time() > end:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
