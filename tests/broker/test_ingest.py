"""Ingest into a node's store: counts add up, re-runs are idempotent, crashes lose nothing,
quarantined rows come back after a rule fix."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broker.ingest import Ingestor
from broker.store.sqlite import SqliteStore
from mappings.errors import SourceError
from mappings.loader import bundled_rules, bundled_sample
from trust.clock import SystemClock

NANAO = bundled_sample("nanao_evacuation_sites")


def source_rows() -> list[dict[str, str]]:
    with NANAO.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


async def test_ingest_counts_add_up_and_a_second_run_changes_nothing(store: SqliteStore) -> None:
    ingestor = Ingestor(store, SystemClock())
    first = await ingestor.ingest("sites", "bundled:nanao_evacuation_sites", NANAO)
    assert first.read == len(source_rows()) == first.mapped + first.quarantined
    assert first.created == first.mapped
    again = await ingestor.ingest("sites", "bundled:nanao_evacuation_sites", NANAO)
    assert (again.read, again.created, again.updated, again.unchanged) == (
        first.read, 0, 0, first.mapped)
    assert await store.count_entities(["EvacuationSite"]) == first.mapped
    runs = await store.list_runs()
    assert [(r.read, r.mapped, r.quarantined) for r in runs] == [
        (again.read, again.mapped, again.quarantined), (first.read, first.mapped,
                                                        first.quarantined)]


async def test_quarantined_rows_map_again_after_a_rule_fix(store: SqliteStore,
                                                           tmp_path: Path) -> None:
    good = bundled_rules("da_evacuation_sites").read_text(encoding="utf-8")
    # A rule whose geographic sanity box wrongly ends at 136.96 E quarantines the sites east
    # of it; the fix restores the box.
    assert "within: [122.0, 20.0, 154.0, 46.0]" in good
    broken = good.replace("within: [122.0, 20.0, 154.0, 46.0]",
                          "within: [122.0, 20.0, 136.96, 46.0]")
    broken = broken.replace("member: null", "member: jp-172022")
    rules = tmp_path / "rules.yaml"
    rules.write_text(broken, encoding="utf-8")
    east = {r["ID"] for r in source_rows() if r["経度"] and float(r["経度"]) > 136.96}
    assert east, "the fixture needs sites east of 136.96"

    ingestor = Ingestor(store, SystemClock())
    report = await ingestor.ingest("sites", str(rules), NANAO)
    quarantined = await store.list_quarantine("sites")
    assert report.quarantined == len(quarantined) == len(east)
    assert {q.record["record"]["ID"] for q in quarantined} == east
    assert all(q.column in ("緯度", "経度", "") for q in quarantined)

    rules.write_text(broken.replace("136.96, 46.0]", "154.0, 46.0]"), encoding="utf-8")
    fixed, still = await ingestor.retry_quarantine("sites", str(rules))
    assert (fixed, still) == (len(east), 0)
    assert await store.list_quarantine("sites") == []
    assert await store.count_entities(["EvacuationSite"]) == report.read


def grow_nanao(path: Path, copies: int) -> int:
    """The Nanao file repeated with unique ids (and so unique entities)."""
    rows = source_rows()
    with NANAO.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for i in range(copies):
            for row in rows:
                writer.writerow({**row, "ID": f"{row['ID']}-{i:05d}"})
    return copies * len(rows)


# Its own waits bound it (120 s for the first commits, 300 s for the rerun); the suite-wide
# 120 s timeout cut the rerun short on a loaded 2-core machine.
@pytest.mark.timeout(480)
def test_an_ingest_killed_mid_file_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    total = grow_nanao(tmp_path / "big.csv", 400)  # ~45k rows, committed every 500
    (tmp_path / "authority.jwk.json").write_text("{}")
    config = tmp_path / "renkei.toml"
    config.write_text(
        '[node]\nid = "jp-172022"\nrole = "city"\n[trust]\nauthority_jwk = "authority.jwk.json"\n'
        '[[sources]]\nname = "big"\nrules = "bundled:nanao_evacuation_sites"\n'
        'path = "big.csv"\n', encoding="utf-8")
    command = [sys.executable, "-m", "broker.cli.main", "map", "--config", str(config)]
    # Nothing reads the killed run's output: no pipes left open behind it.
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    db = tmp_path / "renkei.db"
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    committed = conn.execute("SELECT count(*) FROM entities").fetchone()[0]
            except sqlite3.OperationalError:
                committed = 0
        if committed >= 2000:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    assert 0 < committed < total

    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with sqlite3.connect(db) as conn:
        entities = conn.execute("SELECT count(*), count(DISTINCT id) FROM entities").fetchone()
        created = conn.execute("SELECT count(*) FROM changes WHERE kind = 'created'"
                               ).fetchone()[0]
        runs = conn.execute("SELECT read, mapped, quarantined FROM ingest_runs ORDER BY id"
                            ).fetchall()
    assert entities == (total, total)  # nothing lost, nothing twice
    assert created == total  # each entity created exactly once across both runs
    assert all(read == mapped + quarantined for read, mapped, quarantined in runs)
    # The second run resumed after the last committed batch instead of starting over.
    assert runs[-1][0] < total
    assert sum(r[0] for r in runs) >= total


async def test_duplicate_ids_are_quarantined_and_a_reingest_changes_nothing(
        store: SqliteStore, tmp_path: Path) -> None:
    # Two different AEDs under one NO: neither overwrites the other, and ingesting the unchanged
    # file again updates nothing (the old behaviour updated the shared id on every run).
    header = ["都道府県コード又は市区町村コード", "NO", "名称", "住所", "緯度", "経度", "設置位置",
              "小児対応設備の有無"]
    rows = [["172022", "1", "市役所", "七尾市", "37.04", "136.96", "1階", "有"],
            ["172022", "2", "図書館", "七尾市", "37.05", "136.97", "入口", "無"],
            ["172022", "1", "体育館", "七尾市", "37.06", "136.98", "玄関", "有"]]
    path = tmp_path / "aed.csv"
    with path.open("w", encoding="cp932", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    ingestor = Ingestor(store, SystemClock())
    first = await ingestor.ingest("aed", "auto", path)
    assert (first.read, first.mapped, first.quarantined, first.created) == (3, 1, 2, 1)
    assert all("duplicate_id" in r for r in first.first_reasons)
    again = await ingestor.ingest("aed", "auto", path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert await store.count_entities(["PointOfInterest"]) == 1


async def test_a_declared_encoding_reaches_the_reader_and_a_mismatch_fails_the_run(
        store: SqliteStore, tmp_path: Path) -> None:
    # An EUC-JP file declared as Shift_JIS would read as half-width-katakana mojibake: the
    # ingest is refused naming both encodings, and nothing is stored.
    text = NANAO.read_text(encoding="utf-8-sig")
    path = tmp_path / "sites.csv"
    path.write_bytes(text.replace("\uff0d", "-").replace("\uff5e", "~").encode("euc_jp"))
    ingestor = Ingestor(store, SystemClock())
    with pytest.raises(SourceError) as err:
        await ingestor.ingest("sites", "bundled:nanao_evacuation_sites", path,
                              encoding="shift_jis")
    assert err.value.code == "encoding_mismatch" and "EUC-JP" in str(err.value)
    assert await store.count_entities(["EvacuationSite"]) == 0
    report = await ingestor.ingest("sites", "bundled:nanao_evacuation_sites", path)
    assert (report.read, report.quarantined) == (112, 0)  # detected: EUC-JP
