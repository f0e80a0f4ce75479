"""Store throughput, SQLite vs PostgreSQL, one and two replicas: prints ONE JSON object.

    python bench/store.py [--quick] [--entities N] [--seconds S] [--pg-dsn DSN]

For each configuration (SQLite and PostgreSQL, one and two replica processes on one store):

- ingest: synthetic normalized EvacuationSite entities upserted through
  ``Store.commit_batch`` (the ingest path: entities, run counters, source position, change
  feed) in batches of 500; replicas ingest disjoint halves at the same time; rows/s over the
  wall time from the common start to the last commit;
- read: ``Store.scan_entities(type=EvacuationSite)``, one page of 100 from a random id, the
  store query behind ``GET /entities?type=EvacuationSite&limit=100``; every replica loops for
  the same duration, after planner statistics are gathered (ANALYZE, as autovacuum does soon
  after a bulk load); requests/s summed over replicas. (The HTTP API is not on this branch:
  this measures the store path only; the JSON says so.)

Each figure is the median of ``--rounds`` interleaved rounds (samples listed too), also given
as a ratio to SQLite with one replica measured in the same run.
Replicas are processes (spawned), each with its own store connection(s), as in production.
Two processes on one SQLite file work (WAL, busy timeout) but are not a supported deployment;
that row is there for comparison. PostgreSQL unreachable: its rows are null, with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker.store.base import EntityFilter, EntityWrite, Store  # noqa: E402
from broker.store.postgres import PostgresStore  # noqa: E402
from broker.store.sqlite import SqliteStore  # noqa: E402

BATCH = 500
PAGE = 100
TYPE = "EvacuationSite"
RATIOS = {"ingest_rows_per_s": "ingest_ratio", "get_entities_req_per_s": "get_entities_ratio"}
READ_PATH = ("Store.scan_entities(types=('EvacuationSite',)), one page of 100 from a random "
             "id: the store query behind GET /entities?type=EvacuationSite&limit=100. The HTTP "
             "API is not merged on this branch, so HTTP parsing and encoding are not included.")


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


# -- one replica process --------------------------------------------------------------------
def replica(backend: str, where: str, rows: tuple[int, int], total: int, seconds: float,
            pipe: Connection) -> None:
    asyncio.run(_replica(backend, where, rows, total, seconds, pipe))


async def _replica(backend: str, where: str, rows: tuple[int, int], total: int,
                   seconds: float, pipe: Connection) -> None:
    store = make_store(backend, where)
    await store.open()
    try:
        writes = [site(n) for n in range(*rows)]
        pipe.send("ready")
        pipe.recv()  # go: ingest
        started = time.time()
        run = await store.start_run(f"bench-{rows[0]}", "synthetic.csv", started)
        for i in range(0, len(writes), BATCH):
            batch = writes[i:i + BATCH]
            await store.commit_batch(run, f"bench-{rows[0]}", batch, [], str(i + len(batch)),
                                     read=len(batch), now=time.time())
        await store.finish_run(run, time.time())
        pipe.send((started, time.time()))
        pipe.recv()  # go: read
        rng = random.Random(rows[0])
        ids = [site(n).id for n in rng.sample(range(total), min(total, 512))]
        done, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = ids[done % len(ids)]
            page = 0
            async for _ in store.scan_entities(EntityFilter(types=(TYPE,), after_id=start),
                                               chunk=PAGE):
                page += 1
                if page == PAGE:
                    break
            done += 1
        pipe.send(done)
    finally:
        await store.close()


# -- one configuration ----------------------------------------------------------------------
def measure(backend: str, where: str, replicas: int, total: int,
            seconds: float) -> dict[str, Any]:
    asyncio.run(prepare(backend, where))
    ctx = multiprocessing.get_context("spawn")
    share = total // replicas
    pipes, procs = [], []
    for r in range(replicas):
        rows = (r * share, total if r == replicas - 1 else (r + 1) * share)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=replica, args=(backend, where, rows, total, seconds, child))
        proc.start()
        child.close()  # else a replica's death never reads as EOF here
        pipes.append(parent)
        procs.append(proc)
    try:
        for pipe in pipes:
            if pipe.recv() != "ready":
                raise RuntimeError("replica failed to start")
        for pipe in pipes:
            pipe.send("go")
        spans = [pipe.recv() for pipe in pipes]
        ingest_seconds = max(end for _, end in spans) - min(start for start, _ in spans)
        analyze(backend, where)
        for pipe in pipes:
            pipe.send("go")
        requests = sum(pipe.recv() for pipe in pipes)
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    return {"replicas": replicas, "ingest_rows_per_s": round(total / ingest_seconds, 1),
            "get_entities_req_per_s": round(requests / seconds, 1)}


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
               seconds: float) -> dict[str, Any]:
    """One measurement of one configuration on a fresh store."""
    if backend == "sqlite":
        return measure(backend, str(tmp / f"{backend}_{replicas}_{round_no}.db"), replicas,
                       total, seconds)
    schema = f"renkei_bench_{os.getpid()}_{replicas}_{round_no}"
    try:
        return measure(backend, f"{dsn}#{schema}", replicas, total, seconds)
    finally:
        asyncio.run(pg_drop(dsn, schema))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes")
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="read phase per config")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over all configurations; medians are reported")
    parser.add_argument("--pg-dsn", default=os.environ.get(
        "RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args(argv)
    total, seconds, rounds = (600, 0.3, 1) if args.quick else (args.entities, args.seconds,
                                                               args.rounds)
    pg_version, pg_reason = asyncio.run(pg_available(args.pg_dsn))
    configs = [(b, r) for b in ("sqlite", "postgresql") for r in (1, 2)
               if b == "sqlite" or pg_version is not None]
    samples: dict[str, list[dict[str, Any]]] = {f"{b}_{r}": [] for b, r in configs}
    with tempfile.TemporaryDirectory(prefix="renkei-bench-") as tmp:
        # Rounds interleave the configurations, so that load from elsewhere on the machine
        # falls on all of them alike; the median of each figure is reported.
        for round_no in range(rounds):
            for backend, replicas in configs:
                samples[f"{backend}_{replicas}"].append(run_config(
                    backend, replicas, Path(tmp), round_no, args.pg_dsn, total, seconds))
    results: dict[str, Any] = {}
    for key, runs in samples.items():
        results[key] = {"replicas": runs[0]["replicas"]}
        for metric in RATIOS:
            results[key][metric] = statistics.median(run[metric] for run in runs)
            results[key][metric.replace("_per_s", "_samples")] = [run[metric] for run in runs]
    for replicas in (1, 2):
        results.setdefault(f"postgresql_{replicas}", {
            "replicas": replicas, "ingest_rows_per_s": None, "get_entities_req_per_s": None,
            "skipped": pg_reason})
    base = results["sqlite_1"]
    for row in results.values():
        for metric, ratio in RATIOS.items():
            value = row[metric]
            row[ratio] = None if value is None else round(value / base[metric], 2)
    results["sqlite_2"]["note"] = ("two processes on one SQLite file: for comparison only, "
                                   "not a supported deployment")
    return {
        "benchmark": "store", "quick": args.quick, "entities": total, "batch": BATCH,
        "page_size": PAGE, "read_seconds": seconds, "rounds": rounds, "statistic": "median",
        "baseline": "sqlite_1", "read_path": READ_PATH,
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "sqlite": sqlite3.sqlite_version, "postgresql": pg_version,
                        "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "results": results,
    }


if __name__ == "__main__":
    print(json.dumps(main(), ensure_ascii=False))
