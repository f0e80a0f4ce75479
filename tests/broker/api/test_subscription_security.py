"""Subscriptions are their owner's: other clients cannot see, change or delete them, and
nobody reads back the credentials sent to the endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from broker.demo.harness import LocalFederation, NodeSpec
from broker.node import Node

from .conftest import CITY, ApiClient, Receiver, client_token, site

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
SECRET = "Bearer s3cr3t-of-the-receiver"


def subscription(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "EvacuationSite"}],
            "notification": {"endpoint": {"uri": url, "receiverInfo": [
                {"key": "Authorization", "value": SECRET}]}}, **extra}


async def test_subscriptions_are_scoped_to_their_owner(api: ApiClient, city: Node, session: Any,
                                                      receiver: Receiver) -> None:
    sub_id = "urn:ngsi-ld:Subscription:owned"
    assert (await api.post(S, subscription(receiver.url, id=sub_id))).status == 201
    one = f"{S}/{sub_id}"
    reader = ApiClient(city, session, await client_token(city, session, scopes=("read",),
                                                         name="reader"))
    other = ApiClient(city, session, await client_token(city, session, name="other"))
    for intruder in (reader, other):
        listed = await intruder.get(S, params={"count": "true"})
        assert listed.status == 200 and listed.json() == []
        assert listed.headers["NGSILD-Results-Count"] == "0"
        assert SECRET.encode() not in listed.body
        assert (await intruder.get(one)).status == 404
    assert (await other.call("PATCH", one, json={"isActive": False})).status == 404
    assert (await other.call("DELETE", one)).status == 404
    # The read-only client is stopped earlier still, by scope.
    assert (await reader.call("DELETE", one)).status == 403
    # The owner's subscription is untouched, and keeps notifying.
    shown = (await api.get(one)).json()
    assert shown["status"] == "active"
    await api.post(E, site(1))
    headers, _note = await receiver.next()
    assert headers["Authorization"] == SECRET
    assert (await api.call("DELETE", one)).status == 204


async def test_receiver_info_values_are_never_echoed(api: ApiClient, receiver: Receiver) -> None:
    r = await api.post(S, subscription(receiver.url))
    assert r.status == 201
    for reply in (await api.get(S), await api.get(r.headers["Location"]),
                  await api.get(r.headers["Location"], headers={
                      "Accept": "application/ld+json"})):
        assert reply.status == 200 and SECRET.encode() not in reply.body
    shown = (await api.get(r.headers["Location"])).json()
    assert shown["notification"]["endpoint"]["receiverInfo"] == [
        {"key": "Authorization", "value": "***"}]


# -- where notifications may go -----------------------------------------------------------------

@pytest.fixture
async def strict(tmp_path: Path, session: aiohttp.ClientSession) -> AsyncIterator[ApiClient]:
    """A node as shipped: no [http] notification_allow, so only public addresses."""
    fed = LocalFederation(tmp_path / "strict", insecure=True)
    await fed.start_authority()
    try:
        node = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City"))
        yield ApiClient(node, session, await client_token(node, session))
    finally:
        await fed.stop()


def plain(uri: str, **endpoint: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "EvacuationSite"}],
            "notification": {"endpoint": {"uri": uri, **endpoint}}}


async def _delivery_status(api: ApiClient, location: str) -> dict[str, Any]:
    for _ in range(200):
        note = (await api.get(location)).json()["notification"]
        if "status" in note:
            return dict(note)
        await asyncio.sleep(0.05)
    raise AssertionError("no delivery was recorded")


async def test_literal_internal_addresses_are_refused_at_creation(
        strict: ApiClient, api: ApiClient) -> None:
    refused = ["http://127.0.0.1:9/notify", "http://[::1]/n", "http://10.0.0.7/n",
               "http://172.16.1.1/n", "http://192.168.0.1/n", "http://169.254.169.254/latest",
               "http://[fd00:ec2::254]/n", "http://[fc00::1]/n", "http://[fe80::1]/n",
               "http://0.0.0.0:80/n", "http://224.0.0.1/n", "http://100.100.100.200/n",
               "http://[::ffff:127.0.0.1]/n", "http://2130706433/n", "http://0x7f.1/n",
               "http://127.1/n", "https://u:p@example.com/n", "ftp://example.com/n"]
    for uri in refused:
        r = await strict.post(S, plain(uri))
        assert r.status == 400, (uri, r.body)
        assert r.json()["type"].endswith("/BadRequestData")
    # The allow-list lets exactly its networks through: 127.0.0.0/8 on the fixture's node.
    assert (await api.post(S, plain("http://127.0.0.1:9/notify"))).status == 201
    for uri in ("http://[::1]/n", "http://10.0.0.7/n", "http://169.254.169.254/n"):
        assert (await api.post(S, plain(uri))).status == 400, uri
    # A public address is fine (nothing is sent: no entity changes in this test).
    r = await strict.post(S, plain("http://93.184.215.14/notify"))
    assert r.status == 201
    # An update cannot move an endpoint where a creation could not go.
    patched = await strict.call("PATCH", r.headers["Location"], json={
        "notification": {"endpoint": {"uri": "http://169.254.169.254/latest"}}})
    assert patched.status == 400


async def test_a_name_resolving_to_a_refused_address_fails_at_delivery(
        strict: ApiClient, receiver: Receiver) -> None:
    # localhost is a name: accepted when written, resolved when delivering, and refused then.
    port = receiver.url.rsplit(":", 1)[1].split("/")[0]
    r = await strict.post(S, plain(f"http://localhost:{port}/notify"))
    assert r.status == 201
    await strict.post(E, site(1))
    note = await _delivery_status(strict, r.headers["Location"])
    assert note["status"] == "failed" and "lastFailure" in note and "lastSuccess" not in note
    assert receiver.received == []


async def test_an_allow_listed_name_is_delivered(api: ApiClient, receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1].split("/")[0]
    r = await api.post(S, plain(f"http://localhost:{port}/notify"))
    assert r.status == 201
    await api.post(E, site(1))
    await receiver.next()
    assert (await _delivery_status(api, r.headers["Location"]))["status"] == "ok"


async def test_redirects_are_not_followed(api: ApiClient) -> None:
    hits: list[str] = []

    async def hop(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/hop":
            raise web.HTTPTemporaryRedirect("/landing")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{name}", hop)
    runner = web.AppRunner(app)
    await runner.setup()
    site_ = web.TCPSite(runner, "127.0.0.1", 0)
    await site_.start()
    port = site_._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        r = await api.post(S, plain(f"http://127.0.0.1:{port}/hop"))
        assert r.status == 201
        await api.post(E, site(1))
        note = await _delivery_status(api, r.headers["Location"])
        assert note["status"] == "failed"
        assert hits == ["/hop"]  # once: a redirect is final, neither followed nor retried
    finally:
        await runner.cleanup()


async def test_receiver_info_names_are_restricted(api: ApiClient, receiver: Receiver) -> None:
    for key, value in (("Host", "internal.example"), ("Content-Length", "0"),
                       ("Transfer-Encoding", "chunked"), ("Connection", "close"),
                       ("content-type", "text/plain"), ("Proxy-Authorization", "x"),
                       ("X-Forwarded-For", "10.0.0.1"), ("Bad Name", "x"), ("", "x"),
                       ("X-Api-Key", "a\r\nHost: evil"), ("X-Api-Key", "x" * 5000)):
        r = await api.post(S, plain(receiver.url, receiverInfo=[{"key": key, "value": value}]))
        assert r.status == 400, (key, r.body)
    for bad in ("x", [{"key": "X-A"}], [{"key": "X-A", "value": 1}],
                [{"key": f"X-{i}", "value": "v"} for i in range(17)]):
        r = await api.post(S, plain(receiver.url, receiverInfo=bad))
        assert r.status == 400, (bad, r.body)
    r = await api.post(S, plain(receiver.url, receiverInfo=[
        {"key": "X-Api-Key", "value": "k-123"}, {"key": "Fiware-Service", "value": "nanao"}]))
    assert r.status == 201
    await api.post(E, site(1))
    headers, _note = await receiver.next()
    assert headers["X-Api-Key"] == "k-123" and headers["Fiware-Service"] == "nanao"
    assert headers["Host"].startswith("127.0.0.1:")
