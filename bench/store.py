"""Store throughput, SQLite vs PostgreSQL, one and two replicas: prints ONE JSON object.

    python bench/store.py [--quick] [--entities N] [--seconds S] [--rounds R]
                          [--connections C] [--pg-dsn DSN]

Configurations: SQLite with one node, PostgreSQL with one and with two replicas on one schema.
For each, on a fresh store:

- ingest: synthetic normalized EvacuationSite entities upserted through
  ``Store.commit_batch`` (the ingest path: entities, run counters, source position, change
  feed) in batches of 500; with two replicas, two processes ingest disjoint halves at the same
  time; rows/s over the wall time from the common start to the last commit;
- read: ``GET /ngsi-ld/v1/entities?type=EvacuationSite&limit=100`` over HTTP with a bearer
  token and the Renkei context ``Link`` header (the pass-through fast path), answered by real
  ``renkei node run --no-ingest`` processes on that store (two of them sharing one config,
  each with its own ports from ``--grpc-listen``/``--http-listen``), after planner statistics
  are gathered (ANALYZE, as autovacuum does soon after a bulk load). The load generator is
  one separate process (aiohttp, keep-alive) whose connections are split evenly between the
  replicas (no load balancer); requests/s of 200 responses.

Each figure is the median of ``--rounds`` interleaved rounds (samples listed too), also given
as a ratio to SQLite with one replica measured in the same run. PostgreSQL unreachable: its
rows are null, with the reason. Two nodes on one SQLite file are not a supported deployment
and are not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import platform
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker.store.base import EntityWrite, Store  # noqa: E402
from broker.store.postgres import PostgresStore  # noqa: E402
from broker.store.sqlite import SqliteStore  # noqa: E402

BATCH = 500
PAGE = 100
TYPE = "EvacuationSite"
NODE_ID = "jp-172022"
PATH = f"/ngsi-ld/v1/entities?type={TYPE}&limit={PAGE}"
LINK = ('<https://w3id.org/renkei/v1/context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; '
        'type="application/ld+json"')
READY = re.compile(r"^renkei node \S+: gRPC \S+ \(TLS\), HTTP (\S+); directory v\d+$")
CONFIGS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2))
RATIOS = {"ingest_rows_per_s": "ingest_ratio", "get_entities_req_per_s": "get_entities_ratio"}
READ_PATH = (f"HTTP GET {PATH} with a bearer token, Accept: application/json and the Renkei "
             "context Link header (the pass-through fast path): the first page of 100 "
             "entities, served by `renkei node run --no-ingest` processes (the node has no "
             "peers, so the query is local); the whole API stack is included (token check, "
             "parsing, store query, response). With two replicas the client's connections are "
             "split evenly between them.")
INGEST_PATH = ("Store.commit_batch in batches of 500 (entities, run counters, source position, "
               "change feed), one process per replica ingesting disjoint halves at once")


def site(n: int) -> EntityWrite:
    """One normalized EvacuationSite, serialized as the ingest path does (sorted keys)."""
    lon, lat = 136.5 + (n % 997) / 1000, 36.8 + (n // 997) / 1000
    entity = {
        "id": f"urn:ngsi-ld:EvacuationSite:jp-172022:{n:07d}", "type": TYPE,
        "name": {"type": "LanguageProperty",
                 "languageMap": {"ja": f"第{n}避難所", "en": f"Shelter {n}"}},
        "address": {"type": "Property", "value": {"addressLocality": "七尾市",
                                                  "streetAddress": f"{n}番地"}},
        "capacity": {"type": "Property", "value": 50 + n % 500},
        "suitableFor": {"type": "Property", "value": ["flood", "earthquake", "tsunami"]},
        "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                      "coordinates": [lon, lat]}},
    }
    raw = orjson.dumps(entity, option=orjson.OPT_SORT_KEYS)
    return EntityWrite(entity["id"], TYPE, raw, hashlib.sha256(raw).hexdigest(),
                       (lon, lat, lon, lat))


def make_store(backend: str, where: str) -> Store:
    if backend == "sqlite":
        return SqliteStore(where)
    dsn, schema = where.split("#", 1)
    return PostgresStore(dsn, schema=schema)


# -- ingest: one process per replica ----------------------------------------------------------
def ingester(backend: str, where: str, rows: tuple[int, int], pipe: Connection) -> None:
    asyncio.run(_ingester(backend, where, rows, pipe))


async def _ingester(backend: str, where: str, rows: tuple[int, int], pipe: Connection) -> None:
    store = make_store(backend, where)
    await store.open()
    try:
        writes = [site(n) for n in range(*rows)]
        pipe.send("ready")
        pipe.recv()  # go
        started = time.time()
        run = await store.start_run(f"bench-{rows[0]}", "synthetic.csv", started)
        for i in range(0, len(writes), BATCH):
            batch = writes[i:i + BATCH]
            await store.commit_batch(run, f"bench-{rows[0]}", batch, [], str(i + len(batch)),
                                     read=len(batch), now=time.time())
        await store.finish_run(run, time.time())
        pipe.send((started, time.time()))
    finally:
        await store.close()


def ingest(backend: str, where: str, replicas: int, total: int) -> float:
    """Rows/s of ``replicas`` processes ingesting ``total`` entities between them."""
    ctx = multiprocessing.get_context("spawn")
    share = total // replicas
    pipes, procs = [], []
    for r in range(replicas):
        rows = (r * share, total if r == replicas - 1 else (r + 1) * share)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=ingester, args=(backend, where, rows, child))
        proc.start()
        child.close()  # else a process's death never reads as EOF here
        pipes.append(parent)
        procs.append(proc)
    try:
        for pipe in pipes:
            if pipe.recv() != "ready":
                raise RuntimeError("ingest process failed to start")
        for pipe in pipes:
            pipe.send("go")
        spans = [pipe.recv() for pipe in pipes]
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    return total / (max(end for _, end in spans) - min(start for start, _ in spans))


# -- read: renkei node run processes and an HTTP load generator -------------------------------
def node_files(root: Path) -> Path:
    """A node directory with an identity (key, TLS certificate) and an authority key."""
    from broker.config import load_config
    from broker.identity import init_identity
    from trust.keys import NodeKey

    root.mkdir(parents=True, exist_ok=True)
    (root / "authority.jwk.json").write_text(json.dumps(NodeKey.generate().public_jwk()))
    init_identity(load_config(write_config(root, "sqlite", str(root / "unused.db"))))
    return root


def write_config(root: Path, backend: str, where: str) -> Path:
    """The one config every replica of a configuration runs; listen addresses come from the
    command line, as for replicas sharing a host."""
    if backend == "sqlite":
        store = f'backend = "sqlite"\npath = "{where}"'
    else:
        dsn, schema = where.split("#", 1)
        store = f'backend = "postgresql"\ndsn = "{dsn}"\nschema = "{schema}"'
    path = root / f"{backend}.toml"
    path.write_text(f"""[node]
id = "{NODE_ID}"
role = "city"
data_dir = "."

[grpc]
listen = "127.0.0.1:50051"

[http]
listen = "127.0.0.1:8080"

[trust]
authority_jwk = "authority.jwk.json"

[store]
{store}
""", encoding="utf-8")
    return path


async def start_node(config: Path, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", "node", "run", "--no-ingest",
        "--config", str(config), "--grpc-listen", "127.0.0.1:0", "--http-listen",
        "127.0.0.1:0", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=log.open("ab"))
    assert proc.stdout is not None
    line = ""
    with contextlib.suppress(TimeoutError):
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    ready = READY.match(line)
    if ready is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise RuntimeError(f"renkei node run did not start: {line!r}; see {log}")
    return proc, ready.group(1)


async def read(backend: str, where: str, replicas: int, root: Path, seconds: float,
               connections: int) -> dict[str, Any]:
    """Requests/s of ``GET /entities?type=T&limit=100`` through ``replicas`` node processes."""
    from broker.api.auth import ClientRegistry
    from trust.clock import SystemClock

    store = make_store(backend, where)
    await store.open()
    try:
        client_id, secret = await ClientRegistry(store, SystemClock()).add(
            "bench", "disaster_response")
    finally:
        await store.close()
    config = write_config(root, backend, where)
    procs: list[asyncio.subprocess.Process] = []
    urls: list[str] = []
    try:
        # One after the other: the first creates the API token key in the store, the others
        # read it (two starting at once could each create one; see deployment.md).
        for _ in range(replicas):
            proc, url = await start_node(config, root / "node.log")
            procs.append(proc)
            urls.append(url)
        async with aiohttp.ClientSession() as session:
            async with session.post(urls[0] + "/oauth2/token", data={
                    "grant_type": "client_credentials", "client_id": client_id,
                    "client_secret": secret}) as resp:
                token = (await resp.json())["access_token"]
            for url in urls:  # every replica answers, with a full page, before the clock runs
                async with session.get(url + PATH, headers=headers(token)) as resp:
                    page = await resp.json(content_type=None)
                    if resp.status != 200 or len(page) != PAGE:
                        raise RuntimeError(f"{url}: {resp.status} {str(page)[:300]}")
        load = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--load", ",".join(urls), "--token", token,
            "--seconds", str(seconds), "--connections", str(connections),
            stdout=asyncio.subprocess.PIPE)
        out, _ = await load.communicate()
        return dict(json.loads(out))
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "Link": LINK}


async def load(urls: list[str], token: str, seconds: float, connections: int
               ) -> dict[str, Any]:
    """The load generator (its own process): ``connections`` keep-alive clients looping on
    the page, split evenly between ``urls``."""
    done = errors = 0
    latencies: list[float] = []
    hdrs = headers(token)
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections)) as session:
        stop_at = time.monotonic() + seconds

        async def client(url: str) -> None:
            nonlocal done, errors
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    async with session.get(url + PATH, headers=hdrs) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                done, errors = (done + 1, errors) if ok else (done, errors + 1)

        started = time.monotonic()
        await asyncio.gather(*(client(urls[i % len(urls)]) for i in range(connections)))
        elapsed = time.monotonic() - started
    latencies.sort()

    def ms(q: float) -> float | None:
        return round(latencies[int((len(latencies) - 1) * q)] * 1000, 1) if latencies else None

    return {"requests": done, "errors": errors, "req_per_s": round(done / elapsed, 1),
            "p50_ms": ms(0.5), "p99_ms": ms(0.99)}


# -- one configuration ----------------------------------------------------------------------
def measure(backend: str, where: str, replicas: int, total: int, seconds: float,
            connections: int, root: Path) -> dict[str, Any]:
    asyncio.run(prepare(backend, where))
    ingest_rate = ingest(backend, where, replicas, total)
    analyze(backend, where)
    reads = asyncio.run(read(backend, where, replicas, root, seconds, connections))
    if reads["errors"]:
        raise RuntimeError(f"{backend} x{replicas}: {reads['errors']} failed requests")
    return {"replicas": replicas, "ingest_rows_per_s": round(ingest_rate, 1),
            "get_entities_req_per_s": reads["req_per_s"], "p50_ms": reads["p50_ms"],
            "p99_ms": reads["p99_ms"]}


async def prepare(backend: str, where: str) -> None:
    """Create and migrate the store before the replicas start, as `renkei db migrate` does
    before a rollout (SQLite cannot switch a new file to WAL from two processes at once)."""
    store = make_store(backend, where)
    await store.open()
    await store.close()


def analyze(backend: str, where: str) -> None:
    """Planner statistics, as autovacuum (PostgreSQL) or ``PRAGMA optimize`` (SQLite) would
    have them shortly after a bulk load: reads are measured in that steady state."""
    if backend == "sqlite":
        with sqlite3.connect(where) as db:
            db.execute("ANALYZE")
        return

    async def run() -> None:
        import asyncpg

        dsn, schema = where.split("#", 1)
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(f"ANALYZE {schema}.entities")
        finally:
            await conn.close()

    asyncio.run(run())


async def pg_available(dsn: str) -> tuple[str | None, str]:
    """(server version, "") when PostgreSQL answers, else (None, reason)."""
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except Exception as exc:  # any failure means "not measured", with the reason
        return None, f"PostgreSQL unreachable at {dsn}: {type(exc).__name__}: {exc}"
    try:
        return str(await conn.fetchval("SHOW server_version")), ""
    finally:
        await conn.close()


async def pg_drop(dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


def run_config(backend: str, replicas: int, tmp: Path, round_no: int, dsn: str, total: int,
               seconds: float, connections: int) -> dict[str, Any]:
    """One measurement of one configuration on a fresh store."""
    if backend == "sqlite":
        return measure(backend, str(tmp / f"{backend}_{replicas}_{round_no}.db"), replicas,
                       total, seconds, connections, tmp / "node")
    schema = f"renkei_bench_{os.getpid()}_{replicas}_{round_no}"
    try:
        return measure(backend, f"{dsn}#{schema}", replicas, total, seconds, connections,
                       tmp / "node")
    finally:
        asyncio.run(pg_drop(dsn, schema))


def summarize(samples: dict[str, list[dict[str, Any]]], pg_reason: str) -> dict[str, Any]:
    """Medians, samples and ratios to SQLite x1 per configuration."""
    results: dict[str, Any] = {}
    for key, runs in samples.items():
        results[key] = {"replicas": runs[0]["replicas"]}
        for metric in (*RATIOS, "p50_ms", "p99_ms"):
            results[key][metric] = statistics.median(run[metric] for run in runs)
            if metric in RATIOS:
                results[key][metric.replace("_per_s", "_samples")] = [run[metric]
                                                                      for run in runs]
    for backend, replicas in CONFIGS:
        results.setdefault(f"{backend}_{replicas}", {
            "replicas": replicas, "ingest_rows_per_s": None, "get_entities_req_per_s": None,
            "skipped": pg_reason})
    base = results["sqlite_1"]
    for row in results.values():
        for metric, ratio in RATIOS.items():
            value = row[metric]
            row[ratio] = None if value is None else round(value / base[metric], 2)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes")
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="read phase per config")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over all configurations; medians are reported")
    parser.add_argument("--connections", type=int, default=32,
                        help="HTTP connections of the load generator, split between replicas")
    parser.add_argument("--pg-dsn", default=os.environ.get(
        "RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args(argv)
    total, seconds, rounds, connections = (
        (600, 0.5, 1, 4) if args.quick
        else (args.entities, args.seconds, args.rounds, args.connections))
    pg_version, pg_reason = asyncio.run(pg_available(args.pg_dsn))
    configs = [(b, r) for b, r in CONFIGS if b == "sqlite" or pg_version is not None]
    samples: dict[str, list[dict[str, Any]]] = {f"{b}_{r}": [] for b, r in configs}
    load_average = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="renkei-bench-") as tmp:
        node_files(Path(tmp) / "node")
        # Rounds interleave the configurations, so that load from elsewhere on the machine
        # falls on all of them alike; the median of each figure is reported.
        for round_no in range(rounds):
            for backend, replicas in configs:
                samples[f"{backend}_{replicas}"].append(run_config(
                    backend, replicas, Path(tmp), round_no, args.pg_dsn, total, seconds,
                    connections))
    return {
        "benchmark": "store", "quick": args.quick, "entities": total, "batch": BATCH,
        "page_size": PAGE, "read_seconds": seconds, "connections": connections,
        "rounds": rounds, "statistic": "median", "baseline": "sqlite_1",
        "ingest_path": INGEST_PATH, "read_path": READ_PATH,
        "client": "aiohttp, one separate process, keep-alive connections split evenly "
                  "between the replicas",
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "sqlite": sqlite3.sqlite_version, "postgresql": pg_version,
                        "load_average_at_start": load_average},
        "results": summarize(samples, pg_reason),
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":  # the load generator process
        load_args = argparse.ArgumentParser()
        load_args.add_argument("--load", required=True)
        load_args.add_argument("--token", required=True)
        load_args.add_argument("--seconds", type=float, required=True)
        load_args.add_argument("--connections", type=int, required=True)
        a = load_args.parse_args()
        print(json.dumps(asyncio.run(load(a.load.split(","), a.token, a.seconds,
                                          a.connections))))
    else:
        print(json.dumps(main(), ensure_ascii=False))
