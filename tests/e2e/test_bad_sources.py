"""A bad ``[[sources]]`` entry must not take the node down (issue 14).

As an operator meets it: ``renkei node run`` and ``renkei rules check --config`` as processes.
A bad *rule* (misspelled bundled name, missing rule file, YAML error) is a bad config: the node
refuses it before binding a port, naming every problem with its key and stable code. A bad
*data file* (missing, header that does not fit) is reported in the log, ``/health`` and
``/metrics`` while the node serves everything else, and a fixed file is ingested without a
restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broker.config import load_config
from broker.demo.harness import LocalFederation, NodeSpec
from broker.identity import init_identity
from mappings.loader import bundled_sample

CITY = "jp-172022"
READY = re.compile(r"^renkei node \S+: gRPC \S+ \(TLS\), HTTP (\S+); directory v\d+$")
SAMPLE = bundled_sample("nanao_evacuation_sites")
GOOD_RULES = "bundled:nanao_evacuation_sites"


async def renkei(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode(), err.decode()


async def city_config(tmp_path: Path, sources: list[dict[str, str]],
                      extra: str = "") -> tuple[LocalFederation, Path]:
    fed = LocalFederation(tmp_path / "fed")
    await fed.start_authority()
    path = fed.write_config(NodeSpec(CITY, "city", "七尾市", "Nanao", sources=sources,
                                     extra_toml=extra))
    init_identity(load_config(path))
    return fed, path


def bad_rule_sources(tmp_path: Path) -> list[dict[str, str]]:
    (tmp_path / "broken.yaml").write_text("renkei_rules: 1\nname: [unclosed\n",
                                          encoding="utf-8")
    return [
        {"name": "typo", "rules": "bundled:nanao_evacuation_site", "path": str(SAMPLE)},
        {"name": "yaml", "rules": str(tmp_path / "broken.yaml"), "path": str(SAMPLE)},
        {"name": "gone", "rules": str(tmp_path / "nowhere.yaml"), "path": str(SAMPLE)},
        {"name": "good", "rules": GOOD_RULES, "path": str(SAMPLE)},
    ]


async def test_node_run_refuses_bad_source_rules_before_binding_and_names_them_all(
        tmp_path: Path) -> None:
    fed, config = await city_config(tmp_path, bad_rule_sources(tmp_path))
    try:
        code, out, err = await renkei("node", "run", "--config", str(config))
    finally:
        await fed.authority.stop()  # type: ignore[union-attr]
    assert code == 1, (out, err)
    assert "renkei node" not in out, out  # never got as far as serving (no ready line)
    assert "internal error" not in err
    lines = [line for line in err.splitlines() if "key 'sources[" in line]
    assert len(lines) == 3, err
    typo, yaml_error, gone = lines
    assert "sources[0].rules" in typo and typo.endswith("[unknown_rule_set]")
    assert "did you mean 'nanao_evacuation_sites'" in typo
    assert "takamatsu_aed" in typo  # the names that do exist
    assert "sources[1].rules" in yaml_error and yaml_error.endswith("[rule_invalid]")
    assert "broken.yaml:3: YAML" in yaml_error  # file and line of the YAML error
    assert "sources[2].rules" in gone and gone.endswith("[rule_file_missing]")
    assert err.rstrip().endswith("[bad_config]")


async def test_rules_check_config_reports_every_rule_and_data_problem(tmp_path: Path) -> None:
    bad_header = tmp_path / "bad_header.csv"
    bad_header.write_text("番号,なまえ\n1,x\n", encoding="utf-8")
    sources = bad_rule_sources(tmp_path) + [
        {"name": "nofile", "rules": GOOD_RULES, "path": str(tmp_path / "missing.csv")},
        {"name": "header", "rules": GOOD_RULES, "path": str(bad_header)},
    ]
    fed, config = await city_config(tmp_path, sources)
    await fed.authority.stop()  # type: ignore[union-attr]
    code, out, err = await renkei("rules", "check", "--config", str(config))
    assert code == 1
    codes = re.findall(r"key '(sources\[\d\]\.\w+)' \(source '(\w+)'\): .* \[(\w+)\]$", err,
                       re.MULTILINE)
    assert codes == [("sources[0].rules", "typo", "unknown_rule_set"),
                     ("sources[1].rules", "yaml", "rule_invalid"),
                     ("sources[2].rules", "gone", "rule_file_missing"),
                     ("sources[4].path", "nofile", "source_missing"),
                     ("sources[5].path", "header", "wrong_dataset")], err
    assert "source 'good': ok" in out


async def test_map_with_a_misspelled_bundled_name_lists_the_bundled_names(
        tmp_path: Path) -> None:
    code, out, err = await renkei("map", "bundled:takamatsu_ade", str(SAMPLE), "--dry-run")
    assert code == 1
    assert "internal error" not in err and "KeyError" not in err
    assert "did you mean 'takamatsu_aed'" in err and "nanao_open_shelters" in err
    assert err.rstrip().endswith("[unknown_rule_set]")


async def _health(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with session.get(f"{url}/health") as resp:
        return resp.status, await resp.json()


async def _until(session: aiohttp.ClientSession, url: str, want: dict[str, str],
                 timeout: float = 60) -> dict[str, Any]:
    """Poll /health until each named source is in the wanted state; the last body."""
    body: dict[str, Any] = {}
    for _ in range(int(timeout / 0.2)):
        _, body = await _health(session, url)
        states = {s["name"]: s["state"] for s in body["sources"]}
        if all(states.get(k) == v for k, v in want.items()):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"sources never reached {want}: {body}")


@pytest.mark.timeout(180)
async def test_a_bad_data_file_is_reported_while_the_node_serves_and_a_fix_is_picked_up(
        tmp_path: Path) -> None:
    late = tmp_path / "late.csv"
    header = tmp_path / "header.csv"
    header.write_text("番号,なまえ\n1,x\n", encoding="utf-8")
    sources = [{"name": "good", "rules": GOOD_RULES, "path": str(SAMPLE)},
               {"name": "late", "rules": GOOD_RULES, "path": str(late)},
               {"name": "header", "rules": GOOD_RULES, "path": str(header)}]
    fed, config = await city_config(tmp_path, sources, "\n[ingest]\nwatch_seconds = 0.2\n")
    log = tmp_path / "node.log"
    with log.open("wb") as stderr:  # the child holds its own copy; ours closes here
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "broker.cli.main", "node", "run", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=stderr)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        ready = READY.match(line)
        assert ready, (line, log.read_text(errors="replace"))
        url = ready.group(1)
        body = await _until(session, url, {"good": "ok", "late": "failed", "header": "failed"})
        status, body = await _health(session, url)
        assert status == 200 and body["status"] == "degraded"
        by_name = {s["name"]: s for s in body["sources"]}
        assert by_name["late"]["code"] == "source_missing"
        assert by_name["header"]["code"] == "wrong_dataset"
        assert by_name["good"]["mapped"] > 0
        assert str(tmp_path) not in str(body)  # the open endpoint names no paths
        async with session.get(f"{url}/metrics") as resp:
            metrics = await resp.text()
        assert 'renkei_source_up{source="good"} 1.0' in metrics
        assert 'renkei_source_up{source="late"} 0.0' in metrics
        assert 'renkei_source_failed_runs_total{source="header"} 1.0' in metrics
        assert 'renkei_source_state{source="late",state="failed"} 1.0' in metrics
        assert 'renkei_source_state{source="late",state="ok"} 0.0' in metrics
        # The watch is one of the node's supervised loops: /health and /metrics show it.
        assert body["loops"]["sources"] == {"state": "running", "failures": 0, "lastError": ""}
        assert 'renkei_loop_up{loop="sources"} 1.0' in metrics
        assert 'renkei_loop_failures_total{loop="sources"} 0.0' in metrics
        text = log.read_text(errors="replace")
        assert re.search(r"WARNING .*source late failed: .*late\.csv.* \[source_missing\]", text)
        assert re.search(r"WARNING .*source header failed: .* \[wrong_dataset\]", text)
        assert proc.returncode is None  # still running

        # The operator fixes both files; the running node ingests them, no restart.
        shutil.copyfile(SAMPLE, late)
        shutil.copyfile(SAMPLE, header)
        body = await _until(session, url, {"late": "ok", "header": "ok"})
        assert body["status"] == "ok"
        assert all(s["mapped"] > 0 for s in body["sources"])
        assert "source late recovered" in log.read_text(errors="replace")
    finally:
        await session.close()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
        await fed.authority.stop()  # type: ignore[union-attr]
    assert code == 0


async def test_without_a_watch_the_finished_ingest_leaves_the_node_healthy(
        tmp_path: Path) -> None:
    # watch_seconds = 0: the sources loop ingests once and ends. It is "done", not "stopped":
    # a readiness probe must not see a node whose start-up ingest finished as unhealthy.
    sources = [{"name": "good", "rules": GOOD_RULES, "path": str(SAMPLE)}]
    fed, config = await city_config(tmp_path, sources, "\n[ingest]\nwatch_seconds = 0\n")
    log = tmp_path / "node.log"
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "broker.cli.main", "node", "run", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=stderr)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        ready = READY.match(line)
        assert ready, (line, log.read_text(errors="replace"))
        url = ready.group(1)
        await _until(session, url, {"good": "ok"})
        for _ in range(100):
            status, body = await _health(session, url)
            if body["loops"]["sources"]["state"] != "running":
                break
            await asyncio.sleep(0.1)
        assert body["loops"]["sources"]["state"] == "done", body
        assert status == 200 and body["status"] == "ok", body
        async with session.get(f"{url}/metrics") as resp:
            assert 'renkei_loop_up{loop="sources"} 1.0' in await resp.text()
    finally:
        await session.close()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
        await fed.authority.stop()  # type: ignore[union-attr]
    assert code == 0
