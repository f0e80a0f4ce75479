"""Nothing a subscriber receives depends on what it may not see (issue 12, leaks through
subscriptions): hashes, events and cursors, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from broker.provider.change_stream import change_stream
from broker.provider.cursor_tokens import CursorTokens, InvalidCursor
from broker.service.changes import ChangeSignal
from broker.service.entity_write import entity_write
from broker.service.model import ChangeEvent, SubscribeRequest
from broker.store.base import Store
from broker.store.postgres import PostgresStore
from broker.store.sqlite import SqliteStore
from trust.clock import ManualClock
from trust.enforce import FieldMask
from trust.errors import PolicyDenied
from trust.geo import Area

AREA = Area([136.0, 36.0, 137.5, 38.0])
MASK = FieldMask({"EvacuationSite": ["capacity", "location"]})  # telephone is hidden


def site(n: int, *, phone: str = "0767-00-0000", cap: int = 10, lon: float = 136.9
         ) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:EvacuationSite:jp-1:{n}", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": cap},
            "telephone": {"type": "Property", "value": phone},
            "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                          "coordinates": [lon, 37.0]}}}


@pytest.fixture
def store(store_on_each_backend: Store) -> Store:
    """SQLite and PostgreSQL (tests/conftest.py)."""
    return store_on_each_backend


async def write(store: Store, *entities: dict[str, Any], now: float = 1.0) -> None:
    await store.upsert_entities([entity_write(e) for e in entities], now=now)


class TickingClock(ManualClock):
    """Half a second passes at every reading: an idle stream heartbeats after two polls."""

    def now(self) -> float:
        return self.advance(0.5)


async def drain(store: Store, after: int = 0, *, still_allowed: Any = None
                ) -> list[ChangeEvent]:
    """Every event up to the first heartbeat after the feed is read."""
    clock = TickingClock(1000.0)
    stream = change_stream(store, ChangeSignal(), clock, SubscribeRequest(
        types=("EvacuationSite",), heartbeat_seconds=1, after_cursor=after), MASK, AREA,
        expires_at=clock.now() + 3600, tokens=CursorTokens(store), poll_seconds=0.0,
        still_allowed=still_allowed)
    events = []
    try:
        async for event in stream:
            events.append(event)
            if event.kind == "heartbeat":
                break
    finally:
        await stream.aclose()
    return events


async def test_the_content_hash_is_over_the_bytes_the_subscriber_gets(store: Store) -> None:
    await write(store, site(1, phone="0767-11-1111"), site(2, phone="0767-22-2222"))
    events = [e for e in await drain(store) if e.kind == "created"]
    assert len(events) == 2
    for event in events:
        assert event.content_hash == hashlib.sha256(event.entity).hexdigest()
        assert b"telephone" not in event.entity
    # Same visible content, different hidden phone: nothing tells them apart.
    one, two = (orjson.loads(e.entity) for e in events)
    one.pop("id"), two.pop("id")
    assert one == two
    stored = {(await store.get_entity(e.entity_id)).content_hash  # type: ignore[union-attr]
              for e in events}
    assert not stored & {e.content_hash for e in events}


async def test_a_change_to_a_hidden_attribute_alone_is_no_event(store: Store) -> None:
    await write(store, site(1))
    first = await drain(store)
    created = [e for e in first if e.kind == "created"]
    assert len(created) == 1
    await write(store, site(1, phone="0767-99-9999"), now=2.0)  # hidden only
    assert [e.kind for e in await drain(store, created[0].cursor)] == ["heartbeat"]
    await write(store, site(1, phone="0767-99-9999", cap=11), now=3.0)  # visible
    later = [e for e in await drain(store, created[0].cursor) if e.kind == "updated"]
    assert len(later) == 1 and orjson.loads(later[0].entity)["capacity"]["value"] == 11


async def test_heartbeats_do_not_count_changes_outside_the_area(store: Store) -> None:
    await write(store, site(1))
    created = [e for e in await drain(store) if e.kind == "created"]
    for i in range(5):  # changes the subscriber may not see: outside its area
        await write(store, site(100 + i, lon=140.0, cap=i), now=2.0 + i)
    events = await drain(store, created[0].cursor)
    assert [e.kind for e in events] == ["heartbeat"]
    assert events[0].cursor == created[0].cursor  # not the newest cursor scanned


async def test_an_agreement_revoked_mid_stream_ends_it(store: Store) -> None:
    await write(store, site(1))
    revoked = False

    async def still_allowed() -> None:
        if revoked:
            raise PolicyDenied("agreement_not_active", "agreement agr-1 was revoked")

    clock = ManualClock(1000.0)
    stream = change_stream(store, ChangeSignal(), clock, SubscribeRequest(
        types=("EvacuationSite",), heartbeat_seconds=1), MASK, AREA,
        expires_at=clock.now() + 3600, tokens=CursorTokens(store), poll_seconds=0.0,
        still_allowed=still_allowed)
    assert (await anext(stream)).kind == "created"
    revoked = True
    await write(store, site(2), now=2.0)
    with pytest.raises(PolicyDenied) as ended:
        await anext(stream)
    assert ended.value.code == "agreement_not_active"
    await stream.aclose()


async def test_positions_given_out_before_the_migration_still_resume(
        store: Store, request: pytest.FixtureRequest) -> None:
    """A subscriber that persisted a feed position under an older version resumes from it
    after the upgrade; positions after the upgrade's head were never given out: refused."""
    await write(store, site(1), site(2))
    await write(store, site(3), now=2.0)
    # The store as an older version left it: migration 0008 not applied yet.
    await store.delete_state("change_cursor", "legacy_limit")
    if isinstance(store, SqliteStore):
        await store._run(lambda db: db.execute("DELETE FROM schema_migrations WHERE number = 8"))
        upgraded: Store = SqliteStore(store.path)
    else:
        assert isinstance(store, PostgresStore)
        await store._db.exec("DELETE FROM schema_migrations WHERE number = 8")
        upgraded = PostgresStore(request.getfixturevalue("pg_dsn"),
                                 schema=request.getfixturevalue("pg_schema"))
    await upgraded.open()  # migrates: records the head as the last position given out
    try:
        assert await upgraded.get_state("change_cursor", "legacy_limit") == 3
        await write(upgraded, site(4), now=3.0)
        resumed = await drain(upgraded, 2)
        assert [(e.kind, e.entity_id[-1:]) for e in resumed] == [
            ("created", "3"), ("created", "4"), ("heartbeat", "")]
        assert all(e.cursor >> 52 for e in resumed)  # from here on, tokens only
        assert [e.kind for e in await drain(upgraded, resumed[-1].cursor)] == ["heartbeat"]
        with pytest.raises(InvalidCursor):
            await drain(upgraded, 4)  # a position after the upgrade: never given out
    finally:
        await upgraded.close()
