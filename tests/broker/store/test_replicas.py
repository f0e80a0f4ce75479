"""Two replicas of one node, as processes, on one PostgreSQL schema, under load and SIGKILL.

The federation around them is real: an authority, a consumer agency (in this process), a
signed directory naming the city, an agreement proposed over gRPC to one replica and
countersigned by the operator through a third instance on the same store. Then:

- a write through one replica is read over gRPC through the other;
- a subscriber streams the change feed from replica A, which is killed with SIGKILL while it
  writes; the subscriber resumes from its own last applied cursor on replica B;
- afterwards every acknowledged write is in the store, the subscriber received every change
  of the feed exactly once and in order, and the audit chain written by all three verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from broker.config import load_config
from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import BrokerError, PeerError
from broker.federation.grpc_client import PeerAddress, PeerChannel
from broker.identity import init_identity, join_request
from broker.node import Node, PeerTokens
from broker.service.model import GetRequest, SubscribeRequest
from broker.store.base import EntityFilter
from broker.store.postgres import PostgresStore
from trust.agreement_model import Agreement, RateLimits
from trust.errors import TrustError
from trust.tokens import TokenIssuer

RUNNER = Path(__file__).with_name("replica_node.py")
REPO = Path(__file__).resolve().parents[3]
CITY, AGENCY, AGREEMENT, PURPOSE = "jp-172022", "jp-gov-cao", "agr-replicas", "disaster_response"
Event = tuple[int, str, str]  # cursor, kind, entity id


class Replica:
    """One ``replica_node.py`` process; collects its READY endpoint and ACK lines."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.endpoint = ""
        self.acks: list[str] = []
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, config: Path, log: Path, *args: str) -> Replica:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(RUNNER), str(config), *args, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=log.open("wb"))
        replica = cls(proc, log)
        try:
            replica.endpoint = await asyncio.wait_for(replica._ready, 20)
        except BaseException:
            replica.kill()
            raise
        return replica

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            word, _, rest = raw.decode().strip().partition(" ")
            if word == "READY":
                self._ready.set_result(rest)
            elif word == "ACK":
                self.acks.append(rest)
        if not self._ready.done():
            self._ready.set_exception(RuntimeError(
                f"replica exited before READY: {self.log.read_text(errors='replace')[-2000:]}"))

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    async def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 15)
        await self._reader
        return code


async def until(what: str, probe: Callable[[], object], timeout: float = 20.0) -> object:
    """Retry ``probe`` (sync or async) until it returns something truthy without failing."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
        except (BrokerError, TrustError) as exc:
            last = exc
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def city_config(fed: LocalFederation, dsn: str, schema: str) -> Path:
    """The city's config as an operator writes it for replicas: PostgreSQL, fast polling."""
    path = fed.write_config(NodeSpec(
        CITY, "city", "七尾市", "Nanao City", http=False,
        extra_toml=f'[store]\nbackend = "postgresql"\ndsn = "{dsn}"\nschema = "{schema}"\n'))
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[trust]\n", "[trust]\ndirectory_poll_seconds = 1\n"),
                    encoding="utf-8")
    return path


def evacuation_agreement(directory_version: int) -> Agreement:
    now = int(time.time())
    return Agreement(
        id=AGREEMENT, provider=CITY, consumer=AGENCY, purpose=PURPOSE,
        entity_types=frozenset({"EvacuationSite"}),
        attributes={"EvacuationSite": frozenset({"name", "capacity", "location"})},
        area=None, not_before=now - 60, not_after=now + 86400, freshness_seconds=3600,
        rate_limits=RateLimits(100_000, 10_000_000), aggregate_only=False, k_threshold=1,
        onward_sharing=False, retention_days=30, directory_version=directory_version)


async def follow(channel: PeerChannel, cursor: list[int], events: list[Event]) -> None:
    """A subscriber: apply each change, then persist its cursor (here: ``cursor[0]``)."""
    request = SubscribeRequest(types=("EvacuationSite",), purpose=PURPOSE,
                               agreement_id=AGREEMENT, after_cursor=cursor[0],
                               heartbeat_seconds=1)
    async for event in channel.subscribe(request):
        if event.kind != "heartbeat":
            events.append((event.cursor, event.kind, event.entity_id))
        cursor[0] = event.cursor


@pytest.mark.timeout(90)
async def test_replicas_share_writes_survive_sigkill_and_notify_once(
        tmp_path: Path, pg_dsn: str, pg_schema: str) -> None:
    fed = LocalFederation(tmp_path / "federation")
    replicas: list[Replica] = []
    probe = PostgresStore(pg_dsn, schema=pg_schema)
    try:
        await fed.start_authority()
        consumer = await fed.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office",
                                               http=False))
        config_path = city_config(fed, pg_dsn, pg_schema)
        config = load_config(config_path)
        identity = init_identity(config)
        a = await Replica.start(config_path, tmp_path / "a.log", "--load", "a", "--count", "3000")
        b = await Replica.start(config_path, tmp_path / "b.log", "--load", "b", "--count", "400")
        replicas += [a, b]
        await probe.open()
        assert fed.authority is not None
        fed.authority.authority.admit(join_request(config, identity, [a.endpoint]))
        await fed.publish()

        # The operator countersigns through a third instance on the same store (what
        # `renkei agreement countersign` does); A and B learn of it through NOTIFY.
        operator = await Node.start(config)
        fed.nodes[CITY] = operator
        await until("the operator's directory", operator.refresh_directory)
        agreement = evacuation_agreement(consumer.directory.current.version)
        await until("A to take the proposal", lambda: consumer.exchange.propose(agreement))
        await until("the countersignature", lambda: operator.exchange.countersign(AGREEMENT))

        # One channel, and one token source, per replica: a token is bound to the connection
        # it was first presented on, and the replicas share the replay cache, so the same
        # token on a second connection is (rightly) refused as replayed.
        fingerprint = identity.tls_fingerprint
        through = {r: PeerChannel(PeerAddress(CITY, r.endpoint, (fingerprint,)),
                                  PeerTokens(TokenIssuer(AGENCY, consumer.identity.key,
                                                         consumer.clock, 60), consumer.clock, 60),
                                  4 * 1024 * 1024) for r in (a, b)}

        # A write through one replica is read through the other, both ways.
        for writer, reader in ((a, b), (b, a)):
            await until("an acknowledged write", lambda w=writer: w.acks)
            got = await until("a read through the other replica",
                              lambda r=reader, i=writer.acks[0]: through[r].get_entity(
                                  GetRequest(i, purpose=PURPOSE, agreement_id=AGREEMENT), 5))
            assert writer.acks[0].encode() in got.entity  # type: ignore[attr-defined]

        # Subscribe through A; kill A (SIGKILL) while it writes and streams; resume on B.
        cursor, events = [0], []
        stream = asyncio.create_task(follow(through[a], cursor, events))
        await until("events through A", lambda: len(events) >= 50)
        assert len(a.acks) < 3000, "A must still be writing when it is killed"
        a.kill()
        await a.proc.wait()
        with pytest.raises(PeerError):
            await asyncio.wait_for(stream, 10)
        stream = asyncio.create_task(follow(through[b], cursor, events))
        await until("B's writes", lambda: len(b.acks) == 400, timeout=40)
        head = await probe.last_change_cursor()
        await until("the subscriber to catch up", lambda: cursor[0] >= head, timeout=20)
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stream

        # No acknowledged write lost; at most A's one write in flight committed unacknowledged.
        stored = {e.id async for e in probe.scan_entities(EntityFilter())}
        acked = set(a.acks) | set(b.acks)
        assert acked <= stored and len(stored - acked) <= 1
        # Every change of the feed reached the subscriber once, in order; nothing else did.
        feed = [(c.cursor, c.kind, c.entity_id)
                for c in await probe.changes_after(0, ("EvacuationSite",), 100_000)]
        assert events == feed
        assert {entity_id for _, _, entity_id in events} == stored
        # One linear audit chain, written by A, B and the operator, verifies.
        report = await operator.audit.verify()
        assert report.ok, report
        assert report.checked >= len(acked)
        assert await b.stop() == 0
    finally:
        for replica in replicas:
            replica.kill()
        await fed.stop()
        await probe.close()
