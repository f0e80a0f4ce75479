"""The peers a node talks to: one pinned channel per member, kept in step with the directory.

``PeerPool`` is what the node and the CLI's offline context both hand to everything that
calls peers (fan-out, agreement exchange, subscriptions, witnessing): a callable returning
member id -> ``PeerChannel``. It rebuilds the map when the signed directory's version changes,
keeping the channel of every member whose address and pins did not change (closing it would
cut its open streams) and closing the others in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from trust.directory import DirectoryHolder
from trust.errors import DirectoryError
from trust.tokens import TokenIssuer

from .access import CallObserver
from .grpc_client import IDLE_SECONDS, ClientInterceptor, PeerAddress, PeerChannel


class PeerTokens:
    """Outgoing tokens: a fresh one per call (per peer and agreement).

    A token is not reused across calls: the callee binds each token id to the connection it
    first arrived on (replay protection), and a connection does not outlive a restart of
    either side, so a reused token would be refused as ``replayed`` after a reconnect.
    """

    def __init__(self, issuer: TokenIssuer) -> None:
        self._issuer = issuer

    def __call__(self, audience: str, agreement_id: str) -> str:
        return self._issuer.issue(audience, agreement_id or None)


class PeerPool:
    """A channel per other member with an endpoint, rebuilt when the directory changes."""

    def __init__(self, node_id: str, directory: DirectoryHolder, tokens: PeerTokens, *,
                 max_message_bytes: int, insecure: bool,
                 observer: CallObserver | None = None,
                 idle_seconds: float = IDLE_SECONDS,
                 interceptors: Callable[[str], Sequence[ClientInterceptor]] | None = None
                 ) -> None:
        self._node_id = node_id
        self._observer = observer  # every call made: access line and metrics
        # Per peer: the client interceptors of its channel (tracing, when it is on).
        self._interceptors = interceptors or (lambda _peer: ())
        self._directory = directory
        self._tokens = tokens
        self._max_message_bytes = max_message_bytes
        self._insecure = insecure
        self._idle = idle_seconds
        self._channels: dict[str, PeerChannel] = {}
        self._version = -1
        self._closing: set[asyncio.Task[None]] = set()

    def __call__(self) -> Mapping[str, PeerChannel]:
        """member id -> channel for the directory held now (empty while none is held)."""
        try:
            directory = self._directory.current
        except DirectoryError:
            return {}
        if directory.version != self._version:
            old = self._channels
            self._channels = {}
            for m in directory.members.values():
                if m.id == self._node_id or not m.endpoints or m.revoked:
                    continue
                address = PeerAddress(m.id, m.endpoints[0], tuple(m.tls_fingerprints),
                                      insecure=self._insecure)
                kept = old.get(m.id)
                self._channels[m.id] = kept if kept is not None and kept.address == address \
                    else PeerChannel(address, self._tokens, self._max_message_bytes,
                                     self._observer, self._idle, self._interceptors(m.id))
            self._version = directory.version
            for member_id, channel in old.items():
                if self._channels.get(member_id) is not channel:
                    task = asyncio.get_running_loop().create_task(channel.close())
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)
        return self._channels

    async def close(self) -> None:
        """Close every channel (and wait for those being closed after a directory change)."""
        channels, self._channels, self._version = self._channels, {}, -1
        for channel in channels.values():
            await channel.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
