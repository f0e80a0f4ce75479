"""One contract for every store backend: what the node relies on, run against each."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from broker.errors import AlreadyExists
from broker.store.base import (
    AgreementRow,
    EntityFilter,
    EntityWrite,
    QuarantineRecord,
    Store,
)
from broker.store.postgres import PostgresStore
from broker.store.sqlite import SqliteStore

StoreFactory = Callable[[], Store]


def entity(n: int, *, lon: float = 136.9, lat: float = 37.0, cap: int = 10) -> EntityWrite:
    doc = {"id": f"urn:ngsi-ld:EvacuationSite:jp-1:{n:04d}", "type": "EvacuationSite",
           "capacity": {"type": "Property", "value": cap},
           "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                         "coordinates": [lon, lat]}}}
    raw = orjson.dumps(doc)
    return EntityWrite(doc["id"], doc["type"], raw, hashlib.sha256(raw).hexdigest(),
                       (lon, lat, lon, lat))


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """New, unopened stores of one backend, all on the same file or schema."""
    if request.param == "postgres":
        dsn = request.getfixturevalue("pg_dsn")
        schema = request.getfixturevalue("pg_schema")
        return lambda: PostgresStore(dsn, schema=schema)
    return lambda: SqliteStore(tmp_path / "node.db")


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[Store]:
    s = make_store()
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_upsert_is_idempotent_by_content_hash(store: Store) -> None:
    first = await store.upsert_entities([entity(1), entity(2)], now=1.0)
    again = await store.upsert_entities([entity(1), entity(2)], now=2.0)
    changed = await store.upsert_entities([entity(1, cap=99)], now=3.0)
    assert (first.created, again.unchanged, changed.updated) == (2, 2, 1)
    stored = await store.get_entity(entity(1).id)
    assert stored is not None
    assert orjson.loads(stored.doc)["capacity"]["value"] == 99
    assert stored.created_at == 1.0 and stored.modified_at == 3.0
    assert await store.count_entities(["EvacuationSite"]) == 2


async def test_change_feed_records_each_real_change_once(store: Store) -> None:
    await store.upsert_entities([entity(1), entity(2)], now=1.0)
    await store.upsert_entities([entity(1)], now=2.0)  # unchanged: no event
    await store.upsert_entities([entity(2, cap=5)], now=3.0)
    await store.delete_entity(entity(1).id, now=4.0)
    changes = await store.changes_after(0)
    assert [(c.kind, c.entity_id[-4:]) for c in changes] == [
        ("created", "0001"), ("created", "0002"), ("updated", "0002"), ("deleted", "0001")]
    assert [c.cursor for c in changes] == sorted({c.cursor for c in changes})
    later = await store.changes_after(changes[1].cursor)
    assert [c.kind for c in later] == ["updated", "deleted"]
    # A deletion carries the entity's last state (for the subscriber's area/filter check).
    assert later[-1].doc == entity(1).doc


async def test_create_refuses_an_existing_id(store: Store) -> None:
    await store.create_entity(entity(1), now=1.0)
    with pytest.raises(AlreadyExists):
        await store.create_entity(entity(1), now=2.0)


async def test_scan_filters_by_type_ids_and_bbox_in_id_order(store: Store) -> None:
    await store.upsert_entities(
        [entity(i, lon=130.0 + i, lat=30.0 + i) for i in range(1, 8)], now=1.0)
    ids = [e.id async for e in store.scan_entities(EntityFilter(types=("EvacuationSite",)),
                                                   chunk=3)]
    assert ids == sorted(ids) and len(ids) == 7
    boxed = [e.id[-1] async for e in store.scan_entities(
        EntityFilter(bbox=(132.5, 32.5, 134.5, 34.5)))]
    assert boxed == ["3", "4"]
    picked = [e.id async for e in store.scan_entities(EntityFilter(ids=(entity(5).id,)))]
    assert picked == [entity(5).id]
    none = [e async for e in store.scan_entities(EntityFilter(types=("Other",)))]
    assert none == []


async def test_ingest_batches_commit_positions_and_counts(store: Store) -> None:
    run = await store.start_run("nanao", "sites.csv", now=1.0)
    bad = QuarantineRecord(source="nanao", file="sites.csv", row=5, column="緯度",
                           raw_value="999", code="latitude_out_of_range", message="x",
                           record={"緯度": "999"})
    await store.commit_batch(run, "nanao", [entity(1), entity(2)], [bad], "3", read=3, now=2.0)
    assert await store.source_position("nanao") == "3"
    summary = await store.finish_run(run, now=3.0)
    assert (summary.read, summary.mapped, summary.quarantined) == (3, 2, 1)
    assert summary.read == summary.mapped + summary.quarantined
    listed = await store.list_quarantine("nanao")
    assert [(q.row, q.code, q.record) for q in listed] == [(5, "latitude_out_of_range",
                                                            {"緯度": "999"})]
    await store.resolve_quarantine([listed[0].id], now=4.0)
    assert await store.list_quarantine("nanao") == []


async def test_audit_appends_chain_on_the_previous_hash(store: Store) -> None:
    def build(seq: int, prev: str) -> tuple[str, bytes]:
        body = orjson.dumps({"seq": seq, "prev": prev})
        return hashlib.sha256(body).hexdigest(), body

    first = await store.append_audit(build)
    second = await store.append_audit(build)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == "0" * 64 and second.prev_hash == first.entry_hash
    head = await store.audit_head()
    assert head is not None and head.entry_hash == second.entry_hash
    await store.add_checkpoint(2, "jws", now=1.0)
    assert await store.checkpoints() == [(2, "jws")]


def _rfc6962_root(leaves: list[bytes]) -> bytes:
    """MTH from RFC 6962 section 2.1, written out recursively (independent of trust.merkle)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc6962_root(leaves[:k]) + _rfc6962_root(leaves[k:])
                          ).digest()


def _root_from_frontier(size: int, nodes: dict[tuple[int, int], bytes]) -> bytes:
    # The frontier of a tree of ``size`` leaves: one perfect subtree per set bit, largest
    # first; the root folds them from the right.
    parts, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            parts.append(nodes[(level, start >> level)])
            start += 1 << level
    acc = parts[-1]
    for h in reversed(parts[:-1]):
        acc = hashlib.sha256(b"\x01" + h + acc).digest()
    return acc


def _chain(seq: int, prev: str) -> tuple[str, bytes]:
    body = orjson.dumps({"seq": seq, "prev": prev})
    return hashlib.sha256(body).hexdigest(), body


async def test_audit_appends_keep_the_merkle_tree_nodes(store: Store) -> None:
    hashes = [(await store.append_audit(_chain)).entry_hash for _ in range(11)]
    leaves = [bytes.fromhex(h) for h in hashes]
    # 11 = 8 + 2 + 1: the frontier is the perfect subtrees (3, 0), (1, 4), (0, 10).
    frontier = await store.audit_nodes([(3, 0), (1, 4), (0, 10)])
    assert len(frontier) == 3
    assert _root_from_frontier(11, frontier) == _rfc6962_root(leaves)
    assert frontier[(0, 10)] == hashlib.sha256(b"\x00" + leaves[10]).digest()
    assert await store.audit_nodes([(4, 0), (0, 11)]) == {}  # not complete yet
    assert await store.sync_audit_tree() == 11


async def test_tree_heads_and_cosigned_checkpoints_are_kept(store: Store) -> None:
    assert await store.add_tree_head(4, "note-4", now=1.0)
    assert not await store.add_tree_head(4, "other note-4", now=2.0)  # first one holds
    assert await store.add_tree_head(2, "note-2", now=3.0)
    assert await store.tree_heads() == [(2, "note-2"), (4, "note-4")]
    await store.add_cosigned(4, "renkei.witness/jp-2", "cosigned-4", now=4.0)
    await store.add_cosigned(2, "renkei.witness/jp-3", "cosigned-2", now=4.0)
    await store.add_cosigned(4, "renkei.witness/jp-2", "cosigned-4b", now=5.0)
    assert await store.cosigned() == [(2, "renkei.witness/jp-3", "cosigned-2"),
                                      (4, "renkei.witness/jp-2", "cosigned-4b")]


async def test_witness_head_advances_by_compare_and_set_and_survives_reopening(
        make_store: StoreFactory) -> None:
    origin, r1, r2 = "renkei.audit/jp-1", b"\x01" * 32, b"\x02" * 32
    s = make_store()
    await s.open()
    try:
        assert await s.witness_head(origin) is None
        assert await s.witness_advance(origin, None, 3, r1, "n3", now=1.0)
        assert not await s.witness_advance(origin, None, 9, r2, "n9", now=2.0)  # stale view
        assert await s.witness_advance(origin, (3, r1), 5, r2, "n5", now=3.0)
        assert not await s.witness_advance(origin, (3, r1), 7, r2, "n7", now=4.0)
    finally:
        await s.close()
    s = make_store()
    await s.open()
    try:
        assert await s.witness_head(origin) == (5, r2)
        assert await s.witness_cosigned(origin) == [(3, "n3"), (5, "n5")]
        assert await s.witness_cosigned(origin, min_size=4, limit=10) == [(5, "n5")]
        assert await s.witness_cosigned("renkei.audit/jp-9") == []
    finally:
        await s.close()


async def test_replay_cache_binds_a_jti_to_its_first_channel(store: Store) -> None:
    assert await store.remember_jti("j1", "jp-1", "peer-a", expires_at=100.0, now=1.0)
    assert await store.remember_jti("j1", "jp-1", "peer-a", expires_at=100.0, now=2.0)
    assert not await store.remember_jti("j1", "jp-1", "peer-b", expires_at=100.0, now=3.0)
    assert await store.remember_jti("j2", "jp-1", None, expires_at=100.0, now=3.0)
    assert not await store.remember_jti("j2", "jp-1", None, expires_at=100.0, now=4.0)


async def test_counters_and_state_survive_reopening(make_store: StoreFactory) -> None:
    s = make_store()
    await s.open()
    assert await s.increment_counter("rpm:a", 10, 1) == 1
    assert await s.increment_counter("rpm:a", 10, 2) == 3
    await s.put_state("cursor", "jp-2", {"cursor": 7})
    await s.put_agreement(AgreementRow("agr-1", "jp-1", "jp-2", b"{}", {"jp-1": "s"}, None, 1.0))
    await s.put_directory(3, "dir-jws", now=1.0)
    await s.close()
    s = make_store()
    await s.open()
    try:
        assert await s.increment_counter("rpm:a", 10, 1) == 4
        assert await s.increment_counter("rpm:a", 11, 1) == 1  # a new window starts at zero
        assert await s.get_state("cursor", "jp-2") == {"cursor": 7}
        row = await s.get_agreement("agr-1")
        assert row is not None and row.signatures == {"jp-1": "s"}
        assert await s.latest_directory() == (3, "dir-jws")
        await s.put_directory(2, "older-jws", now=2.0)
        assert await s.delete_directory(3) and not await s.delete_directory(3)
        assert await s.latest_directory() == (2, "older-jws")
    finally:
        await s.close()


async def test_a_batch_may_write_the_same_id_twice(store: Store) -> None:
    counts = await store.upsert_entities([entity(1), entity(1, cap=2), entity(1, cap=2)],
                                         now=1.0)
    assert (counts.created, counts.updated, counts.unchanged) == (1, 1, 1)
    assert [c.kind for c in await store.changes_after(0)] == ["created", "updated"]
    stored = await store.get_entity(entity(1).id)
    assert stored is not None and orjson.loads(stored.doc)["capacity"]["value"] == 2


async def test_scan_pages_by_prefix_and_cursor_in_byte_order(store: Store) -> None:
    def named(local: str) -> EntityWrite:
        raw = orjson.dumps({"id": f"urn:x:{local}", "type": "T"})
        return EntityWrite(f"urn:x:{local}", "T", raw, hashlib.sha256(raw).hexdigest())

    # Byte order (SQLite BINARY, PostgreSQL "C"), not a locale's: "Z" < "a" < "é" < "ー".
    names = ["a", "Z", "b-1", "b_1", "é", "ー", "b"]
    await store.upsert_entities([named(n) for n in names], now=1.0)
    everything = [e.id async for e in store.scan_entities(EntityFilter(), chunk=2)]
    assert everything == sorted(f"urn:x:{n}" for n in names)
    prefixed = [e.id async for e in store.scan_entities(EntityFilter(id_prefix="urn:x:b"))]
    assert prefixed == ["urn:x:b", "urn:x:b-1", "urn:x:b_1"]
    after = [e.id async for e in store.scan_entities(EntityFilter(after_id="urn:x:b_1"))]
    assert after == ["urn:x:é", "urn:x:ー"]
    assert await store.entity_types() == {"T": 7}
    assert (await store.get_entity("urn:x:a")).bbox is None  # type: ignore[union-attr]


async def test_bbox_prefilter_counts_touching_boxes_and_skips_entities_without_one(
        store: Store) -> None:
    without = EntityWrite("urn:x:nowhere", "EvacuationSite", b"{}", "h0")
    await store.upsert_entities([entity(1, lon=135.0, lat=35.0), without], now=1.0)
    touching = [e.id async for e in store.scan_entities(
        EntityFilter(bbox=(134.0, 34.0, 135.0, 35.0)))]
    assert touching == [entity(1).id]
    stored = await store.get_entity(entity(1).id)
    assert stored is not None and stored.bbox == (135.0, 35.0, 135.0, 35.0)
    assert [e async for e in store.scan_entities(EntityFilter(bbox=(0, 0, 1, 1)))] == []


async def test_change_feed_filters_by_type_and_reports_the_head(store: Store) -> None:
    other = EntityWrite("urn:x:p1", "OffStreetParking", b"{}", "h1")
    await store.upsert_entities([entity(1), other, entity(2)], now=1.0)
    only = await store.changes_after(0, types=["OffStreetParking"])
    assert [c.entity_id for c in only] == ["urn:x:p1"]
    everything = await store.changes_after(0, limit=2)
    assert len(everything) == 2
    assert await store.last_change_cursor() == max(c.cursor for c in
                                                   await store.changes_after(0))


async def test_an_expired_jti_is_new_again(store: Store) -> None:
    assert await store.remember_jti("j", "jp-1", "a", expires_at=10.0, now=1.0)
    assert not await store.remember_jti("j", "jp-1", "b", expires_at=10.0, now=5.0)
    assert await store.remember_jti("j", "jp-1", "b", expires_at=30.0, now=11.0)
    assert not await store.remember_jti("j", "jp-2", "b", expires_at=30.0, now=12.0)


async def test_state_namespaces_runs_and_quarantine_updates(store: Store) -> None:
    await store.put_state("cursor", "b", {"cursor": 2})
    await store.put_state("cursor", "a", [1, "二"])
    await store.put_state("backoff", "a", {"failures": 1})
    assert await store.list_state("cursor") == {"a": [1, "二"], "b": {"cursor": 2}}
    assert await store.delete_state("cursor", "a") and not await store.delete_state("cursor", "a")
    assert await store.get_state("cursor", "a") is None
    first = await store.start_run("s", "f.csv", now=1.0)
    second = await store.start_run("s", "f.csv", now=2.0)
    bad = QuarantineRecord(source="s", file="f.csv", row=2, column="c", raw_value="x",
                           code="missing_required", message="m1")
    await store.commit_batch(first, "s", [], [bad], None, read=1, now=1.5)
    again = QuarantineRecord(source="s", file="f.csv", row=2, column="c", raw_value="y",
                             code="missing_required", message="m2")
    await store.commit_batch(second, "s", [], [again], "7", read=1, now=2.5)
    listed = await store.list_quarantine()
    assert [(q.run_id, q.raw_value, q.message) for q in listed] == [(second, "y", "m2")]
    assert [r.id for r in await store.list_runs()] == [second, first]
    await store.reset_source_position("s")
    assert await store.source_position("s") is None


async def test_claim_state_keeps_the_first_value(store: Store) -> None:
    first = await store.claim_state("api", "token_key", {"key": "a"})
    second = await store.claim_state("api", "token_key", {"key": "b"})
    assert first == second == {"key": "a"}
    assert await store.get_state("api", "token_key") == {"key": "a"}


async def test_doc_pages_equal_the_scan_in_id_order(store: Store) -> None:
    # The NGSI-LD API's fast paths: raw stored bytes, page by page, same order as the scan.
    await store.upsert_entities([entity(i, cap=i) for i in (5, 1, 4, 2, 3)], now=1.0)
    flt = EntityFilter(types=("EvacuationSite",))
    docs = [e.doc async for e in store.scan_entities(flt)]
    assert await store.scan_docs(flt, 2, 1) == docs[1:3]  # type: ignore[attr-defined]
    array, more = await store.scan_doc_array(flt, 2, 1)  # type: ignore[attr-defined]
    assert orjson.loads(array) == [orjson.loads(d) for d in docs[1:3]] and more
    array, more = await store.scan_doc_array(flt, 2, 3)  # type: ignore[attr-defined]
    assert orjson.loads(array) == [orjson.loads(d) for d in docs[3:]] and not more
    array, more = await store.scan_doc_array(EntityFilter(types=("None",)), 2)  # type: ignore[attr-defined]
    assert (array, more) == (b"[]", False)


async def test_a_log_begun_before_the_tree_catches_up(tmp_path: Path) -> None:
    # Entries written before migration 0003 have no tree nodes: the next sync (or append)
    # builds them from the stored entry hashes.
    s = SqliteStore(tmp_path / "old.db")
    await s.open()
    try:
        hashes = [(await s.append_audit(_chain)).entry_hash for _ in range(5)]
        await s._run(lambda db: db.execute("DELETE FROM audit_tree"))
        assert await s.audit_nodes([(2, 0), (0, 4)]) == {}
        hashes.append((await s.append_audit(_chain)).entry_hash)
        nodes = await s.audit_nodes([(2, 0), (1, 2)])
        assert _root_from_frontier(6, nodes) == _rfc6962_root([bytes.fromhex(h)
                                                               for h in hashes])
    finally:
        await s.close()
