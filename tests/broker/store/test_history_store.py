"""Entity history in the store (the NGSI-LD temporal API's instances), on SQLite and PostgreSQL:
every entity write records what changed in its own transaction, and windows read it back."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from broker.store.base import EntityFilter, EntityWrite, InstanceWindow, Store
from broker.store.history import instance_write, temporal_entity
from broker.store.sqlite import SqliteStore

ID = "urn:ngsi-ld:EvacuationSite:jp-1:0001"


def write(**attrs: Any) -> EntityWrite:
    doc = {"id": ID, "type": "EvacuationSite", **attrs}
    raw = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return EntityWrite(ID, "EvacuationSite", raw, hashlib.sha256(raw).hexdigest())


def occupancy(value: int, at: str | None = None) -> dict[str, Any]:
    attr: dict[str, Any] = {"type": "Property", "value": value}
    if at:
        attr["observedAt"] = at
    return attr


@pytest.fixture
def store(store_on_each_backend: Store) -> Store:
    """The shared two-backend store (tests/conftest.py)."""
    return store_on_each_backend


def values(instances: list[Any]) -> list[Any]:
    return [orjson.loads(i.doc).get("value") for i in instances]


async def test_writes_record_changed_instances_only(store: Store) -> None:
    await store.create_entity(write(occupancy=occupancy(10, "2026-01-01T00:00:00Z"),
                                    name={"type": "Property", "value": "A"}), now=100.0)
    # Same name, new occupancy: only occupancy gets an instance.
    await store.upsert_entities([write(occupancy=occupancy(12, "2026-01-01T01:00:00Z"),
                                       name={"type": "Property", "value": "A"})], now=200.0)
    # Unchanged content: no write, no instance.
    await store.upsert_entities([write(occupancy=occupancy(12, "2026-01-01T01:00:00Z"),
                                       name={"type": "Property", "value": "A"})], now=300.0)
    occ = await store.temporal_instances(ID, InstanceWindow(attrs=("occupancy",)))
    assert values(occ) == [10, 12]
    assert [i.observed_at for i in occ] == [1767225600.0, 1767229200.0]
    assert [i.created_at for i in occ] == [100.0, 200.0]
    names = await store.temporal_instances(ID, InstanceWindow(attrs=("name",)))
    assert values(names) == ["A"]
    row = await store.temporal_entity(ID)
    assert row is not None and row.type == "EvacuationSite"
    assert (row.created_at, row.modified_at) == (100.0, 200.0)


async def test_removed_attribute_and_deleted_entity_are_deletions(store: Store) -> None:
    await store.create_entity(write(occupancy=occupancy(1), name={"type": "Property",
                                                                  "value": "A"}), now=10.0)
    await store.upsert_entities([write(occupancy=occupancy(1))], now=20.0)
    deleted = await store.temporal_instances(ID, InstanceWindow(timeproperty="deletedAt"))
    assert [(i.attr, i.deleted_at, orjson.loads(i.doc)) for i in deleted] == [
        ("name", 20.0, {"type": "Property", "value": "urn:ngsi-ld:null"})]
    # Deletions are not part of the plain evolution.
    plain = await store.temporal_instances(ID, InstanceWindow(timeproperty="createdAt"))
    assert sorted(i.attr for i in plain) == ["name", "occupancy"]
    assert await store.delete_entity(ID, now=30.0)
    deleted = await store.temporal_instances(ID, InstanceWindow(timeproperty="deletedAt"))
    assert [(i.attr, i.deleted_at) for i in deleted] == [("name", 20.0), ("occupancy", 30.0)]
    assert await store.temporal_entity(ID) is not None  # history outlives the entity


async def test_window_filters_last_n_order_and_limit(store: Store) -> None:
    entity = temporal_entity({"id": ID, "type": ["EvacuationSite", "School"]})
    rows = [instance_write("occupancy", "", occupancy(v, f"2026-01-01T0{v}:00:00Z"))
            for v in range(1, 8)]
    rows.append(instance_write("occupancy", "urn:ds:1", {**occupancy(99, "2026-01-01T05:30:00Z"),
                                                         "datasetId": "urn:ds:1"}))
    assert await store.record_temporal(entity, rows, now=5.0) is True
    assert await store.record_temporal(entity, [], now=6.0) is False

    def at(hour: float) -> float:
        return 1767225600.0 + hour * 3600

    between = await store.temporal_instances(ID, InstanceWindow(start=at(2), end=at(5)))
    assert values(between) == [2, 3, 4]  # start inclusive, end exclusive
    last = await store.temporal_instances(ID, InstanceWindow(last_n=2, descending=True))
    assert values(last) == [7, 6]  # newest two of the attribute, datasets together
    default = await store.temporal_instances(ID, InstanceWindow(dataset_ids=("",), limit=3))
    assert values(default) == [1, 2, 3]
    dataset = await store.temporal_instances(ID, InstanceWindow(dataset_ids=("urn:ds:1",)))
    assert values(dataset) == [99]
    head = await store.temporal_entity(ID)
    assert head is not None and orjson.loads(head.doc) == {"type": ["EvacuationSite", "School"]}


async def test_a_temporal_write_of_a_known_observation_replaces_it(store: Store) -> None:
    entity = temporal_entity({"id": ID, "type": "EvacuationSite"})
    first = instance_write("occupancy", "", occupancy(10, "2026-01-01T00:00:00Z"))
    await store.record_temporal(entity, [
        first, instance_write("occupancy", "urn:ds:1", {**occupancy(1, "2026-01-01T00:00:00Z"),
                                                        "datasetId": "urn:ds:1"}),
        instance_write("occupancy", "", occupancy(20, "2026-01-02T00:00:00Z"))], now=100.0)
    # The same observation time again (the default instance), a new one, and an instance
    # without observedAt (never "the same observation").
    await store.record_temporal(entity, [
        instance_write("occupancy", "", occupancy(11, "2026-01-01T00:00:00Z")),
        instance_write("occupancy", "", occupancy(30, "2026-01-03T00:00:00Z")),
        instance_write("occupancy", "", occupancy(40)),
        instance_write("occupancy", "", occupancy(41))], now=200.0)
    held = await store.temporal_instances(ID, InstanceWindow(attrs=("occupancy",),
                                                             timeproperty="createdAt"))
    by_value = {orjson.loads(i.doc)["value"]: i for i in held}
    assert sorted(by_value) == [1, 11, 20, 30, 40, 41]
    replaced = by_value[11]
    assert (replaced.instance_id, replaced.created_at, replaced.modified_at) == (
        first.instance_id, 100.0, 200.0)


async def test_instances_patch_delete_scan_and_prune(store: Store) -> None:
    other = "urn:ngsi-ld:EvacuationSite:jp-1:0002"
    one = instance_write("occupancy", "", occupancy(1, "2026-01-01T00:00:00Z"))
    two = instance_write("occupancy", "", occupancy(2, "2026-01-02T00:00:00Z"))
    await store.record_temporal(temporal_entity({"id": ID, "type": "EvacuationSite"}),
                                [one, two], now=100.0)
    await store.record_temporal(temporal_entity({"id": other, "type": "Shelter"}),
                                [instance_write("occupancy", "", occupancy(3))], now=500.0)
    assert await store.replace_instance(ID, "occupancy", one.instance_id,
                                        orjson.dumps(occupancy(5)), None, now=150.0)
    assert not await store.replace_instance(ID, "capacity", one.instance_id, b"{}", None, 1.0)
    patched = await store.temporal_instances(ID, InstanceWindow(timeproperty="modifiedAt"))
    assert [(i.instance_id, i.modified_at) for i in patched][-1] == (one.instance_id, 150.0)
    assert not await store.delete_instance(ID, "capacity", two.instance_id)
    assert await store.delete_instance(ID, "occupancy", two.instance_id)
    assert [e.id for e in await store.scan_temporal(EntityFilter(), 10)] == [ID, other]
    assert [e.id for e in await store.scan_temporal(EntityFilter(types=("Shelter",)), 10)] \
        == [other]
    assert [e.id for e in await store.scan_temporal(EntityFilter(after_id=ID), 10)] == [other]
    # Retention: Shelter instances are kept, the other types' old ones go.
    assert await store.prune_temporal(400.0, except_types=("Shelter",)) == 1
    assert await store.temporal_instances(ID, InstanceWindow(timeproperty="createdAt")) == []
    assert await store.prune_temporal(600.0, types=("Shelter",)) == 1
    assert await store.delete_temporal(ID)
    assert await store.temporal_entity(ID) is None
    assert not await store.delete_temporal(ID)


async def test_no_history_when_recording_is_off(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "off.db", history=False)
    await store.open()
    try:
        await store.create_entity(write(occupancy=occupancy(1)), now=1.0)
        assert await store.temporal_entity(ID) is None
    finally:
        await store.close()
