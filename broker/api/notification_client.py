"""The notifier's HTTP client: it connects only to addresses the egress policy allows.

``ngsi.egress`` says which addresses a subscription may reach; this module makes aiohttp
obey it at the moment of connecting. Host names go through ``GuardedResolver``: the addresses
a name resolves to are filtered, and aiohttp connects only to what the resolver returned, so
a DNS answer mixing a public and a private address (how rebinding attacks start) can only
lead to the public one; a name with no allowed address is refused. aiohttp does not ask the
resolver about IP literals, so ``refusal`` checks those before each request.
"""

from __future__ import annotations

import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from ..ngsi.egress import EgressPolicy, literal_address


class RefusedAddress(OSError):
    """A notification endpoint resolved to an address the egress policy refuses."""


class GuardedResolver(AbstractResolver):
    """The default resolver, refusing names that resolve to a refused address."""

    def __init__(self, policy: EgressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._policy.refused(r["host"]) is None]
        if not allowed:
            if not results:
                raise RefusedAddress(f"{host[:64]} resolves to no address")
            first = results[0]["host"]
            raise RefusedAddress(f"{host[:64]} resolves to {first}, "
                                 f"{self._policy.refused(first)}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def notification_session(policy: EgressPolicy, timeout: float) -> aiohttp.ClientSession:
    """A client session whose connections obey ``policy`` (no proxies from the environment:
    a proxy would connect on our behalf, unchecked)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy))
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 timeout=aiohttp.ClientTimeout(total=timeout))


def refusal(policy: EgressPolicy, url: URL) -> str | None:
    """Why the notifier must not send to ``url`` before any DNS look-up (None: go on, the
    resolver checks names). Re-checked at delivery: the allow-list may have shrunk since the
    subscription was written, or the subscription predates the checks."""
    if url.scheme not in ("http", "https") or not url.host:
        return "not an http(s) URL"
    if url.user is not None or url.password is not None:
        return "credentials in the URL"
    literal = literal_address(url.host)
    return None if literal is None else policy.refused(literal)


def refused_connection(exc: BaseException) -> bool:
    """Whether a client error is the resolver's refusal (not worth retrying)."""
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error,
                                                                        RefusedAddress)


__all__ = ["GuardedResolver", "RefusedAddress", "notification_session", "refusal",
           "refused_connection"]
