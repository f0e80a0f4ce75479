"""Real nodes for API tests: a local federation on 127.0.0.1 with OS-chosen ports."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from broker.api.auth import ClientRegistry
from broker.demo.harness import LocalFederation, NodeSpec
from broker.node import Node
from mappings.contexts import NGSI_LD_CORE_V1_8_URL, RENKEI_CONTEXT_URL

CITY = "jp-172022"
AGENCY = "jp-gov-bousai"
LD = "application/ld+json"
JSON = "application/json"
CTX_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
#: The Link header of a client speaking the Renkei context (the store's names).
RENKEI_LINK = f"<{RENKEI_CONTEXT_URL}>; {CTX_REL}"
CORE_LINK = f"<{NGSI_LD_CORE_V1_8_URL}>; {CTX_REL}"
LOOPBACK_ALLOWED = ("127.0.0.0/8",)


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class ApiClient:
    """HTTP calls to one node's API with a bearer token (or none); with ``link``, every call
    without a Link header or a JSON-LD body sends that JSON-LD context Link header."""

    def __init__(self, node: Node, session: aiohttp.ClientSession, token: str | None,
                 link: str | None = None) -> None:
        self.node = node
        self.url = node.http.url
        self.session = session
        self.token = token
        self.link = link

    def speaking(self, link: str | None) -> ApiClient:
        """The same client with another default Link header (None: no context at all)."""
        return ApiClient(self.node, self.session, self.token, link)

    async def call(self, method: str, path: str, *, json: Any = None, data: Any = None,
                   headers: dict[str, str] | None = None, token: Any = "default",
                   params: Any = None) -> Reply:
        h = dict(headers or {})
        token = self.token if token == "default" else token
        if token:
            h.setdefault("Authorization", f"Bearer {token}")
        if json is not None:
            body = orjson.dumps(json)
            # aiohttp warns (an error under filterwarnings) when a body over 1 MiB is raw bytes.
            data = io.BytesIO(body) if len(body) > 1024 * 1024 else body
            h.setdefault("Content-Type", JSON)
        if self.link and "Link" not in h and h.get("Content-Type") != LD:
            h["Link"] = self.link
        async with self.session.request(method, self.url + path, data=data, headers=h,
                                        params=params) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, json=json, **kw)


async def client_token(node: Node, session: aiohttp.ClientSession, *, purpose: str =
                       "disaster_response", scopes: tuple[str, ...] = ("read", "write"),
                       name: str = "app") -> str:
    client_id, secret = await ClientRegistry(node.store, node.clock).add(name, purpose, scopes)
    async with session.post(node.http.url + "/oauth2/token",
                            data={"grant_type": "client_credentials"},
                            headers={"Authorization": basic(client_id, secret)}) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["access_token"])


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    # The receivers below listen on 127.0.0.1, which a node refuses to notify unless its
    # operator allow-lists it.
    fed = LocalFederation(tmp_path, insecure=True, notification_allow=LOOPBACK_ALLOWED)
    await fed.start_authority()
    try:
        yield fed
    finally:
        await fed.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def city(federation: LocalFederation) -> Node:
    node = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City"))
    await federation.publish()
    return node


@pytest.fixture
async def api(city: Node, session: aiohttp.ClientSession) -> ApiClient:
    """A client that sends no @context at all (the core context applies)."""
    return ApiClient(city, session, await client_token(city, session))


@pytest.fixture
def renkei(api: ApiClient) -> ApiClient:
    """The same client speaking the Renkei context (the store's own names)."""
    return api.speaking(RENKEI_LINK)


def site(i: int, capacity: int = 100, **extra: Any) -> dict[str, Any]:
    entity = {"id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{i:04d}", "type": "EvacuationSite",
              "name": {"type": "LanguageProperty", "languageMap": {"ja": f"避難所{i}",
                                                                   "en": f"Shelter {i}"}},
              "capacity": {"type": "Property", "value": capacity},
              "location": {"type": "GeoProperty", "value": {
                  "type": "Point", "coordinates": [136.96 + i / 1000, 37.04]}}}
    entity.update(extra)
    return entity


class Receiver:
    """An HTTP endpoint that records notifications; it can fail the first N deliveries."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []
        self.fail_first = 0
        self.arrived = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        self.received.append((dict(request.headers), orjson.loads(await request.read())))
        self.arrived.set()
        return web.Response(status=204)

    async def next(self, timeout: float = 10.0) -> tuple[dict[str, str], Any]:
        await asyncio.wait_for(self.arrived.wait(), timeout)
        self.arrived.clear()
        return self.received[-1]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/notify", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site_ = web.TCPSite(runner, "127.0.0.1", 0)
    await site_.start()
    port = site_._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/notify"
    try:
        yield rec
    finally:
        await runner.cleanup()
