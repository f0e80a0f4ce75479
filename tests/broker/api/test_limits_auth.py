"""Limits (body size, nesting, page size) and authentication (tokens, scopes, dev mode)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import orjson

from broker.cli import client as client_cli
from broker.demo.harness import LocalFederation, NodeSpec

from .conftest import CITY, ApiClient, basic, client_token, site

E = "/ngsi-ld/v1/entities"


async def test_body_size_nesting_and_page_size(api: ApiClient) -> None:
    big = site(1, description={"type": "Property", "value": "x" * (1024 * 1024)})
    r = await api.post(E, big)
    assert r.status == 413
    assert r.json()["type"] == "https://w3id.org/renkei/errors/PayloadTooLarge"
    deep: dict = {"type": "Property", "value": 1}
    for _ in range(40):
        deep = {"type": "Property", "value": 1, "sub": deep}
    r = await api.post(E, site(2, nested=deep))
    assert r.status == 400 and "nested deeper" in r.json()["detail"]
    r = await api.get(E, params={"type": "EvacuationSite", "limit": "1001"})
    assert r.status == 403
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/TooManyResults"
    r = await api.get(E, params={"type": "EvacuationSite", "limit": "-1"})
    assert r.status == 400


async def test_tokens_and_scopes(api: ApiClient, session) -> None:
    r = await api.get(E, params={"type": "EvacuationSite"}, token=None)
    assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = await api.get(E, params={"type": "EvacuationSite"}, token="not.a.token")
    assert r.status == 401 and r.json()["code"] == "invalid_token"
    reader = await client_token(api.node, session, scopes=("read",), name="dashboard")
    assert (await api.get(E, params={"type": "EvacuationSite"}, token=reader)).status == 200
    r = await api.post(E, site(1), token=reader)
    assert r.status == 403 and r.json()["code"] == "insufficient_scope"
    async with session.post(api.url + "/oauth2/token", data={"grant_type": "client_credentials"},
                            headers={"Authorization": basic("nobody", "wrong")}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "invalid_client"


async def test_cli_registers_a_client_whose_secret_is_stored_only_hashed(
        federation: LocalFederation, city, session) -> None:
    config = federation.config_files[CITY]
    parser_args = ["add", "citydash", "--purpose", "tourism", "--write", "--config",
                   str(config)]
    import argparse

    parser = argparse.ArgumentParser()
    client_cli.register(parser.add_subparsers())
    args = parser.parse_args(["client", *parser_args])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert await asyncio.to_thread(args.handler, args) == 0
    lines = dict(line.split(":", 1) for line in out.getvalue().splitlines() if ": " in line)
    client_id, secret = lines["client_id"].strip(), lines["client_secret"].strip()
    stored = await city.store.get_state("http_clients", client_id)
    assert stored["purpose"] == "tourism" and secret not in orjson.dumps(stored).decode()
    async with session.post(city.http.url + "/oauth2/token",
                            data={"grant_type": "client_credentials", "client_id": client_id,
                                  "client_secret": secret}) as resp:
        reply = await resp.json()
        assert resp.status == 200, reply
    api = ApiClient(city, session, reply["access_token"])
    assert (await api.post(E, site(1))).status == 201


async def test_dev_open_read_on_loopback_says_so(tmp_path: Path, session) -> None:
    fed = LocalFederation(tmp_path, insecure=True, dev_open_read=True)
    await fed.start_authority()
    try:
        node = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City"))
        await fed.publish()
        api = ApiClient(node, session, None)
        r = await api.get(E, params={"type": "EvacuationSite"})
        assert r.status == 200 and "open-read-on-loopback" in r.headers["Renkei-Dev-Mode"]
        assert (await api.post(E, site(1))).status == 401  # writes still need a token
    finally:
        await fed.stop()


async def test_dev_open_on_loopback_serves_writes_without_a_token(tmp_path: Path,
                                                                  session) -> None:
    # What a standard NGSI-LD client or the ETSI suite needs: no Authorization header at all.
    fed = LocalFederation(tmp_path, insecure=True, dev_open=True)
    await fed.start_authority()
    try:
        node = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City"))
        api = ApiClient(node, session, None)
        r = await api.post(E, site(1))
        assert r.status == 201 and "open-on-loopback" in r.headers["Renkei-Dev-Mode"]
        r = await api.get(E, params={"type": "EvacuationSite"})
        assert r.status == 200 and len(r.json()) == 1
        assert (await api.get("/health", token=None)).json()["devOpenOnLoopback"] is True
        # A bearer token that does not verify is still refused, dev mode or not.
        assert (await api.get(E, params={"type": "EvacuationSite"}, token="x.y.z")).status == 401
    finally:
        await fed.stop()


async def test_health_and_metrics(api: ApiClient) -> None:
    health = await api.get("/health", token=None)
    assert health.status == 200 and health.json()["node"] == CITY
    await api.get(E, params={"type": "EvacuationSite"})
    metrics = (await api.get("/metrics", token=None)).body.decode()
    assert 'renkei_http_requests_total{method="GET",route="/ngsi-ld/v1/entities",status="200"}' \
        in metrics
    assert "renkei_http_request_seconds_bucket" in metrics
    assert "renkei_policy_denials" in metrics and "renkei_peer_calls" in metrics


async def test_disabling_a_client_ends_its_live_tokens_at_once(
        federation: LocalFederation, city, session) -> None:
    # Issue 12: a disabled client's tokens kept working until they expired (300 s). The CLI
    # disables it in the store from its own process (as on another replica); the token
    # already verified and cached by the running node is refused on its next request.
    token = await client_token(city, session, name="kiosk")
    api = ApiClient(city, session, token)
    assert (await api.get(E, params={"type": "EvacuationSite"})).status == 200
    (client_id,) = [c for c, r in (await city.store.list_state("http_clients")).items()
                    if r["name"] == "kiosk"]
    import argparse

    parser = argparse.ArgumentParser()
    client_cli.register(parser.add_subparsers())
    args = parser.parse_args(["client", "disable", client_id, "--config",
                              str(federation.config_files[CITY])])
    with contextlib.redirect_stdout(io.StringIO()):
        assert await asyncio.to_thread(args.handler, args) == 0
    for path in (E + "?type=EvacuationSite", "/ngsi-ld/v1/types"):
        r = await api.get(path)
        assert r.status == 401, (path, r.status)
        assert r.json()["code"] == "invalid_token"
