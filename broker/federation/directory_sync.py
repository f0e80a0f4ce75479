"""The member directory a node holds: loaded from its store, refreshed from the authority.

``open_directory`` is the one way a node and the CLI's offline context come to hold the
directory: the authority's pinned key from ``[trust] authority_jwk``, then the newest
directory the store kept (its version is the floor: an older one is a rollback, refused
across restarts too). ``DirectorySync`` fetches newer directories from the authority and
installs them: verified, kept in the store, and announced (the agreement book re-checks its
agreements against the new members); it also adopts, every ``FOLLOW_SECONDS``, a newer one
another replica kept in the shared store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from trust.clock import Clock
from trust.directory import Directory, DirectoryHolder

from ..config import NodeConfig
from ..errors import ConfigError
from ..store.base import Store
from .grpc_client import AuthorityClient, PeerAddress

FOLLOW_SECONDS = 2.0  # how often a node looks for a directory another replica stored


def authority_key(config: NodeConfig) -> Mapping[str, Any]:
    """The authority's public JWK the node pins (``ConfigError`` naming the key if unreadable)."""
    try:
        jwk = json.loads(config.trust.authority_jwk.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(str(config.file), "trust.authority_jwk",
                          f"a readable JSON Web Key file ({exc})") from None
    if not isinstance(jwk, dict):
        raise ConfigError(str(config.file), "trust.authority_jwk",
                          "a JSON Web Key (a JSON object)")
    return jwk


async def open_directory(config: NodeConfig, store: Store, clock: Clock) -> DirectoryHolder:
    """The directory held in ``store`` under the pinned authority key (none held: empty)."""
    held = await store.latest_directory()
    holder = DirectoryHolder(authority_key(config), min_version=held[0] if held else 0)
    if held is not None:
        holder.update(held[1], clock.now(), allow_expired=True)
    return holder


class DirectorySync:
    """Fetches and installs newer directories; ``on_install`` hears of each one installed."""

    def __init__(self, config: NodeConfig, holder: DirectoryHolder, store: Store, clock: Clock,
                 on_install: Callable[[Directory], None]) -> None:
        self._trust = config.trust
        self._insecure = config.grpc.insecure_dev
        self._holder = holder
        self._store = store
        self._clock = clock
        self._on_install = on_install

    async def refresh(self) -> int:
        """Fetch the newest directory from the authority; returns the version held."""
        if not self._trust.authority_endpoint:
            return self._holder.version
        address = PeerAddress("authority", self._trust.authority_endpoint,
                              (self._trust.authority_tls_fingerprint,),
                              insecure=self._insecure)
        _, jws = await AuthorityClient(address).get_directory(self._holder.version)
        if jws:
            await self.install(jws)
        return self._holder.version

    async def adopt_stored(self) -> bool:
        """Adopt a newer directory that another process (a replica on the same store, the
        CLI) kept in the store; True if one was adopted. A replica that fetched a directory
        revoking a member thus revokes it on every replica within a poll, not at each one's
        next authority poll (``directory_poll_seconds``, five minutes)."""
        held = await self._store.latest_directory()
        if held is None or held[0] <= self._holder.version:
            return False
        self._on_install(self._holder.update(held[1], self._clock.now()))
        return True

    async def install(self, jws: str) -> Directory:
        """Verify and adopt a signed directory (refusing rollback), keep it, announce it."""
        directory = self._holder.update(jws, self._clock.now())
        await self._store.put_directory(directory.version, jws, self._clock.now())
        self._on_install(directory)
        return directory
