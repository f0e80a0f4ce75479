#!/usr/bin/env python3
"""National fan-out benchmark: an agency asks every municipality of Japan at once (1,741).

One command; prints ONE JSON object on stdout. The agency is the real product: a ``Node``
(SQLite store, signed directory, its fan-out, receipts verified and audited, the NGSI-LD HTTP
API with a client token). The cities are simulated, as the 2-core machine cannot hold 1,741
nodes: each city is a real gRPC server of its own, on its own loopback port, with its own TLS
certificate (pinned by the directory), its own signing key (in the directory), the product's
token check (``TokenAuthInterceptor`` + ``TokenVerifier``: signature, audience, expiry,
replay) and a few entities, and it signs a receipt for every answer that the agency verifies.
What a city does not do is the provider's policy engine and its own audit log (its receipt
names a stand-in log position): those are measured by ``bench/federation.py``. Several
hundred city servers share one worker process (``CITIES_PER_WORKER``).

Of the cities, 5% are stopped (their servers are shut down: connection refused), 5% are slow
(they answer well after the deadline) and 1% refuse (PERMISSION_DENIED, ``no_agreement``).
For 100, 500 and 1,741 cities, each size in a fresh process (so peak RSS is that size's):

- ``query``: ``node.fanout.query`` to every city, first with no connection open (cold), then
  again (warm); wall and CPU time of the agency process, statuses, entities;
- ``aggregate``: ``node.fanout.aggregate`` (count and sum of capacity) to every city;
- ``ngsild``: ``GET /ngsi-ld/v1/entities?type=EvacuationSite`` on the agency's HTTP API (the
  federated read through its agreements), with an ``NGSILD-Warning`` per city not answering;
- connections: the agency's open sockets before, at the peak of, and after the queries, and
  after the channels' idle timeout; the most calls any city saw at once, against the cap
  ``[federation] max_concurrent_calls``.

The baseline of each size is the deadline: every answer must come within deadline + 10%.

    python bench/national.py            # 100, 500 and 1,741 cities
    python bench/national.py --quick    # 50 cities (the test suite's smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402
import orjson  # noqa: E402

AGENCY = "jp-gov-fdma"
PURPOSE = "disaster_response"
TYPE = "EvacuationSite"
ENTITIES_PER_CITY = 5
CITIES_PER_WORKER = 450
MAX_MESSAGE = 4 * 1024 * 1024
SIZES = (100, 500, 1741)
PROFILE = False  # --profile


def city_ids(n: int) -> list[str]:
    return [f"jp-9{i:05d}" for i in range(n)]


def behaviours(cities: list[str], seed: int = 1741) -> dict[str, str]:
    """5% stopped, 5% slow, 1% refusing (at least one of each), the rest well."""
    n = len(cities)
    shuffled = cities[:]
    random.Random(seed).shuffle(shuffled)
    counts = [("stopped", max(1, round(n * 0.05))), ("slow", max(1, round(n * 0.05))),
              ("refuse", max(1, round(n * 0.01)))]
    out = {c: "ok" for c in cities}
    at = 0
    for kind, count in counts:
        for c in shuffled[at:at + count]:
            out[c] = kind
        at += count
    return out


def city_entities(city: str) -> list[bytes]:
    """The city's few EvacuationSites as compact JSON, ``id`` first (as providers send)."""
    rng = random.Random(city)
    out = []
    for i in range(ENTITIES_PER_CITY):
        out.append(orjson.dumps({
            "id": f"urn:ngsi-ld:{TYPE}:{city}:{i:03d}", "type": TYPE,
            "name": {"type": "LanguageProperty",
                     "languageMap": {"ja": f"避難所{i}", "en": f"Shelter {i}"}},
            "capacity": {"type": "Property", "value": rng.randint(10, 2000)},
            "location": {"type": "GeoProperty", "value": {
                "type": "Point", "coordinates": [round(129 + rng.random() * 16, 6),
                                                 round(31 + rng.random() * 14, 6)]}}}))
    return out


# -- worker: many simulated cities in one process -------------------------------------------

async def serve_cities(spec_file: Path) -> None:
    """Worker mode: serve the cities of ``spec_file`` until stdin closes.

    Protocol on stdin/stdout, one JSON line each: out ``{"ports": {city: port}}``; in
    ``{"directory": jws}`` (then tokens can be verified), ``{"stop": true}`` (shut the
    stopped cities down), ``{"stats": true}`` (out ``{"max_in_flight": n}``).
    """
    from broker.federation._pb import federation_pb2 as pb
    from broker.federation._pb import federation_pb2_grpc as pb_grpc
    from broker.federation.grpc_client import channel_options
    from broker.federation.interceptors import TokenAuthInterceptor, current_caller
    from broker.federation.status import abort
    from broker.service.aggregate import compute_groups, receipt_payload
    from trust.clock import SystemClock
    from trust.directory import DirectoryHolder
    from trust.errors import PolicyDenied
    from trust.keys import NodeKey
    from trust.receipts import digest_entities, make_receipt
    from trust.tokens import MemoryReplayCache, TokenPolicy, TokenVerifier

    logging.disable(logging.WARNING)
    spec = json.loads(spec_file.read_text())
    clock = SystemClock()
    holder = DirectoryHolder(spec["authority_jwk"])
    slow_seconds = spec["slow_seconds"]
    stats = {"in_flight": 0, "max_in_flight": 0}

    class City(pb_grpc.FederationServicer):  # type: ignore[misc]
        def __init__(self, city: str, key: NodeKey, behaviour: str) -> None:
            self.city, self.key, self.behaviour = city, key, behaviour
            self.entities = city_entities(city)
            self.log_size = 0

        async def _behave(self, context: Any) -> None:
            if self.behaviour == "refuse":
                await abort(context, PolicyDenied("no_agreement"))
            if self.behaviour == "slow":
                await asyncio.sleep(slow_seconds)

        def _receipt(self, consumer: str, agreement_id: str, count: int, digest: str,
                     request: bytes) -> str:
            # A stand-in audit position: the simulated city keeps no log of its own.
            self.log_size += 1
            entry = hashlib.sha256(b"%d" % self.log_size + request).hexdigest()
            return make_receipt(self.key, provider=self.city, consumer=consumer,
                                agreement_id=agreement_id or None, entry_hash=entry,
                                count=count, data_digest=digest,
                                request_digest=hashlib.sha256(request).hexdigest(),
                                now=clock.now(), log_size=self.log_size, log_root=entry)

        async def Query(self, request: Any, context: Any) -> None:
            caller = current_caller()
            stats["in_flight"] += 1
            stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
            try:
                await self._behave(context)
                # As the product's servicers do: writes, not a generator (the token
                # interceptor awaits the handler).
                await context.write(pb.QueryResponse(batch=pb.EntityBatch(
                    entities=self.entities)))
                receipt = self._receipt(caller.member_id, request.agreement_id,
                                        len(self.entities), digest_entities(self.entities),
                                        request.SerializeToString())
                await context.write(pb.QueryResponse(summary=pb.QuerySummary(
                    count=len(self.entities), receipt=pb.Receipt(jws=receipt))))
            finally:
                stats["in_flight"] -= 1

        async def Aggregate(self, request: Any, context: Any) -> Any:
            caller = current_caller()
            stats["in_flight"] += 1
            stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
            try:
                await self._behave(context)

                async def docs() -> Any:
                    for raw in self.entities:
                        yield orjson.loads(raw)

                groups, _ = await compute_groups(docs(), attribute=request.attribute,
                                                 group_by=request.group_by, city=self.city)
                payload = receipt_payload(groups)
                receipt = self._receipt(caller.member_id, request.agreement_id, len(payload),
                                        digest_entities(payload), request.SerializeToString())
                from broker.federation.codec import aggregate_result_to_pb
                from broker.service.model import AggregateResult
                return aggregate_result_to_pb(AggregateResult(self.city, tuple(groups),
                                                              receipt))
            finally:
                stats["in_flight"] -= 1

    servers: dict[str, Any] = {}
    ports: dict[str, int] = {}
    for c in spec["cities"]:
        verifier = TokenVerifier(c["id"], holder, TokenPolicy(), clock,
                                 MemoryReplayCache(clock))
        server = grpc.aio.server(interceptors=[TokenAuthInterceptor(verifier)],
                                 options=channel_options(MAX_MESSAGE))
        pb_grpc.add_FederationServicer_to_server(
            City(c["id"], NodeKey.from_private_jwk(c["key"]), c["behaviour"]), server)
        ports[c["id"]] = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials(
            [(c["tls_key"].encode(), c["cert"].encode())]))
        await server.start()
        servers[c["id"]] = server
    print(json.dumps({"ports": ports}), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        message = json.loads(line)
        if "directory" in message:
            holder.update(message["directory"], clock.now())
            print(json.dumps({"ok": True}), flush=True)
        elif message.get("stop"):
            await asyncio.gather(*(servers[c["id"]].stop(0) for c in spec["cities"]
                                   if c["behaviour"] == "stopped"))
            print(json.dumps({"ok": True}), flush=True)
        elif message.get("stats"):
            print(json.dumps({"max_in_flight": stats["max_in_flight"]}), flush=True)
    await asyncio.gather(*(s.stop(0) for s in servers.values()))


class Worker:
    """One worker process serving a share of the cities."""

    def __init__(self, spec_file: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--cities", str(spec_file)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        if not line:
            raise RuntimeError("a city worker exited")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return await self.read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


# -- the agency ------------------------------------------------------------------------------

def open_sockets() -> int:
    """Sockets this process holds open (gRPC's connections included: they are our fds)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


class SocketPeak:
    """The most sockets open at once while it runs (sampled every 20 ms)."""

    def __init__(self) -> None:
        self.peak = open_sockets()
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, open_sockets())
            await asyncio.sleep(0.02)

    def __enter__(self) -> SocketPeak:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *_: Any) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, open_sockets())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tally(statuses: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in statuses:
        out[s.status] = out.get(s.status, 0) + 1
    return dict(sorted(out.items()))


async def timed(run: Any) -> tuple[Any, float, float]:
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    result = await run
    return result, time.perf_counter() - t0, cpu_seconds() - cpu0


async def one_size(n: int, deadline: float, cap: int, idle: float) -> dict[str, Any]:
    """One federation of ``n`` cities and the agency; the figures of this size."""
    import aiohttp

    from broker.api.auth import ClientRegistry
    from broker.demo.harness import LocalFederation, NodeSpec
    from broker.service.model import AggregateQuery, FederatedQuery
    from broker.store.base import AgreementRow
    from trust.agreements import sign_agreement
    from trust.keys import NodeKey
    from trust.tls import certificate_fingerprint, make_node_certificate

    logging.disable(logging.WARNING)
    cities = city_ids(n)
    kinds = behaviours(cities)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="renkei-national-") as tmp:
        root = Path(tmp)
        fed = LocalFederation(root)
        workers: list[Worker] = []
        try:
            await fed.start_authority()
            extra = (f"\n[federation]\ndeadline_seconds = {deadline}\n"
                     f"max_concurrent_calls = {cap}\nidle_channel_seconds = {idle}\n"
                     "backoff_min_seconds = 0.2\nbackoff_max_seconds = 2\n")
            agency = await fed.add_node(NodeSpec(AGENCY, "agency", "消防庁", "FDMA",
                                                 extra_toml=extra))
            keys = {c: NodeKey.generate() for c in cities}
            tls = {c: make_node_certificate(c, [c, "127.0.0.1"]) for c in cities}
            shares = [cities[i:i + CITIES_PER_WORKER]
                      for i in range(0, n, CITIES_PER_WORKER)]
            for w, share in enumerate(shares):
                spec_file = root / f"worker-{w}.json"
                spec_file.write_text(json.dumps({
                    "authority_jwk": fed.authority.authority.public_jwk(),  # type: ignore
                    "slow_seconds": deadline * 3,
                    "cities": [{"id": c, "key": keys[c].private_jwk(), "behaviour": kinds[c],
                                "cert": tls[c][0].decode(), "tls_key": tls[c][1].decode()}
                               for c in share]}))
                workers.append(Worker(spec_file))
            ports: dict[str, int] = {}
            for worker in workers:
                ports.update((await worker.read())["ports"])
            authority = fed.authority.authority  # type: ignore[union-attr]
            authority.add_members(
                {"member_id": c, "name_ja": f"市町村{c[3:]}", "name_en": f"City {c[3:]}",
                 "role": "city", "endpoints": [f"127.0.0.1:{ports[c]}"],
                 "keys": [keys[c].public_jwk()],
                 "tls_fingerprints": [certificate_fingerprint(tls[c][0])]} for c in cities)
            await fed.publish()
            jws = authority.published()
            for worker in workers:
                await worker.ask({"directory": jws})
            # The agency's agreements with every city, signed by both (as the exchange would
            # leave them), written to its store and loaded once.
            agreements: dict[str, str] = {}
            for c in cities:
                terms = fed.agreement(provider=c, consumer=AGENCY, agreement_id=f"agr-{c}",
                                      purpose=PURPOSE, types={TYPE: ["name", "location",
                                                                     "capacity"]})
                signed = sign_agreement(sign_agreement(terms, c, keys[c]), AGENCY,
                                        agency.identity.key)
                await agency.store.put_agreement(AgreementRow(
                    terms.id, c, AGENCY, terms.canonical_bytes(), dict(signed.signatures),
                    None, time.time()))
                agreements[c] = terms.id
            await agency.agreements.load()
            active = sum(1 for c in cities if agency.agreements.active_with(c, PURPOSE))
            if active != n:
                raise RuntimeError(f"only {active} of {n} agreements are active")
            for worker in workers:
                await worker.ask({"stop": True})
            setup_s = time.perf_counter() - started

            sockets_before = open_sockets()
            query = FederatedQuery(types=(TYPE,), purpose=PURPOSE)
            runs: dict[str, Any] = {}
            with SocketPeak() as peak:
                for name in ("query_cold", "query_warm"):
                    profiler = start_profile() if PROFILE else None
                    outcome, wall, cpu = await timed(agency.fanout.query(
                        query, deadline, peers=cities, agreements=agreements))
                    if profiler is not None:
                        profiler.stop()
                        print(f"== {name}\n" + profiler.output_text(unicode=False),
                              file=sys.stderr)
                    runs[name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                                  "over_deadline": round(wall / deadline, 3),
                                  "statuses": tally(outcome.statuses),
                                  "status_per_city": len(outcome.statuses) == n,
                                  "entities": len(outcome.docs)}
                aggregate = AggregateQuery(types=(TYPE,), attribute="capacity",
                                           functions=("count", "sum"), purpose=PURPOSE)
                result, wall, cpu = await timed(agency.fanout.aggregate(
                    aggregate, deadline, peers=cities, agreements=agreements))
                runs["aggregate"] = {
                    "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                    "over_deadline": round(wall / deadline, 3),
                    "statuses": tally(result.statuses),
                    "status_per_city": len(result.statuses) == n,
                    "count": sum(g.count for g in result.groups)}
                runs["ngsild"] = await ngsild_read(agency, ClientRegistry, aiohttp, deadline)
            sockets_peak = peak.peak
            receipts = await receipts_checked(agency.store)
            # Channels drop their connections after ``idle`` seconds without a call; the
            # backed-off slow cities are still probed (health checks), so theirs may stay.
            kept = sum(1 for k in kinds.values() if k == "slow") + 2
            idle_started = time.perf_counter()
            while (sockets_idle := open_sockets()) > sockets_before + kept \
                    and time.perf_counter() - idle_started < 3 * idle + 10:
                await asyncio.sleep(0.25)
            idle_closed_s = time.perf_counter() - idle_started
            in_flight = max([(await w.ask({"stats": True}))["max_in_flight"]
                             for w in workers])
        finally:
            for worker in workers:
                worker.close()
            await fed.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    answering = sum(1 for k in kinds.values() if k == "ok")
    return {
        "cities": n, "deadline_s": deadline,
        "behaviours": {k: sum(1 for v in kinds.values() if v == k)
                       for k in ("ok", "stopped", "slow", "refuse")},
        "worker_processes": len(shares), "setup_s": round(setup_s, 1),
        **runs,
        "expected_ok": answering,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "sockets": {"before": sockets_before, "peak": sockets_peak,
                    "after_idle_timeout": sockets_idle, "may_stay_open": kept,
                    "seconds_until_closed": round(idle_closed_s, 1)},
        "receipts": receipts,
        "max_concurrent_calls": cap, "idle_channel_seconds": idle,
        "most_calls_in_flight_at_cities": in_flight,
    }


async def receipts_checked(store: Any) -> dict[str, int]:
    """The agency's audit log: receipts verified and kept, receipts refused."""
    out = {"verified": 0, "refused": 0}
    after = 0
    while rows := await store.audit_rows(after):
        for row in rows:
            entry = orjson.loads(row.body)
            if entry.get("operation") == "receipt":
                out["verified" if entry.get("decision") == "receipt" else "refused"] += 1
        after = rows[-1].seq
    return out


async def ngsild_read(agency: Any, registry: Any, aiohttp: Any, deadline: float
                      ) -> dict[str, Any]:
    """The federated read through the agency's NGSI-LD API (one page of its maximum size)."""
    client_id, secret = await registry(agency.store, agency.clock).add("bench", PURPOSE)
    async with aiohttp.ClientSession() as session:
        async with session.post(agency.http.url + "/oauth2/token", data={
                "grant_type": "client_credentials", "client_id": client_id,
                "client_secret": secret}) as r:
            token = (await r.json())["access_token"]
        limit = agency.config.http.max_page_size
        url = f"{agency.http.url}/ngsi-ld/v1/entities?type={TYPE}&limit={limit}"
        headers = {"Authorization": f"Bearer {token}", "Link": (
            '<https://w3id.org/renkei/v1/context.jsonld>; '
            'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"')}
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        async with session.get(url, headers=headers) as resp:
            body = await resp.read()
            warnings = resp.headers.getall("NGSILD-Warning", [])
            status = resp.status
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return {"status": status, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "over_deadline": round(wall / deadline, 3), "limit": limit,
            "entities": len(orjson.loads(body)) if status == 200 else 0,
            "warning_lines": len(warnings), "peers_warned": sum(peers_named(w) for w in warnings),
            "response_bytes": len(body)}


def peers_named(warning: str) -> int:
    """How many peers an ``NGSILD-Warning`` value stands for (one, or a grouped line's N)."""
    match = re.match(r'199 renkei "[^:]*: .*?: (\d+) peers: ', warning)
    return int(match[1]) if match else 1


def start_profile() -> Any:
    """``--profile``: a pyinstrument profile of the agency's process (on stderr)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    return profiler


def run_size(n: int, deadline: float, cap: int, idle: float) -> dict[str, Any]:
    """One size in a fresh process, so that its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, "--size", str(n), "--deadline",
                          str(deadline), "--cap", str(cap), "--idle", str(idle)],
                         stdout=subprocess.PIPE, check=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def within(run: dict[str, Any]) -> bool:
    return bool(run["over_deadline"] <= 1.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 cities (smoke run)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--deadline", type=float, default=5.0)
    parser.add_argument("--cap", type=int, default=256, help="max_concurrent_calls")
    parser.add_argument("--idle", type=float, default=3.0, help="idle_channel_seconds")
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cities", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true",
                        help="with --size: pyinstrument profiles of the queries on stderr")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    if args.cities:
        asyncio.run(serve_cities(args.cities))
        return
    if args.size:
        print(json.dumps(asyncio.run(one_size(args.size, args.deadline, args.cap, args.idle))))
        return
    if args.quick:
        sizes, deadline, cap = [50], 2.0, 16
    else:
        sizes, deadline, cap = [int(s) for s in args.sizes.split(",")], args.deadline, args.cap
    results = [run_size(n, deadline, cap, args.idle) for n in sizes]
    checks = {str(r["cities"]): {
        "answers_within_deadline_plus_10pct": all(within(r[k]) for k in (
            "query_cold", "query_warm", "aggregate", "ngsild")),
        "one_status_per_city": all(r[k]["status_per_city"] for k in (
            "query_cold", "query_warm", "aggregate")),
        "calls_capped": r["most_calls_in_flight_at_cities"] <= r["max_concurrent_calls"],
        "ngsild_warns_for_every_silent_city": r["ngsild"]["peers_warned"]
        == r["cities"] - r["expected_ok"],
        "receipts_all_verified": r["receipts"]["refused"] == 0,
        "connections_closed_when_idle": r["sockets"]["after_idle_timeout"]
        <= r["sockets"]["before"] + r["sockets"]["may_stay_open"],
    } for r in results}
    print(json.dumps({
        "benchmark": "national", "quick": args.quick, "sizes": results, "checks": checks,
        "what": "real agency Node; cities simulated as real gRPC servers (TLS, pinned "
                "certificate, token check, signed receipts, a few entities), "
                f"{CITIES_PER_WORKER} per worker process",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "grpc": grpc.__version__, "platform": platform.platform()},
    }))


if __name__ == "__main__":
    main()
