"""Operations endpoints: ``/health``, ``/metrics`` and the OAuth2 token endpoint."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...errors import BadRequest
from ..common import api_of, json_response
from ..errors import PayloadTooLarge
from ..metrics import CONTENT_TYPE

TOKEN_PATH = "/oauth2/token"


async def health(request: web.Request) -> web.Response:
    api = api_of(request)
    try:
        # The store answers (the feed's head is not shown: /health is open to anyone, and the
        # head counts every change of the node, also those no caller may see).
        await api.store.last_change_cursor()
        store_ok = True
    except Exception:
        store_ok = False
    try:
        version = api.directory_version()
    except Exception:
        version = 0
    # A background loop that failed (housekeeping: directory polling, agreement reload and
    # expiry) makes the node degraded too: it still answers, but no longer keeps up. A failed
    # source leaves everything else served: degraded too, naming the source and its code.
    # 503 only when the node cannot serve (its store) or a loop failed.
    loops = api.loops
    sources = api.sources
    ok = store_ok and loops.healthy()
    status = "ok" if ok and not sources.degraded else "degraded"
    body = {"status": status, "node": api.node_id,
            "directoryVersion": version,
            "loops": loops.report(),
            "devOpenReadOnLoopback": api.config.dev_open_read_on_loopback,
            "devOpenOnLoopback": api.config.dev_open_on_loopback,
            "sources": [s.public() for s in sources.states()]}
    return json_response(body, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    api = api_of(request)
    await api.metrics.refresh(api.store)
    api.metrics.sources(api.sources.states())
    api.metrics.loops(api.loops.report())
    return web.Response(body=api.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


async def token(request: web.Request) -> web.Response:
    """OAuth2 client credentials (RFC 6749 4.4): form-encoded, client auth Basic or post."""
    api = api_of(request)
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise BadRequest("the token endpoint takes application/x-www-form-urlencoded")
    if request.content_length is not None and request.content_length > 8192:
        raise PayloadTooLarge("token request too large")
    form = {k: str(v) for k, v in (await request.post()).items()}
    status, body, headers = await api.tokens.token_response(api.clients, form, request.headers)
    # authlib sets Content-Type itself; the JSON response sets it again.
    out: dict[str, Any] = {k: v for k, v in headers if k.lower() != "content-type"}
    if status == 401:
        api.metrics.api_denials.labels("bad_client_credentials").inc()
        out.setdefault("WWW-Authenticate", 'Basic realm="renkei"')
    return json_response(body, status=status, headers=out)


def routes() -> list[tuple[str, str, Any]]:
    return [("GET", "/health", health), ("GET", "/metrics", metrics),
            ("POST", TOKEN_PATH, token)]
