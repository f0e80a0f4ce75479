"""The console over real HTTP on a running node: sign-in, sessions, CSRF, roles, escaping,
security headers, and the refusal to serve sign-ins in clear text off loopback."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from broker.config import parse_config
from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import ConfigError
from broker.service.entity_write import entity_write
from broker.store.base import QuarantineRecord

sys.path.insert(0, str(Path(__file__).parent))
from consolekit import ConsoleClient, add_operator  # noqa: E402

CITY, AGENCY = "jp-172022", "jp-gov-fdma"
PASSWORD = "a long enough password"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao"))
        await fed.add_node(NodeSpec(AGENCY, "agency", "消防庁", "FDMA"))
        await fed.publish()
        city = fed.nodes[CITY]
        await add_operator(city, "admin1", "admin", PASSWORD)
        await add_operator(city, "viewer1", "viewer", PASSWORD)
        yield fed
    finally:
        await fed.stop()


@pytest.fixture
async def client(fed: LocalFederation) -> AsyncIterator[ConsoleClient]:
    node = fed.nodes[CITY]
    assert node.http is not None
    async with aiohttp.ClientSession() as http:
        yield ConsoleClient(http, node.http.url)


async def test_pages_need_a_session_and_sign_in_sets_strict_cookies(
        client: ConsoleClient) -> None:
    status, _, headers = await client.get("/console/federation")
    assert status == 303 and headers["Location"] == "/console/login"
    status, _, headers = await client.post("/console/agreements/revoke", {"id": "x"})
    assert status == 401
    await client.sign_in("admin1", PASSWORD)
    session = [h for h in client.set_cookie_headers if h.startswith(f"renkei_console_{CITY}=")]
    assert session, client.set_cookie_headers
    flags = session[-1].lower()
    assert "secure" in flags and "httponly" in flags and "samesite=strict" in flags
    assert "path=/console" in flags
    status, text, headers = await client.get("/console/federation")
    assert status == 200 and CITY in text and AGENCY in text
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


async def test_wrong_password_and_unknown_name_are_refused_alike(
        client: ConsoleClient) -> None:
    for name, password in (("admin1", "not the password"), ("nobody", PASSWORD)):
        token = await client.csrf("/console/login")
        status, text, _ = await client.post("/console/login", {
            "csrf": token, "name": name, "password": password})
        assert status == 401 and "Wrong operator name or password" in text
    assert f"renkei_console_{CITY}" not in client.cookies


async def test_sign_in_without_the_form_token_is_refused(client: ConsoleClient) -> None:
    await client.get("/console/login")
    status, _, _ = await client.post("/console/login", {"name": "admin1",
                                                         "password": PASSWORD})
    assert status == 403 and f"renkei_console_{CITY}" not in client.cookies


async def test_a_post_without_or_with_a_wrong_csrf_token_changes_nothing(
        fed: LocalFederation, client: ConsoleClient) -> None:
    agreement = await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-csrf",
                                purpose="disaster_response",
                                types={"EvacuationSite": ["capacity"]})
    await client.sign_in("admin1", PASSWORD)
    size_before, _ = await fed.nodes[CITY].audit.head()
    for form in ({"id": agreement.id, "reason": "r", "confirm": "yes"},
                 {"id": agreement.id, "reason": "r", "confirm": "yes", "csrf": "forged"}):
        status, text, _ = await client.post("/console/agreements/revoke", form)
        assert status == 403 and "CSRF token is missing or wrong" in text
    assert fed.nodes[CITY].agreements.get(agreement.id).state == "active"
    assert (await fed.nodes[CITY].audit.head())[0] == size_before
    # The right token revokes, and the audit log names the operator.
    token = await client.csrf("/console/agreements")
    status, _, headers = await client.post("/console/agreements/revoke", {
        "id": agreement.id, "reason": "test", "confirm": "yes", "csrf": token})
    assert status == 303
    assert fed.nodes[CITY].agreements.get(agreement.id).state == "revoked"
    last = (await fed.nodes[CITY].audit.entries())[-1]
    assert last.caller == "operator:admin1" and last.operation == "console.revoke"
    assert last.agreement_id == agreement.id


async def test_a_viewer_sees_but_cannot_change(fed: LocalFederation,
                                               client: ConsoleClient) -> None:
    agreement = await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-view",
                                purpose="disaster_response",
                                types={"EvacuationSite": ["capacity"]})
    await client.sign_in("viewer1", PASSWORD)
    status, text, _ = await client.get("/console/agreements")
    assert status == 200 and "agr-view" in text and ">Revoke<" not in text
    token = await client.csrf("/console/agreements")
    status, text, _ = await client.post("/console/agreements/revoke", {
        "id": agreement.id, "reason": "r", "confirm": "yes", "csrf": token})
    assert status == 403 and "needs the admin role" in text
    assert fed.nodes[CITY].agreements.get(agreement.id).state == "active"


async def test_attacker_text_in_entity_names_and_quarantined_values_is_escaped(
        fed: LocalFederation, client: ConsoleClient) -> None:
    store = fed.nodes[CITY].store
    await store.upsert_entities([entity_write({
        "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:x", "type": "EvacuationSite",
        "name": {"type": "Property", "value": XSS}})], time.time())
    run = await store.start_run("shelters", "shelters.csv", time.time())
    await store.commit_batch(run, "shelters", [], [QuarantineRecord(
        "shelters", "shelters.csv", 7, "収容人数", XSS, "not_a_number", f"bad value {XSS}")],
        None, 1, time.time())
    await store.finish_run(run, time.time())
    await client.sign_in("admin1", PASSWORD)
    status, text, _ = await client.get("/console/data")
    assert status == 200
    assert "<script>" not in text and "<img src=x" not in text
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert text.count(escaped) >= 3  # the entity's name, the raw value, the reason
    # Filters are attacker text too (a link someone sends an operator).
    status, text, _ = await client.get("/console/data?source=%22%3E%3Cscript%3Ex")
    assert status == 200 and '"><script>x' not in text


async def test_signing_out_ends_the_session_on_the_server(client: ConsoleClient) -> None:
    await client.sign_in("admin1", PASSWORD)
    stolen = client.cookies[f"renkei_console_{CITY}"]
    token = await client.csrf("/console/federation")
    status, _, _ = await client.post("/console/logout", {"csrf": token})
    assert status == 303
    client.cookies[f"renkei_console_{CITY}"] = stolen  # replaying the old cookie
    status, _, headers = await client.get("/console/federation")
    assert status == 303 and headers["Location"] == "/console/login"


def test_the_console_refuses_plain_http_off_loopback(tmp_path: Path) -> None:
    base = {"node": {"id": CITY, "role": "city"}, "trust": {"authority_jwk": "a.json"},
            "http": {"listen": "0.0.0.0:8080"}}
    with pytest.raises(ConfigError) as refused:
        parse_config(tmp_path / "renkei.toml", base)
    assert refused.value.key == "console.enabled"
    assert "behind_tls_proxy" in str(refused.value)
    behind = parse_config(tmp_path / "renkei.toml", {**base, "console": {
        "behind_tls_proxy": True}})
    assert behind.console.enabled and behind.console.behind_tls_proxy
    off = parse_config(tmp_path / "renkei.toml", {**base, "console": {"enabled": False}})
    assert not off.console.enabled
    loopback = parse_config(tmp_path / "renkei.toml", {**base, "http": {
        "listen": "127.0.0.1:0"}})
    assert loopback.console.enabled
    for name in ("api.crt", "api.key"):
        (tmp_path / name).write_text("PEM", encoding="utf-8")  # only their presence is read
    https = parse_config(tmp_path / "renkei.toml", {**base, "http": {
        "listen": "0.0.0.0:8443", "tls_cert": "api.crt", "tls_key": "api.key"}})
    assert https.console.enabled
