"""Subscriptions across restarts: no gap, no duplicate applied, at least once."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import NANAO, SUZU, WAJIMA, federation, occupancy, seed, spec, until  # noqa: E402

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.federation.feed_client import (  # noqa: E402
    CallbackSink,
    FederatedChange,
    MirrorSink,
    SubscriptionSpec,
)
from broker.node import Node  # noqa: E402
from broker.service.filters import Comparison  # noqa: E402
from trust.clock import ManualClock  # noqa: E402

PURPOSE = "disaster_response"
TYPES = {"ShelterOccupancy": ["occupancy", "refEvacuationSite"]}
FOLLOW = f"""
[[subscriptions]]
name = "nanao-occupancy"
peer = "{NANAO}"
types = ["ShelterOccupancy"]
purpose = "{PURPOSE}"
heartbeat_seconds = 1
"""


async def provider_state(node: Node) -> dict[str, dict[str, Any]]:
    """What the subscriber should end up holding: the provider's entities of the type."""
    out = {}
    async for stored in node.store.scan_entities(_filter()):
        out[stored.id] = orjson.loads(stored.doc)
    return out


def _filter() -> Any:
    from broker.store.base import EntityFilter

    return EntityFilter(types=("ShelterOccupancy",))


async def delete(node: Node, entity_id: str) -> None:
    assert await node.store.delete_entity(entity_id, time.time())
    node.changes.notify()


async def _federation(root: Path, follow: str) -> LocalFederation:
    f = await federation(root, (NANAO,))
    try:
        await f.add_node(spec(WAJIMA, follow))
        await f.publish()
        await f.agree(provider=NANAO, consumer=WAJIMA, agreement_id="agr-occ", purpose=PURPOSE,
                      types=TYPES)
    except BaseException:
        await f.stop()
        raise
    return f


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    """Wajima follows Nanao's shelter occupancy from its config."""
    f = await _federation(tmp_path, FOLLOW)
    try:
        yield f
    finally:
        await f.stop()


@pytest.fixture
async def plain(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    """The same agreement, no configured subscription."""
    f = await _federation(tmp_path, "")
    try:
        yield f
    finally:
        await f.stop()


async def test_the_mirror_resumes_without_gap_after_the_provider_restarts(
        plain: LocalFederation) -> None:
    fed = plain
    wajima = fed.nodes[WAJIMA]
    mirror = MirrorSink(wajima.store)
    deliveries: list[tuple[FederatedChange, bool]] = []

    async def record(change: FederatedChange) -> bool:
        applied = await mirror.apply(change)
        deliveries.append((change, applied))
        return applied

    # A programmatic subscription, recording every delivery and whether it was applied.
    sub = wajima.subscriptions.start(SubscriptionSpec(
        peer=NANAO, types=("ShelterOccupancy",), purpose=PURPOSE, heartbeat_seconds=1,
        name="recorder"), CallbackSink(record))
    await seed(fed.nodes[NANAO], [occupancy(NANAO, n, 10) for n in range(5)])

    async def caught_up() -> bool:
        return await mirror.entities(NANAO) == await provider_state(fed.nodes[NANAO])

    await until(caught_up)
    nanao = await fed.restart(NANAO)  # the stream breaks; the subscriber backs off, reconnects
    await seed(nanao, [occupancy(NANAO, n, 50) for n in range(3)]
               + [occupancy(NANAO, n, 1) for n in range(5, 8)])
    await delete(nanao, occupancy(NANAO, 4, 0)["id"])
    await until(caught_up)

    assert sub.status.connects >= 2 and sub.status.state == "streaming"
    # (id, hash) names a state; a deletion carries the hash of the state it removes.
    applied = [(c.entity_id, c.content_hash, c.kind == "deleted") for c, ok in deliveries if ok]
    trace = [(c.cursor, c.kind, c.entity_id[-2:], c.content_hash[:6], ok) for c, ok in deliveries]
    assert len(applied) == len(set(applied)), f"a change was applied twice: {trace}"
    cursors = [c.cursor for c, _ in deliveries]
    assert len(cursors) == len(set(cursors)), "one token per change"
    assert await sub.cursor() == cursors[-1]
    # The field mask of the agreement applies to the stream as to queries.
    assert all(set(e) <= {"id", "type", "occupancy", "refEvacuationSite"}
               for e in (await mirror.entities(NANAO)).values())


async def test_the_mirror_resumes_from_the_persisted_cursor_after_the_consumer_restarts(
        fed: LocalFederation) -> None:
    nanao = fed.nodes[NANAO]
    mirror = MirrorSink(fed.nodes[WAJIMA].store)
    await seed(nanao, [occupancy(NANAO, n, 10) for n in range(5)])

    async def caught_up() -> bool:
        held = await MirrorSink(fed.nodes[WAJIMA].store).entities(NANAO)
        return held == await provider_state(nanao)

    await until(caught_up)
    (before,) = fed.nodes[WAJIMA].subscriptions.running()
    cursor = await before.cursor()
    await fed.stop_node(WAJIMA)

    # While the neighbour city is down: two updates, two new shelters, one closed.
    await seed(nanao, [occupancy(NANAO, 0, 80), occupancy(NANAO, 1, 90),
                       occupancy(NANAO, 5, 3), occupancy(NANAO, 6, 4)])
    await delete(nanao, occupancy(NANAO, 2, 0)["id"])
    wajima = await fed.start_node(WAJIMA)
    await until(caught_up)

    (after,) = wajima.subscriptions.running()
    assert after.key == before.key
    # It resumed after the persisted cursor: exactly the five changes made while it was down,
    # none delivered twice.
    assert after.status.delivered == 5 and after.status.duplicates == 0
    assert await after.cursor() != cursor
    del mirror


async def test_the_iterator_api_persists_a_cursor_once_the_change_was_taken(
        plain: LocalFederation) -> None:
    fed = plain
    wajima, nanao = fed.nodes[WAJIMA], fed.nodes[NANAO]
    await seed(nanao, [occupancy(NANAO, n, n) for n in range(3)])

    def feed() -> Any:
        return wajima.federated_changes(["ShelterOccupancy"], (), PURPOSE, name="api",
                                        start="beginning", heartbeat_seconds=1)

    changes = feed()
    taken = [await anext(changes) for _ in range(2)]
    await changes.aclose()
    assert [orjson.loads(c.entity)["occupancy"]["value"] for c in taken] == [0, 1]
    assert {c.peer for c in taken} == {NANAO}
    # The second change was handed out but its consumer never came back for more:
    # it is delivered again (at least once); the first is not.
    again = feed()
    resumed = [await anext(again) for _ in range(2)]
    await again.aclose()
    assert [c.entity_id for c in resumed] == [taken[1].entity_id, occupancy(NANAO, 2, 0)["id"]]


async def test_a_federated_feed_merges_peers_filters_and_picks_up_new_agreements(
        plain: LocalFederation) -> None:
    fed = plain
    suzu = await fed.add_node(spec(SUZU))
    await fed.publish()
    wajima, nanao = fed.nodes[WAJIMA], fed.nodes[NANAO]
    await seed(nanao, [occupancy(NANAO, 1, 99)])  # before the feed starts: not a change to see
    busy = (Comparison("occupancy", ">=", 50),                    # evaluated by the providers
            Comparison("id", "~=", ".*:0000[0-4]$"))              # evaluated on arrival
    feed = wajima.subscriptions.follow(("ShelterOccupancy",), busy, PURPOSE,
                                       heartbeat_seconds=1, refresh_seconds=0.2)
    seen: list[tuple[str, str, int]] = []

    async def collect(n: int) -> None:
        while len(seen) < n:
            change = await anext(feed)
            seen.append((change.peer, change.entity_id[-2:],
                         orjson.loads(change.entity)["occupancy"]["value"]))

    async def positioned(peer: str) -> bool:
        """The feed's stream from ``peer`` told it where "now" is (and it was persisted)."""
        return any(f":{peer}:" in key for key in await wajima.store.list_state("cursor"))

    first = asyncio.create_task(collect(1))
    await until(lambda: positioned(NANAO))
    await seed(nanao, [occupancy(NANAO, 2, 10), occupancy(NANAO, 3, 70),
                       occupancy(NANAO, 8, 90)])
    await asyncio.wait_for(first, 10)
    # Suzu starts sharing later: the feed picks it up without being recreated.
    await seed(suzu, [occupancy(SUZU, 9, 100)])  # before: not a change to see
    await fed.agree(provider=SUZU, consumer=WAJIMA, agreement_id="agr-suzu", purpose=PURPOSE,
                    types=TYPES)
    second = asyncio.create_task(collect(2))
    await until(lambda: positioned(SUZU))
    await seed(suzu, [occupancy(SUZU, 4, 55), occupancy(SUZU, 5, 95)])
    await asyncio.wait_for(second, 10)
    await feed.aclose()
    assert seen == [(NANAO, "03", 70), (SUZU, "04", 55)]


async def test_a_stream_ended_by_token_expiry_resumes_at_once(tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    fed = LocalFederation(tmp_path, clock=clock)
    try:
        await fed.start_authority()
        await fed.add_node(spec(NANAO))
        await fed.add_node(spec(WAJIMA, FOLLOW))
        await fed.publish()
        await fed.agree(provider=NANAO, consumer=WAJIMA, agreement_id="agr-occ",
                        purpose=PURPOSE, types=TYPES)
        nanao, wajima = fed.nodes[NANAO], fed.nodes[WAJIMA]
        mirror = MirrorSink(wajima.store)
        await seed(nanao, [occupancy(NANAO, 1, 10)])

        async def caught_up() -> bool:
            return await mirror.entities(NANAO) == await provider_state(nanao)

        await until(caught_up)
        (sub,) = wajima.subscriptions.running()
        connects = sub.status.connects
        clock.advance(120)  # past the token's expiry: the provider ends the stream
        await until(lambda: _async(sub.status.connects > connects))
        await seed(nanao, [occupancy(NANAO, 2, 20)])
        await until(caught_up)
        assert sub.status.last_reason == "token_expired"
        assert sub.status.state == "streaming"
    finally:
        await fed.stop()


async def _async(value: bool) -> bool:
    return value
