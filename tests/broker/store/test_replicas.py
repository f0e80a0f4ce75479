"""Two replicas of one node, as ``renkei node run`` processes on one PostgreSQL schema.

The product runs as an operator runs it: one config file and one set of identity files for
both replicas (each given its own ports with ``--grpc-listen``/``--http-listen``), an API
client registered with ``renkei client add``, the agreement countersigned with ``renkei
agreement sign``, the chain checked with ``renkei audit verify``. Around them the federation
is real: an authority and a consumer agency (in this process), whose signed directory names
replica B as the city's gRPC endpoint.

- A write through one replica over HTTP is read through the other over HTTP and gRPC.
- Under HTTP load on both replicas (acknowledged = 201 received), with a subscriber streaming
  the change feed from A, A is killed with SIGKILL; the subscriber resumes on B from its own
  last applied cursor while B keeps taking writes.
- Afterwards every acknowledged write is readable through B (``GET /entities/{id}`` and the
  consumer's gRPC fan-out), only writes in flight at A may have committed unacknowledged, the
  subscriber received every change of the feed exactly once and in order, and ``renkei audit
  verify`` passes.

No timing is asserted: every wait is a generous deadline on a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broker.cli.main import build_parser
from broker.config import load_config
from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import BrokerError, PeerError
from broker.federation.grpc_client import PeerAddress, PeerChannel
from broker.identity import init_identity, join_request
from broker.node import Node
from broker.provider.cursor_tokens import CursorTokens
from broker.service.model import FederatedQuery, GetRequest, SubscribeRequest
from broker.store.base import EntityFilter
from broker.store.postgres import PostgresStore
from mappings.contexts import RENKEI_CONTEXT_URL
from trust.agreement_model import Agreement, RateLimits
from trust.errors import TrustError

REPO = Path(__file__).resolve().parents[3]
CITY, AGENCY, AGREEMENT, PURPOSE = "jp-172022", "jp-gov-cao", "agr-replicas", "disaster_response"
ENTITIES = "/ngsi-ld/v1/entities"
# A City OS application writing in the shared vocabulary says so (without it, NGSI-LD reads
# its names in the core context alone, and Renkei's terms would not be Renkei's).
RENKEI_LINK = (f'<{RENKEI_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; '
               'type="application/ld+json"')
READY = re.compile(r"^renkei node (\S+): gRPC (\S+) \((?:TLS|plaintext)\), HTTP (\S+); "
                   r"directory v(\d+)$")
WRITERS = 4  # concurrent HTTP writers per replica
Event = tuple[int, str, str]  # cursor, kind, entity id


async def renkei(*args: str, timeout: float = 60) -> tuple[int, str]:
    """Run one ``renkei`` command as a subprocess: (exit status, stdout + stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


class Replica:
    """One ``renkei node run`` process; its endpoints come from the line it prints when ready."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.grpc = ""
        self.http = ""

    @classmethod
    async def start(cls, config: Path, log: Path) -> Replica:
        with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "broker.cli.main", "node", "run", "--no-ingest",
                "--config", str(config), "--grpc-listen", "127.0.0.1:0",
                "--http-listen", "127.0.0.1:0", cwd=REPO,
                stdout=asyncio.subprocess.PIPE, stderr=stderr)
        replica = cls(proc, log)
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
            ready = READY.match(line)
            if ready is None:
                raise AssertionError(f"replica not ready: {line!r}; log: "
                                     f"{log.read_text(errors='replace')[-2000:]}")
        except BaseException:
            replica.kill()
            raise
        replica.grpc, replica.http = ready.group(2), ready.group(3)
        return replica

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    async def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 30)


class Writer:
    """HTTP load on one replica: ``WRITERS`` clients creating entities back to back.

    ``acked`` holds the ids whose 201 arrived; ``sent`` every id whose request was started.
    A connection error ends a client quietly (its replica was killed) and is kept in
    ``broken``; any other answer than 201 is a test failure.
    """

    def __init__(self, name: str, url: str, token: str) -> None:
        self.name, self.url, self.token = name, url, token
        self.acked: list[str] = []
        self.sent: set[str] = set()
        self.broken: list[BaseException] = []
        self.stop = asyncio.Event()
        self._next = 0
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def finish(self) -> None:
        self.stop.set()
        assert self._task is not None
        await asyncio.wait_for(self._task, 60)

    async def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Link": RENKEI_LINK}
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            await asyncio.gather(*(self._client(session) for _ in range(WRITERS)))

    async def _client(self, session: aiohttp.ClientSession) -> None:
        while not self.stop.is_set():
            entity = site(self.name, self._next)
            self._next += 1
            self.sent.add(entity["id"])
            try:
                async with session.post(self.url + ENTITIES, json=entity) as resp:
                    body = await resp.read()
            except (aiohttp.ClientError, OSError) as exc:
                self.broken.append(exc)
                return
            assert resp.status == 201, (self.name, resp.status, body[:500])
            self.acked.append(entity["id"])


def site(prefix: str, n: int) -> dict[str, Any]:
    lon, lat = 136.9 + (n % 100) / 1000, 37.0 + (n // 100) / 1000
    return {"id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{prefix}{n:05d}",
            "type": "EvacuationSite",
            "name": {"type": "LanguageProperty", "languageMap": {"ja": f"避難所{n}"}},
            "capacity": {"type": "Property", "value": 50 + n % 300},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [lon, lat]}}}


async def until(what: str, probe: Callable[[], object], timeout: float = 30.0) -> Any:
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
        except (BrokerError, TrustError, aiohttp.ClientError) as exc:
            last = exc
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def city_config(fed: LocalFederation, dsn: str, schema: str) -> Path:
    """The one config both replicas run, as an operator writes it: PostgreSQL, production
    listen addresses (each replica here overrides them on its command line), fast polling."""
    path = fed.write_config(NodeSpec(
        CITY, "city", "七尾市", "Nanao City",
        extra_toml=f'[store]\nbackend = "postgresql"\ndsn = "{dsn}"\nschema = "{schema}"\n'
                   # Replicas sit behind a load balancer that terminates TLS.
                   '[console]\nbehind_tls_proxy = true\n'))
    text = path.read_text(encoding="utf-8")
    for old, new in (('[grpc]\nlisten = "127.0.0.1:0"', '[grpc]\nlisten = "0.0.0.0:50051"'),
                     ('listen = "127.0.0.1:0"\ndev_open', 'listen = "0.0.0.0:8080"\ndev_open'),
                     ("[trust]\n", "[trust]\ndirectory_poll_seconds = 1\n")):
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
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


async def follow(channel: PeerChannel, cursor: list[int], events: list[Event],
                 tokens: CursorTokens, position: list[int]) -> None:
    """A subscriber: apply each change, then persist its cursor (here: ``cursor[0]``). The
    cursors are opaque tokens; the test opens them with the provider's key (``position``) to
    compare the events with the feed."""
    request = SubscribeRequest(types=("EvacuationSite",), purpose=PURPOSE,
                               agreement_id=AGREEMENT, after_cursor=cursor[0],
                               heartbeat_seconds=1)
    async for event in channel.subscribe(request):
        at = await tokens.open(event.cursor)
        if event.kind != "heartbeat":
            events.append((at, event.kind, event.entity_id))
        cursor[0], position[0] = event.cursor, at


async def http_get(session: aiohttp.ClientSession, url: str, entity_id: str
                   ) -> dict[str, Any] | None:
    """``GET /entities/{id}`` through one replica: the entity, or None when it is not found."""
    async with session.get(f"{url}{ENTITIES}/{entity_id}") as resp:
        if resp.status == 404:
            return None
        assert resp.status == 200, (resp.status, await resp.text())
        entity: dict[str, Any] = await resp.json(content_type=None)
        return entity


def test_run_takes_per_replica_listen_addresses() -> None:
    args = build_parser().parse_args(["node", "run", "--grpc-listen", "127.0.0.1:0",
                                      "--http-listen", "[::1]:8081"])
    assert (args.grpc_listen, args.http_listen) == ("127.0.0.1:0", "[::1]:8081")
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["node", "run", "--grpc-listen", "50051"])
    assert info.value.code == 2


@pytest.mark.timeout(180)
async def test_replicas_share_writes_survive_sigkill_and_notify_once(
        tmp_path: Path, pg_dsn: str, pg_schema: str) -> None:
    fed = LocalFederation(tmp_path / "federation")
    replicas: list[Replica] = []
    writers: list[Writer] = []
    channels: list[PeerChannel] = []
    probe = PostgresStore(pg_dsn, schema=pg_schema)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        await fed.start_authority()
        consumer = await fed.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office",
                                               http=False))
        config_path = city_config(fed, pg_dsn, pg_schema)
        config = load_config(config_path)
        identity = init_identity(config)
        cfg = str(config_path)

        # The API client is registered while A starts (migrations take turns under a lock);
        # B starts once A is up: both then hold the one API token key in the store.
        a_started = asyncio.create_task(Replica.start(config_path, tmp_path / "a.log"))
        try:
            code, out = await renkei("client", "add", "loadgen", "--purpose", PURPOSE,
                                     "--write", "--config", cfg)
        finally:
            replicas.append(a := await a_started)
        assert code == 0, out
        creds = dict(re.findall(r"^(client_id|client_secret):\s+(\S+)$", out, re.M))
        replicas.append(b := await Replica.start(config_path, tmp_path / "b.log"))
        for r in (a, b):  # the command-line listen addresses won over the config's
            assert r.grpc.startswith("127.0.0.1:") and not r.grpc.endswith(":50051"), r.grpc
            assert r.http.startswith("http://127.0.0.1:") and not r.http.endswith(":8080")
        await probe.open()

        # The directory names B as the city's endpoint (in production: the load balancer's
        # address); A is reached through channels of its own.
        assert fed.authority is not None
        fed.authority.authority.admit(join_request(config, identity, [b.grpc]))
        await fed.publish()
        agreement = evacuation_agreement(consumer.directory.current.version)
        await until("B to take the proposal", lambda: consumer.exchange.propose(agreement))
        # The city's entities arrive later, through the API: nothing of the type is held yet.
        code, out = await renkei("agreement", "sign", AGREEMENT, "--config", cfg,
                                 "--allow-unknown")
        assert code == 0 and "active" in out, out

        # One token from A's token endpoint serves on both replicas (one key in the store).
        async with http.post(a.http + "/oauth2/token", data={
                "grant_type": "client_credentials", **creds}) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["access_token"]
        api = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}",
                                             "Link": RENKEI_LINK},
                                    timeout=aiohttp.ClientTimeout(total=60))
        await http.close()
        http = api

        # A write through one replica over HTTP is read through the other over HTTP, and over
        # gRPC: B through the consumer's fan-out, A through a channel of its own.
        to_a = PeerChannel(PeerAddress(CITY, a.grpc, (identity.tls_fingerprint,)),
                           consumer.tokens, 4 * 1024 * 1024)
        to_b = PeerChannel(PeerAddress(CITY, b.grpc, (identity.tls_fingerprint,)),
                           consumer.tokens, 4 * 1024 * 1024)
        channels += [to_a, to_b]
        direct: list[str] = []
        for name, writer, reader in (("a", a, b), ("b", b, a)):
            entity = site(f"direct-{name}-", 0)
            async with http.post(writer.http + ENTITIES, json=entity) as resp:
                assert resp.status == 201, await resp.text()
            direct.append(entity["id"])
            got = await http_get(http, reader.http, entity["id"])
            assert got is not None and got["capacity"] == entity["capacity"]
            if reader is b:
                outcome = await until("the fan-out through B", functools.partial(
                    _fanout, consumer, FederatedQuery(ids=(entity["id"],), limit=1)))
                assert [e["id"] for e in outcome.entities] == [entity["id"]]
            else:
                ask = GetRequest(entity["id"], purpose=PURPOSE, agreement_id=AGREEMENT)
                result = await until("a gRPC read through A",
                                     functools.partial(to_a.get_entity, ask, 10))
                assert entity["id"].encode() in result.entity

        # Load on both replicas; a subscriber streams the feed from A; SIGKILL A mid-way.
        writers += [Writer("a", a.http, token), Writer("b", b.http, token)]
        load_a, load_b = writers
        for w in writers:
            w.start()
        cursor, events, position = [0], list[Event](), [0]
        tokens = CursorTokens(probe)
        stream = asyncio.create_task(follow(to_a, cursor, events, tokens, position))
        await until("writes and events through A",
                    lambda: len(load_a.acked) >= 100 and len(events) >= 100, timeout=60)
        a.kill()
        await asyncio.wait_for(a.proc.wait(), 30)
        with pytest.raises(PeerError):
            await asyncio.wait_for(stream, 30)
        await until("A's clients to notice", lambda: len(load_a.broken) == WRITERS)
        stream = asyncio.create_task(follow(to_b, cursor, events, tokens, position))
        acked_b_at_kill = len(load_b.acked)
        await until("B's writes after the kill",
                    lambda: len(load_b.acked) >= acked_b_at_kill + 100, timeout=60)
        await load_a.finish()
        await load_b.finish()
        assert not load_b.broken, load_b.broken
        head = await probe.last_change_cursor()
        await until("the subscriber to catch up on B", lambda: position[0] >= head, timeout=60)
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stream

        # No acknowledged write lost: all are in the store and readable through B, over HTTP
        # and through the consumer's fan-out. Only writes in flight at A when it died may have
        # committed without an acknowledgement.
        acked = set(direct) | set(load_a.acked) | set(load_b.acked)
        stored = {e.id async for e in probe.scan_entities(EntityFilter())}
        assert acked <= stored
        assert stored - acked <= load_a.sent - set(load_a.acked)
        assert len(stored - acked) <= WRITERS
        gate = asyncio.Semaphore(8)

        async def read_through_b(entity_id: str) -> dict[str, Any] | None:
            async with gate:
                return await http_get(http, b.http, entity_id)

        read_back = await asyncio.gather(*(read_through_b(i) for i in sorted(acked)))
        assert [e and e["id"] for e in read_back] == sorted(acked)
        outcome = await _fanout(consumer, FederatedQuery(types=("EvacuationSite",),
                                                         limit=10_000))
        assert [s.status for s in outcome.statuses] == ["ok"], outcome.statuses
        assert {e["id"] for e in outcome.entities} == stored

        # Every change of the feed reached the subscriber once, in order, across the failover.
        feed = [(c.cursor, c.kind, c.entity_id)
                for c in await probe.changes_after(0, ("EvacuationSite",), 100_000)]
        assert events == feed
        assert {entity_id for _, _, entity_id in events} == stored

        # One linear audit chain, written by A, B and the CLI, verifies (B's clean stop signs
        # a checkpoint of the head, which the verification checks too).
        assert await b.stop() == 0
        code, out = await renkei("audit", "verify", "--config", cfg)
        assert code == 0 and "audit log OK" in out, out
    finally:
        for w in writers:
            w.stop.set()
        for replica in replicas:
            replica.kill()
            await replica.proc.wait()
        for channel in channels:
            await channel.close()
        await http.close()
        await fed.stop()
        await probe.close()


async def _fanout(consumer: Node, query: FederatedQuery) -> Any:
    """The consumer's fan-out to the city (through the endpoint the directory names)."""
    outcome = await consumer.fanout.query(
        dataclasses.replace(query, purpose=PURPOSE), 20, peers=[CITY],
        agreements={CITY: AGREEMENT})
    return outcome if outcome.entities else None
