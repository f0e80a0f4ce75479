"""``HttpServer``: the node's NGSI-LD API listening on ``[http] listen`` (port 0 = any)."""

from __future__ import annotations

import logging

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

    async def start(self) -> None:
        self.app = await create_app(self._deps)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        host, _, port = self._deps.http.listen.rpartition(":")
        self.host = host.strip("[]")
        site = web.TCPSite(self._runner, self.host, int(port), backlog=1024)
        await site.start()
        server = site._server  # aiohttp keeps the bound sockets here; port 0 needs them
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else int(port)
        log.info("node %s: NGSI-LD API on %s", self._deps.node_id, self.url)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            log.info("node %s: NGSI-LD API on %s stopping", self._node.id, self.url,
                     extra=fields(server="http", url=self.url))
            runner, self._runner = self._runner, None
            await runner.cleanup()
