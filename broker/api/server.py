"""``HttpServer``: the node's NGSI-LD API listening on ``[http] listen`` (port 0 = any)."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from pathlib import Path

from aiohttp import web

from ..logs import fields
from .app import create_app
from .deps import ApiDeps

log = logging.getLogger("renkei.api")


class HttpServer:
    """Starts and stops the aiohttp application of one node."""

    def __init__(self, deps: ApiDeps) -> None:
        self._deps = deps
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.host = ""
        self.port = 0
        self.scheme = "http"

    async def start(self) -> None:
        self.app = await create_app(self._deps)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        config = self._deps.http
        host, _, port = config.listen.rpartition(":")
        self.host = host.strip("[]")
        tls = _tls_context(config.tls_cert, config.tls_key) if config.tls_cert else None
        self.scheme = "https" if tls is not None else "http"
        site = web.TCPSite(self._runner, self.host, int(port), backlog=1024, ssl_context=tls)
        await site.start()
        server = site._server  # aiohttp keeps the bound sockets here; port 0 needs them
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else int(port)
        log.info("node %s: NGSI-LD API on %s", self._deps.node_id, self.url)
        if tls is None and not _loopback(self.host):
            log.warning("node %s: the NGSI-LD API listens on %s WITHOUT TLS: API tokens and "
                        "data travel in plaintext. Set [http] tls_cert and tls_key, or listen "
                        "on 127.0.0.1 behind a TLS proxy", self._deps.node_id, config.listen)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            log.info("node %s: NGSI-LD API on %s stopping", self._deps.node_id, self.url,
                     extra=fields(server="http", url=self.url))
            runner, self._runner = self._runner, None
            await runner.cleanup()


def _tls_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def _loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, or "" / 0.0.0.0 (every interface)
