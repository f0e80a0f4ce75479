"""``renkei demo`` as a user runs it: a subprocess, its printed sections and its exit code."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from broker.demo.report import SECTIONS


def test_demo_prints_every_section_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "broker.cli.main", "demo"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=240)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    headings = re.findall(r"^## \d+\. (.+)$", out, flags=re.MULTILINE)
    assert set(SECTIONS) <= set(headings)
    # the directory lists the four members, verified
    for member in ("jp-172022", "jp-372013", "jp-179999", "jp-gov-bousai"):
        assert member in out
    # counts add up in every ingest line
    for read, mapped, quarantined in re.findall(
            r"read\s+(\d+)\s+mapped\s+(\d+)\s+quarantined\s+(\d+)", out):
        assert int(read) == int(mapped) + int(quarantined)
    # the federated query returns rows from each city, and one status line per city
    statuses = re.findall(r"^  status (jp-\d+)\s.*?\s(ok|denied|unavailable|error)\s", out,
                          flags=re.MULTILINE)
    assert {"jp-172022", "jp-372013", "jp-179999"} <= {peer for peer, _ in statuses}
    queries = "".join(part for part in re.split(r"^## \d+\. ", out, flags=re.MULTILINE)
                      if part.startswith("Federated query"))
    rows = re.findall(r"^    (jp-\d+)\s+\S.*capacity\s+\d+\s+[\d.]+ km$", queries,
                      flags=re.MULTILINE)
    assert {"jp-172022", "jp-372013", "jp-179999"} <= set(rows)
    # refusals carry the stable reason the caller got
    assert "reason 'aggregate_only'" in out
    assert "reason 'field_not_allowed'" in out
    # every audit chain verified
    heads = re.findall(r"^  (jp-[\w-]+)\s+entries\s+\d+\s+head \w+…\s+(\w+)", out,
                       flags=re.MULTILINE)
    assert len(heads) == 4 and all(state == "verified" for _, state in heads)


def test_ctrl_c_stops_every_server_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "broker.cli.main", "demo", "--keep-running"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    lines = []
    logins: list[tuple[str, str, str]] = []
    for line in proc.stdout:
        lines.append(line)
        login = CONSOLE_LOGIN.search(line)
        if login:
            logins.append((login["url"], login["name"], login["password"]))
        if len(logins) == 4 or time.monotonic() > deadline:
            break
    try:
        # Each node's console URL and a login made for this run; the login signs in.
        assert len(logins) == 4, "".join(lines)
        url, name, password = logins[0]
        assert _console_sign_in(url, name, password) == 303
        assert _console_sign_in(url, name, "wrong password!") == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "Stopping every node" in out


CONSOLE_LOGIN = re.compile(r"(?P<url>http://127\.0\.0\.1:\d+/console)\s+operator "
                           r"(?P<name>\S+)\s+password (?P<password>\S+)")


def _console_sign_in(url: str, name: str, password: str) -> int:
    """Sign in as a browser would (the form's token and its cookie); the status."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("GET", "/console/login")
        page = conn.getresponse()
        body = page.read().decode()
        cookie = page.headers["Set-Cookie"].split(";")[0]
        token = re.search(r'name="csrf" value="([^"]+)"', body)
        assert token, body[:300]
        form = urllib.parse.urlencode({"csrf": token[1], "name": name, "password": password})
        conn.request("POST", "/console/login", form, {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()
