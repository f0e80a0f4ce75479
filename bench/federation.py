#!/usr/bin/env python3
"""Federation benchmark. One command; prints ONE JSON object on stdout.

1. ``streaming``: entities per second a consumer receives from a provider that runs in its own
   process, over TLS, with a token per call, the policy decision, the agreement's field mask
   and area, rate limits, audit and signed receipts per page, measured against a raw
   ``grpc.aio`` streaming echo of the very same entity bytes, in the same batches, in the
   same run. Also reported: the first (cold) run, in which the provider builds its index, the
   same provider with the index switched off (parse, mask, serialize every entity), and the
   rate through the fan-out client ``node.fanout.query`` (de-duplicates by id over the bytes,
   verifies and logs each page's receipt), without and with the caller asking for dicts,
   each run interleaved with a plain provider stream for the ratio.
2. ``fanout``: one query to N peers (child processes, 20 by default) of which one is stopped
   (SIGSTOP: it holds its connections and never answers): time to answer relative to the
   deadline, and the statuses.

``--quick`` is a small smoke run (used by the test suite, keys only). Internal mode:
``--echo-server FILE`` serves FILE's entities as a raw stream (run by the benchmark itself).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from broker.config import load_config  # noqa: E402
from broker.demo.harness import LocalFederation, NodeSpec  # noqa: E402
from broker.federation.grpc_client import PeerChannel, channel_options  # noqa: E402
from broker.service.entity_write import entity_write  # noqa: E402
from broker.service.model import EntityBatch, FederatedQuery, QuerySummary  # noqa: E402
from broker.store.sqlite import SqliteStore  # noqa: E402

PURPOSE = "disaster_response"
AGENCY = "jp-gov-fdma"
PROVIDER = "jp-172022"
MASK = ["name", "location", "capacity", "suitableFor"]
# Covers most of the generated points; one slanted edge, so the grid has boundary cells.
AREA = {"type": "Polygon", "coordinates": [[[136.80, 36.90], [137.05, 36.90], [137.10, 37.20],
                                            [136.80, 37.20], [136.80, 36.90]]]}
FAST = "\n[federation]\nbackoff_min_seconds = 0.2\nbackoff_max_seconds = 2\n"
PAGE = 10_000
MAX_MESSAGE = 4 * 1024 * 1024
PROFILE = False  # --profile


def site(i: int, rng: random.Random) -> dict[str, Any]:
    """A realistic EvacuationSite (about 700 bytes of compact JSON)."""
    lon, lat = 136.8 + rng.random() * 0.3, 36.9 + rng.random() * 0.3
    return {
        "id": f"urn:ngsi-ld:EvacuationSite:{PROVIDER}:{i:07d}", "type": "EvacuationSite",
        "name": {"type": "LanguageProperty",
                 "languageMap": {"ja": f"七尾市立第{i}小学校", "en": f"Nanao School {i}"}},
        "address": {"type": "Property", "value": {"addressLocality": "七尾市",
                                                  "streetAddress": f"本町{i}番地"}},
        "location": {"type": "GeoProperty", "value": {
            "type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}},
        "elevation": {"type": "Property", "value": rng.randint(1, 200)},
        "telephone": {"type": "Property", "value": "0767-53-1111"},
        "suitableFor": {"type": "Property", "value": ["flood", "earthquake", "tsunami"]},
        "capacity": {"type": "Property", "value": rng.randint(10, 2000)},
        "indoorCapacity": {"type": "Property", "value": rng.randint(10, 1000)},
        "outdoorCapacity": {"type": "Property", "value": rng.randint(10, 1000)},
    }


async def seed(fed: LocalFederation, member_id: str, entities: list[dict[str, Any]]) -> None:
    store = SqliteStore(load_config(fed.config_files[member_id]).sqlite_path)
    await store.open()
    try:
        for i in range(0, len(entities), 5000):
            await store.upsert_entities([entity_write(e) for e in entities[i:i + 5000]],
                                        time.time())
    finally:
        await store.close()


def spec(member_id: str, extra: str = "") -> NodeSpec:
    role = "agency" if member_id.startswith("jp-gov") else "city"
    return NodeSpec(member_id, role, member_id, member_id, http=False,
                    extra_toml=FAST + extra)


# -- 1. streaming ---------------------------------------------------------------------------

async def stream_pages(channel: PeerChannel, keep: list[bytes] | None = None) -> tuple[int, float]:
    """Every entity the provider shares, page by page; (count, seconds)."""
    count, token, started = 0, "", time.perf_counter()
    while True:
        request = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=PAGE,
                                 page_token=token)
        token = ""
        async for item in channel.query(request, 300.0):
            if isinstance(item, EntityBatch):
                count += len(item.entities)
                if keep is not None:
                    keep.extend(item.entities)
            elif isinstance(item, QuerySummary):
                token = item.next_page_token
        if not token:
            return count, time.perf_counter() - started


async def fanout_pages(fed: LocalFederation, dicts: bool = False) -> tuple[int, float]:
    """Every entity through ``node.fanout.query``; ``dicts``: the caller also asks for the
    entities as dicts (parsed lazily), as the NGSI-LD API's rendering does."""
    agency = fed.nodes[AGENCY]
    count, token, started = 0, "", time.perf_counter()
    while True:
        outcome = await agency.fanout.query(
            FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=PAGE,
                           page_token=token), 300.0, peers=[PROVIDER])
        (status,) = outcome.statuses
        if status.status != "ok":
            raise RuntimeError(f"fan-out page failed: {status}")
        count += status.count
        if dicts and len(outcome.entities) != status.count:
            raise RuntimeError("fan-out page lost entities")
        token = outcome.next_page_tokens.get(PROVIDER, "")
        if not token:
            return count, time.perf_counter() - started


async def provider_rates(root: Path, entities: list[dict[str, Any]], runs: int,
                         index: bool) -> dict[str, Any]:
    fed = LocalFederation(root)
    try:
        await fed.start_authority()
        await fed.add_node(spec(AGENCY))
        extra = "" if index else "index_max_entities = 0\n"
        await fed.add_child(spec(PROVIDER, "batch_size = 512\n" + extra))
        await fed.publish()
        await seed(fed, PROVIDER, entities)
        await fed.agree(provider=PROVIDER, consumer=AGENCY, agreement_id="agr-bench",
                        purpose=PURPOSE, types={"EvacuationSite": MASK}, area=AREA,
                        requests_per_minute=100_000, entities_per_day=1_000_000_000)
        channel = fed.nodes[AGENCY].peers()[PROVIDER]
        kept: list[bytes] = []
        cold_count, cold_time = await stream_pages(channel, kept)
        warm = [await stream_pages(channel) for _ in range(runs)]
        assert all(n == cold_count for n, _ in warm)
        out: dict[str, Any] = {
            "entities_streamed": cold_count,
            "cold_entities_per_s": round(cold_count / cold_time),
            "entities_per_s": round(statistics.median(n / t for n, t in warm)),
            "runs": [round(n / t) for n, t in warm],
            "kept": kept,
        }
        if index:
            # Interleaved with provider streams, so each ratio compares runs made moments
            # apart on a shared machine.
            fan, dicts, raw = [], [], []
            for _ in range(runs):
                fan.append(await fanout_pages(fed))
                raw.append(await stream_pages(channel))
                dicts.append(await fanout_pages(fed, dicts=True))
            if PROFILE:
                await profile_fanout(fed)
            out["fanout_entities_per_s"] = round(statistics.median(n / t for n, t in fan))
            out["fanout_dicts_entities_per_s"] = round(statistics.median(n / t
                                                                         for n, t in dicts))
            out["stream_beside_fanout_entities_per_s"] = round(statistics.median(
                n / t for n, t in raw))
        return out
    finally:
        await fed.stop()


async def profile_fanout(fed: LocalFederation) -> None:
    """``--profile``: one more fan-out run under pyinstrument, its profile on stderr."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    await fanout_pages(fed)
    profiler.stop()
    print(profiler.output_text(unicode=False), file=sys.stderr)


def write_entities(path: Path, entities: list[bytes]) -> None:
    with path.open("wb") as f:
        for raw in entities:
            f.write(struct.pack(">I", len(raw)))
            f.write(raw)


def read_entities(path: Path) -> list[bytes]:
    data, out, at = path.read_bytes(), [], 0
    while at < len(data):
        (n,) = struct.unpack_from(">I", data, at)
        out.append(data[at + 4:at + 4 + n])
        at += 4 + n
    return out


async def echo_server(path: Path, batch: int) -> None:
    """Child mode: stream the file's entities, batched like the provider, over TLS."""
    from broker.federation._pb import federation_pb2 as pb
    from broker.federation._pb import federation_pb2_grpc as pb_grpc
    from trust.tls import make_node_certificate

    entities = read_entities(path)

    class Echo(pb_grpc.FederationServicer):
        async def Query(self, request: Any, context: Any) -> Any:
            for i in range(0, len(entities), batch):
                yield pb.QueryResponse(batch=pb.EntityBatch(entities=entities[i:i + batch]))
            yield pb.QueryResponse(summary=pb.QuerySummary(count=len(entities)))

    cert, key = make_node_certificate("echo", ["echo", "127.0.0.1"])
    server = grpc.aio.server(options=channel_options(MAX_MESSAGE))
    pb_grpc.add_FederationServicer_to_server(Echo(), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    await server.start()
    print(json.dumps({"port": port, "cert": cert.decode()}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # until the parent closes our stdin
    await server.stop(0)


async def raw_echo_rate(root: Path, entities: list[bytes], runs: int, batch: int) -> int:
    from broker.federation._pb import federation_pb2 as pb
    from broker.federation._pb import federation_pb2_grpc as pb_grpc

    path = root / "echo.bin"
    write_entities(path, entities)
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--echo-server", str(path), "--batch", str(batch),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        hello = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        options = channel_options(MAX_MESSAGE) + [("grpc.ssl_target_name_override", "echo")]
        credentials = grpc.ssl_channel_credentials(root_certificates=hello["cert"].encode())
        async with grpc.aio.secure_channel(f"127.0.0.1:{hello['port']}", credentials,
                                           options=options) as channel:
            stub = pb_grpc.FederationStub(channel)
            rates = []
            for _ in range(runs + 1):
                started, count = time.perf_counter(), 0
                async for item in stub.Query(pb.QueryRequest(), timeout=300):
                    if item.HasField("batch"):
                        count += len(tuple(item.batch.entities))
                rates.append(count / (time.perf_counter() - started))
        return round(statistics.median(rates[1:]))  # the first run warms the connection
    finally:
        if process.stdin is not None:
            process.stdin.close()
        await process.wait()


async def streaming(root: Path, n: int, runs: int) -> dict[str, Any]:
    rng = random.Random(20240101)
    entities = [site(i, rng) for i in range(n)]
    fast = await provider_rates(root / "fast", entities, runs, index=True)
    naive = await provider_rates(root / "naive", entities, max(1, runs // 2), index=False)
    kept = fast.pop("kept")
    naive.pop("kept")
    echo = await raw_echo_rate(root, kept, runs, 512)
    return {
        "entities_stored": n,
        "entities_streamed": fast["entities_streamed"],
        "entity_bytes_avg": round(sum(map(len, kept)) / max(1, len(kept))),
        "stored_entity_bytes_avg": round(sum(len(entity_write(e).doc) for e in entities[:1000])
                                         / min(n, 1000)),
        "mask": MASK, "area": "polygon (one slanted edge)",
        "entities_per_s": fast["entities_per_s"],
        "runs_entities_per_s": fast["runs"],
        "cold_first_run_entities_per_s": fast["cold_entities_per_s"],
        "fanout_client_entities_per_s": fast["fanout_entities_per_s"],
        "fanout_client_dicts_entities_per_s": fast["fanout_dicts_entities_per_s"],
        "fanout_ratio_to_provider_stream": round(
            fast["fanout_entities_per_s"] / fast["stream_beside_fanout_entities_per_s"], 3),
        "without_index_entities_per_s": naive["entities_per_s"],
        "raw_echo_entities_per_s": echo,
        "ratio_to_raw_echo": round(fast["entities_per_s"] / echo, 3),
        "targets": {"entities_per_s": 200_000, "ratio_to_raw_echo": 0.35,
                    "fanout_client_entities_per_s": 200_000,
                    "fanout_ratio_to_provider_stream": 0.5},
    }


# -- 2. fan-out under a deadline ------------------------------------------------------------

async def fanout(root: Path, peers: int, deadline: float) -> dict[str, Any]:
    fed = LocalFederation(root)
    cities = [f"jp-9{i:05d}" for i in range(peers)]
    try:
        await fed.start_authority()
        await fed.add_node(spec(AGENCY))
        await asyncio.gather(*(fed.add_child(spec(city)) for city in cities))
        await fed.publish()
        rng = random.Random(1)
        for city in cities:
            await seed(fed, city, [{**site(i, rng), "id": f"urn:ngsi-ld:EvacuationSite:{city}:{i}"}
                                   for i in range(20)])
            await fed.agree(provider=city, consumer=AGENCY, agreement_id=f"agr-{city}",
                            purpose=PURPOSE, types={"EvacuationSite": MASK})
        agency = fed.nodes[AGENCY]
        query = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE)
        warm = await agency.fanout.query(query, 30.0, peers=cities)
        assert all(s.status == "ok" for s in warm.statuses), warm.statuses
        stopped = fed.children[cities[0]]
        stopped.pause()
        try:
            started = time.perf_counter()
            outcome = await agency.fanout.query(query, deadline, peers=cities)
            elapsed = time.perf_counter() - started
        finally:
            stopped.resume()
        statuses: dict[str, int] = {}
        for s in outcome.statuses:
            statuses[s.status] = statuses.get(s.status, 0) + 1
        return {
            "peers": peers, "stopped_peers": 1, "deadline_s": deadline,
            "elapsed_s": round(elapsed, 3),
            "elapsed_over_deadline": round(elapsed / deadline, 3),
            "statuses": statuses,
            "stopped_peer_status": next(s.status for s in outcome.statuses
                                        if s.peer == cities[0]),
            "entities": len(outcome.entities),
            "targets": {"elapsed_over_deadline_max": 1.1, "ok": peers - 1},
        }
    finally:
        await fed.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="renkei-bench-") as tmp:
        root = Path(tmp)
        if args.quick:
            stream = await streaming(root / "s", 3000, 2)
            fan = await fanout(root / "f", 3, 1.0)
        else:
            stream = await streaming(root / "s", args.entities, 5)
            fan = await fanout(root / "f", args.peers, args.deadline)
    return {
        "benchmark": "federation", "quick": args.quick, "streaming": stream, "fanout": fan,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "grpc": grpc.__version__, "platform": platform.platform()},
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--peers", type=int, default=20)
    parser.add_argument("--deadline", type=float, default=2.0)
    parser.add_argument("--profile", action="store_true",
                        help="print a pyinstrument profile of one fan-out run on stderr")
    parser.add_argument("--echo-server", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=512, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.echo_server:
        asyncio.run(echo_server(arguments.echo_server, arguments.batch))
    else:
        PROFILE = arguments.profile
        print(json.dumps(asyncio.run(main(arguments))))
