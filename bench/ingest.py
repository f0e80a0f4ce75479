"""Benchmark of end-to-end ingest into a node's SQLite store; prints ONE JSON object.

    python bench/ingest.py            # full run (~2 minutes on 2 cores)
    python bench/ingest.py --quick    # smoke run of a few seconds (tests use it)

On the Nanao evacuation-site layout grown with unique rows (bench/mapping.py's generator):

- mapping only (read + compiled rule + quarantine handling + content hash, output discarded):
  the baseline, in the same run;
- end-to-end ingest (the same, plus batches committed to SQLite with their source position,
  idempotent upserts, change feed): rows/s and its ratio to the baseline, i.e. what the store
  costs;
- the peak RSS of a streaming ingest of 1M rows (a subprocess; VmHWM), against 300 MB.

Wall-clock time, best of interleaved rounds: the ingest runs its parsing in a worker thread,
so CPU time of the main thread would not tell the truth.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker.ingest import Ingestor, load_compiled  # noqa: E402
from broker.store.sqlite import SqliteStore  # noqa: E402
from mappings.engine import map_records  # noqa: E402
from mappings.sources import open_records  # noqa: E402
from trust.clock import SystemClock  # noqa: E402

# bench/mapping.py has the row generator. Loaded by path, after the packages above: the bench
# folder also holds bench/trust.py, which must not shadow the trust package.
_spec = importlib.util.spec_from_file_location("mapping_bench",
                                               Path(__file__).with_name("mapping.py"))
assert _spec is not None and _spec.loader is not None
mapping_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mapping_bench)

RULES = "bundled:nanao_evacuation_sites"
RSS_TARGET_MB = 300.0


def map_only(path: Path) -> int:
    compiled = load_compiled(RULES)
    return sum(1 for _ in map_records(compiled, open_records(path)))


async def ingest(path: Path, db: Path) -> int:
    store = SqliteStore(db)
    await store.open()
    try:
        report = await Ingestor(store, SystemClock()).ingest("bench", RULES, path)
        assert report.read == report.mapped + report.quarantined
        return report.read
    finally:
        await store.close()


def best(rounds: int, tmp: Path, path: Path) -> tuple[float, float]:
    best_map = best_ingest = 0.0
    for i in range(rounds):
        started = time.perf_counter()
        n = map_only(path)
        best_map = max(best_map, n / (time.perf_counter() - started))
        db = tmp / f"round{i}.db"
        started = time.perf_counter()
        n = asyncio.run(ingest(path, db))
        best_ingest = max(best_ingest, n / (time.perf_counter() - started))
    return best_map, best_ingest


def rss_child(path: str, db: str) -> None:
    rows = asyncio.run(ingest(Path(path), Path(db)))
    print(json.dumps({"rows": rows, "peak_rss_mb": round(mapping_bench.peak_rss_mb(), 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rss-child", nargs=2, metavar=("CSV", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    rows, rss_rows, rounds = (3_000, 10_000, 1) if args.quick else (100_000, 1_000_000, 3)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "grown.csv"
        mapping_bench.write_csv(path, rows, "utf-8")
        map_rate, ingest_rate = best(rounds, tmp, path)
        big = tmp / "big.csv"
        mapping_bench.write_csv(big, rss_rows, "utf-8")
        child = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(big), str(tmp / "big.db")],
            capture_output=True, text=True, check=True)
        rss = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({
        "benchmark": "ingest",
        "quick": args.quick,
        "rows": rows,
        "map_only_rows_per_s": round(map_rate),
        "ingest_sqlite_rows_per_s": round(ingest_rate),
        "ingest_vs_map_only_ratio": round(ingest_rate / map_rate, 3),
        "streaming_ingest_rows": rss["rows"],
        "streaming_ingest_peak_rss_mb": rss["peak_rss_mb"],
        "targets": {"peak_rss_mb_max": RSS_TARGET_MB},
        "meets_rss_target": rss["peak_rss_mb"] <= RSS_TARGET_MB,
    }))


if __name__ == "__main__":
    main()
