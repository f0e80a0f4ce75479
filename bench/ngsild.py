"""Benchmark: ``GET /ngsi-ld/v1/entities?type=T&limit=100`` on a node holding 100k entities.

One command, one JSON object on stdout. A real node (SQLite store, bearer token, the whole
middleware stack) serves the query; in the same run, a bare aiohttp handler serves the same
response bytes from memory, as the ceiling this machine allows. The load generator runs in a
separate process (wrk, or an aiohttp client, N concurrent connections with keep-alive) so
that it does not share the server's event loop.

Two figures for the node: ``api``, a client speaking the Renkei context (its Link header;
stored bytes go out as they are, the realistic fast path), and ``api_no_context``, a client
sending no context at all (the core context applies: each entity is decoded, its names
translated to full IRIs and encoded again). The three runs alternate in ``--rounds`` rounds,
so that a change of background load on a shared machine hits them alike.

    python bench/ngsild.py            # 100k entities, 64 connections, 10 s of each run in 2 rounds
    python bench/ngsild.py --quick    # a smoke run (small store, short runs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TYPE = "EvacuationSite"
TYPE_IRI = "https://w3id.org/renkei/v1#EvacuationSite"  # what TYPE means in the Renkei context
# Real clients of Renkei data speak the Renkei context; without it names are translated.
RENKEI_LINK = ('<https://w3id.org/renkei/v1/context.jsonld>; '
               'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"')


def entity(i: int, kind: str) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:{kind}:jp-172022:{i:07d}", "type": kind,
            "name": {"type": "LanguageProperty",
                     "languageMap": {"ja": f"避難所{i}", "en": f"Shelter {i}"}},
            "capacity": {"type": "Property", "value": i % 500},
            "suitableFor": {"type": "Property", "value": ["flood", "earthquake"]},
            "location": {"type": "GeoProperty", "value": {
                "type": "Point", "coordinates": [136.9 + (i % 1000) / 10000,
                                                 37.0 + (i // 1000) / 10000]}}}


def request_headers(token: str, link: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if link:
        headers["Link"] = link
    return headers


async def load(url: str, headers: dict[str, str], seconds: float, connections: int
               ) -> dict[str, Any]:
    """The load generator (runs in its own process)."""
    done = errors = 0
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal done, errors
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    async with session.get(url, headers=headers) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                if ok:
                    done += 1
                else:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - started
    latencies.sort()

    def pick(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2)

    return {"requests": done, "errors": errors, "seconds": round(elapsed, 2),
            "req_per_s": round(done / elapsed, 1), "p50_ms": pick(0.5), "p99_ms": pick(0.99)}


def _wrk_ms(text: str) -> float:
    value = float(text.rstrip("umsn"))
    return round(value / 1000 if text.endswith("us") else value * 1000 if text.endswith("s")
                 and not text.endswith("ms") else value, 2)


async def run_wrk(url: str, headers: dict[str, str], seconds: float, connections: int
                  ) -> dict[str, Any]:
    """wrk with one thread (one core for the client, the other for the server)."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    proc = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    result: dict[str, Any] = {"errors": 0}
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith("Requests/sec:"):
            result["req_per_s"] = float(parts[1])
        elif "requests in" in line:
            result["requests"] = int(parts[0])
            result["seconds"] = float(parts[3].rstrip("s,"))
        elif line.strip().startswith(("50%", "99%")) and len(parts) == 2:
            result["p50_ms" if parts[0] == "50%" else "p99_ms"] = _wrk_ms(parts[1])
        elif "Non-2xx" in line or "Socket errors" in line:
            result["errors"] += sum(int(x.rstrip(",")) for x in parts if x.rstrip(",").isdigit())
    return result


async def run_load(url: str, headers: dict[str, str], seconds: float, connections: int,
                   client: str = "aiohttp") -> dict[str, Any]:
    if client == "wrk":
        return await run_wrk(url, headers, seconds, connections)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--load", url, "--headers", json.dumps(headers),
        "--duration", str(seconds), "--connections", str(connections),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return json.loads(out)


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one kind as one figure: total requests over total time; latencies are the
    median of the rounds' percentiles."""
    requests = sum(r.get("requests", 0) for r in runs)
    seconds = sum(r.get("seconds", 0.0) for r in runs)
    out: dict[str, Any] = {"errors": sum(r.get("errors", 0) for r in runs),
                           "requests": requests, "seconds": round(seconds, 2),
                           "req_per_s": round(requests / seconds, 1) if seconds else 0.0,
                           "rounds_req_per_s": [r.get("req_per_s") for r in runs]}
    for key in ("p50_ms", "p99_ms"):
        values = sorted(r[key] for r in runs if r.get(key) is not None)
        out[key] = values[len(values) // 2] if values else None
    return out


async def caught_up(node: Any) -> None:
    """Wait until the node's subscription notifier has read the change feed of the load, so
    that it does not compete with the measured requests."""
    from broker.api.common import API

    notifier = node.http.app[API].notifier
    target = await node.store.last_change_cursor()
    for _ in range(600):
        if notifier.cursor >= target:
            return
        await asyncio.sleep(0.1)


async def bench(n: int, seconds: float, connections: int, limit: int, client: str,
                rounds: int) -> dict[str, Any]:
    import logging

    logging.disable(logging.WARNING)
    from broker.api.auth import ClientRegistry
    from broker.demo.harness import LocalFederation, NodeSpec
    from broker.service.entity_write import entity_write

    with tempfile.TemporaryDirectory() as tmp:
        fed = LocalFederation(Path(tmp), insecure=True)
        await fed.start_authority()
        try:
            node = await fed.add_node(NodeSpec("jp-172022", "city", "七尾市", "Nanao City"))
            t0 = time.monotonic()
            batch: list[Any] = []
            for i in range(n):
                batch.append(entity_write(entity(i, TYPE if i % 5 else "PointOfInterest")))
                if len(batch) == 5000:
                    await node.store.upsert_entities(batch, 1.0)
                    batch = []
            if batch:
                await node.store.upsert_entities(batch, 1.0)
            load_s = time.monotonic() - t0
            await caught_up(node)
            client_id, secret = await ClientRegistry(node.store, node.clock).add(
                "bench", "disaster_response")
            async with aiohttp.ClientSession() as s:
                async with s.post(node.http.url + "/oauth2/token",
                                  data={"grant_type": "client_credentials",
                                        "client_id": client_id, "client_secret": secret}) as r:
                    token = (await r.json())["access_token"]
                path = f"/ngsi-ld/v1/entities?type={TYPE}&limit={limit}&local=true"
                # Without a context the same entities are asked for by their type's full IRI.
                plain_path = str(URL("/ngsi-ld/v1/entities").with_query(
                    type=TYPE_IRI, limit=str(limit), local="true"))
                renkei = request_headers(token, RENKEI_LINK)
                plain = request_headers(token, "")
                body, content_type = await fetch(s, node.http.url + path, renkei)
                plain_body, _ = await fetch(s, node.http.url + plain_path, plain)
                returned = len(json.loads(body))
                assert len(json.loads(plain_body)) == returned, plain_body[:300]
            # The ceiling: the same bytes from memory, same server library, same process.
            app = web.Application()

            async def same_bytes(request: web.Request) -> web.Response:
                return web.Response(body=body, content_type=content_type.split(";")[0])

            app.router.add_get("/ngsi-ld/v1/entities", same_bytes)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "api": [], "plain": []}
            share = seconds / rounds
            try:
                for _ in range(rounds):
                    runs["baseline"].append(await run_load(
                        f"http://127.0.0.1:{port}{path}", {}, share, connections, client))
                    runs["api"].append(await run_load(node.http.url + path, renkei, share,
                                                      connections, client))
                    runs["plain"].append(await run_load(node.http.url + plain_path, plain,
                                                        share, connections, client))
            finally:
                await runner.cleanup()
        finally:
            await fed.stop()
    baseline, api, no_context = (combine(runs[k]) for k in ("baseline", "api", "plain"))

    def ratio(run: dict[str, Any]) -> float:
        return round(run["req_per_s"] / baseline["req_per_s"], 3) if baseline["req_per_s"] else 0

    return {"benchmark": "ngsild_get_entities_type_page", "entities": n,
            "entities_of_type": sum(1 for i in range(n) if i % 5), "limit": limit,
            "returned": returned, "response_bytes": len(body),
            "response_bytes_no_context": len(plain_body), "connections": connections,
            "duration_s": seconds, "rounds": rounds,
            "client": "wrk -t1" if client == "wrk" else "aiohttp (separate process)",
            "cpus": os.cpu_count(), "store": "sqlite", "store_load_s": round(load_s, 1),
            "api": api, "api_no_context": no_context,
            "baseline_same_bytes_from_memory": baseline, "ratio": ratio(api),
            "ratio_no_context": ratio(no_context), "target_req_per_s": 3000,
            "meets_target": api["req_per_s"] >= 3000}


async def fetch(session: aiohttp.ClientSession, url: str, headers: dict[str, str]
                ) -> tuple[bytes, str]:
    async with session.get(url, headers=headers) as r:
        body = await r.read()
        assert r.status == 200, body
        return body, r.headers["Content-Type"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per kind of run")
    parser.add_argument("--rounds", type=int, default=2,
                        help="the runs alternate in this many rounds (duration split)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--client", choices=("auto", "wrk", "aiohttp"), default="auto",
                        help="load generator: wrk when installed (auto), else aiohttp")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--headers", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(json.dumps(asyncio.run(load(args.load, json.loads(args.headers),
                                          args.duration, args.connections))))
        return
    if args.quick:
        args.entities, args.duration, args.connections, args.rounds = 2000, 1.0, 8, 1
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") and not args.quick else "aiohttp"
    print(json.dumps(asyncio.run(bench(args.entities, args.duration, args.connections,
                                       args.limit, client, max(1, args.rounds)))))


if __name__ == "__main__":
    main()
