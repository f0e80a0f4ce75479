"""``HttpServer``: the node's NGSI-LD API listening on ``[http] listen`` (port 0 = any),
behind the connection limits of ``connections.py``."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from ..config import default_connection_cap
from ..logs import fields
from .app import create_app
from .connections import ConnectionGuard
from .deps import ApiDeps

log = logging.getLogger("renkei.api")


class HttpServer:
    """Starts and stops the aiohttp application of one node."""

    def __init__(self, deps: ApiDeps,
                 mounts: Mapping[str, Callable[[], web.Application]] | None = None) -> None:
        self._deps = deps
        self._mounts = dict(mounts or {})  # prefix -> builds the application mounted there
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.guard: ConnectionGuard | None = None
        self.app: web.Application | None = None
        self.host = ""
        self.port = 0
        self.scheme = "http"

    async def start(self) -> None:
        self.app = await create_app(self._deps,
                                    {prefix: build() for prefix, build in self._mounts.items()})
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        config = self._deps.http
        host, _, port = config.listen.rpartition(":")
        self.host = host.strip("[]")
        tls = _tls_context(config.tls_cert, config.tls_key) if config.tls_cert else None
        self.scheme = "https" if tls is not None else "http"
        assert self._runner.server is not None
        # Our own listener instead of web.TCPSite, so that every connection passes the guard
        # before aiohttp's protocol sees it.
        self.guard = ConnectionGuard(
            self._runner.server, header_seconds=config.header_timeout_seconds,
            per_address=config.max_connections_per_address,
            total=config.max_connections or default_connection_cap())
        self._listener = await asyncio.get_running_loop().create_server(
            self.guard, self.host or None, int(port), backlog=1024, reuse_address=True,
            ssl=tls)
        sockets: tuple[Any, ...] = tuple(self._listener.sockets or ())
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
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.close()  # no new connections; open ones are shut down by the runner
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
