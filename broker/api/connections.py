"""Connection limits of the HTTP server: header-read timeout, per-address and global caps.

aiohttp has no header-read timeout: a client that sends a request line and one header and
then nothing holds a connection (and a file descriptor) for ever, and 1,100 of them exhausted
a node's descriptors so that ``/health`` stopped answering. :class:`ConnectionGuard` wraps
the server's protocol factory:

- a connection whose first request's headers are not complete within ``header_seconds`` is
  closed (one WARNING line per address and minute, not one per connection);
- at most ``per_address`` connections from one client address, and at most ``total`` in all
  (by default half the process's descriptor limit, so the node always has descriptors left
  for its store, its peers and new ``/health`` probes); a connection over a cap is closed at
  once, before aiohttp sees it.

The body has its own time limit where it is read (``common.read_json``). Not covered here: a
client that finishes its first request and then trickles the headers of a second one on the
same keep-alive connection (aiohttp's keep-alive timeout does not apply while bytes arrive);
the per-address cap bounds what one address can hold that way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("renkei.api")
_END_OF_HEADERS = b"\r\n\r\n"


class ConnectionGuard:
    """Counts open connections and wraps each new one (see the module docstring)."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], *, header_seconds: float,
                 per_address: int, total: int) -> None:
        self._factory = factory
        self.header_seconds = header_seconds
        self.per_address = per_address
        self.total = total
        self.open = 0
        self._by_address: dict[str, int] = {}
        self._warned: dict[tuple[str, str], float] = {}
        self.refused = 0
        self.timed_out = 0

    def __call__(self) -> asyncio.Protocol:
        return _GuardedProtocol(self, self._factory)

    def admit(self, address: str) -> bool:
        if self.open >= self.total:
            self._refuse(address, f"{self.total} connections open in all")
            return False
        if self._by_address.get(address, 0) >= self.per_address:
            self._refuse(address, f"{self.per_address} connections open from this address")
            return False
        self.open += 1
        self._by_address[address] = self._by_address.get(address, 0) + 1
        return True

    def release(self, address: str) -> None:
        self.open -= 1
        left = self._by_address.get(address, 1) - 1
        if left > 0:
            self._by_address[address] = left
        else:
            self._by_address.pop(address, None)

    def _refuse(self, address: str, why: str) -> None:
        self.refused += 1
        self.warn(address, "refused", f"connection from {address} refused: {why}")

    def warn(self, address: str, kind: str, message: str) -> None:
        """Log ``message`` at most once a minute per (address, kind): an attack must not
        flood the log."""
        now = time.monotonic()
        if now - self._warned.get((address, kind), -60.0) >= 60.0:
            self._warned[(address, kind)] = now
            if len(self._warned) > 10_000:
                self._warned.clear()
            log.warning("%s", message)


class _GuardedProtocol(asyncio.Protocol):
    """Delegates to aiohttp's protocol once the guard admits the connection, and closes it
    if its first request's headers are late."""

    def __init__(self, guard: ConnectionGuard,
                 factory: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._factory = factory
        self._inner: Any = None
        self._transport: asyncio.Transport | None = None
        self._address = ""
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if peer else ""
        if not self._guard.admit(self._address):
            transport.abort()
            return
        self._transport = transport
        self._inner = self._factory()
        self._inner.connection_made(transport)
        self._timer = asyncio.get_running_loop().call_later(self._guard.header_seconds,
                                                            self._headers_late)

    def _headers_late(self) -> None:
        self._timer = None
        self._guard.timed_out += 1
        self._guard.warn(self._address, "header_timeout",
                         f"connection from {self._address} closed: request headers not "
                         f"complete within {self._guard.header_seconds:g} s")
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._timer is not None:
            seen = self._tail + data
            if _END_OF_HEADERS in seen:
                self._timer.cancel()
                self._timer = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._guard.release(self._address)
        inner, self._inner = self._inner, None
        inner.connection_lost(exc)
