"""The member directory a node holds: loaded from its store, refreshed from the authority.

``open_directory`` is the one way a node and the CLI's offline context come to hold the
directory: the authority's pinned key from ``[trust] authority_jwk``, then the newest
directory the store kept (its version is the floor: an older one is a rollback, refused
across restarts too). ``DirectorySync`` fetches newer directories from the authority and
installs them: verified, kept in the store, and announced (the agreement book re-checks its
agreements against the new members); it also adopts, every ``FOLLOW_SECONDS``, a newer one
another replica kept in the shared store.

A damaged copy in the store (its signature does not verify, or it is not a directory at all)
does not stop the node: ``open_directory`` says so in the log and fetches a fresh one from
the authority, verified under the pinned key with the stored version as its floor. When the
authority cannot be reached, the node starts without a directory (peers' calls are refused,
as on a node not yet admitted) and the housekeeping loop keeps asking the authority.
``repair_directory`` (``renkei node repair-directory``) is the operator's way: it drops the
copies that do not verify, whatever version they claim, and installs the authority's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trust.clock import Clock
from trust.directory import Directory, DirectoryHolder
from trust.errors import DirectoryError

from ..config import NodeConfig
from ..errors import BadRequest, ConfigError, PeerError
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


log = logging.getLogger("renkei.directory")
REPAIR = "renkei node repair-directory"


async def open_directory(config: NodeConfig, store: Store, clock: Clock) -> DirectoryHolder:
    """The directory held in ``store`` under the pinned authority key (none held: empty).

    A damaged stored copy is replaced by a fresh one from the authority; when none can be had,
    the holder is returned empty (the node runs, its peers are refused until it has one).
    """
    held = await store.latest_directory()
    holder = DirectoryHolder(authority_key(config), min_version=held[0] if held else 0)
    if held is None:
        return holder
    try:
        holder.update(held[1], clock.now(), allow_expired=True)
        return holder
    except DirectoryError as exc:
        damage = exc
    log.error("the member directory kept in the store (version %d) is damaged (%s: %s): "
              "fetching a fresh copy from the authority", held[0], damage.code, damage)
    try:
        version, jws = await fetch_directory(config)
        directory = holder.update(jws, clock.now())
    except (PeerError, DirectoryError, BadRequest) as exc:
        log.error("no fresh member directory from the authority (%s): the node runs without "
                  "one, so peers' calls are refused until it has one; it keeps asking the "
                  "authority; `%s` replaces the damaged copy once the authority answers",
                  _reason(exc), REPAIR)
        return holder
    await store.put_directory(directory.version, jws, clock.now())
    log.warning("member directory: the damaged copy (version %d) was replaced by version %d "
                "fetched from the authority", held[0], version)
    return holder


async def fetch_directory(config: NodeConfig, known_version: int = 0) -> tuple[int, str]:
    """The authority's newest signed directory (version, JWS), not yet verified.

    ``BadRequest`` when ``[trust] authority_endpoint`` is not set, ``PeerError`` when the
    authority cannot be reached or has published nothing.
    """
    trust = config.trust
    if not trust.authority_endpoint:
        raise BadRequest(f"{config.file}: [trust] authority_endpoint is not set, so no "
                         "directory can be fetched from the authority")
    address = PeerAddress("authority", trust.authority_endpoint,
                          (trust.authority_tls_fingerprint,), insecure=config.grpc.insecure_dev)
    return await AuthorityClient(address).get_directory(known_version)


@dataclass(frozen=True)
class Repair:
    """What ``repair_directory`` did."""

    dropped: tuple[int, ...]  # versions of the damaged copies removed from the store
    kept: int  # version of the newest intact copy found (0: none)
    installed: int  # version now held in the store, fetched from the authority


async def repair_directory(config: NodeConfig, store: Store, clock: Clock) -> Repair:
    """Replace damaged stored directories by the authority's newest, verified.

    The authority is asked first, so nothing is removed when it cannot be reached. Stored
    copies that do not verify under the pinned key are dropped whatever version they claim
    (a damaged row cannot hold the rollback floor); the newest intact one still does: a
    directory from the authority older than it is refused (``directory_rollback``).
    """
    key = authority_key(config)
    _, jws = await fetch_directory(config)
    DirectoryHolder(key).update(jws, clock.now())  # verified before anything is changed
    dropped: list[int] = []
    kept = 0
    while (held := await store.latest_directory()) is not None:
        try:
            DirectoryHolder(key).update(held[1], clock.now(), allow_expired=True)
        except DirectoryError as exc:
            log.warning("dropping the damaged member directory copy version %d (%s)",
                        held[0], exc.code)
            await store.delete_directory(held[0])
            dropped.append(held[0])
            continue
        kept = held[0]
        break
    directory = DirectoryHolder(key, min_version=kept).update(jws, clock.now())
    await store.put_directory(directory.version, jws, clock.now())
    return Repair(tuple(dropped), kept, directory.version)


def _reason(exc: Exception) -> str:
    code = getattr(exc, "code", "")
    return f"{exc} [{code}]" if code else str(exc)


class DirectorySync:
    """Fetches and installs newer directories; ``on_install`` hears of each one installed."""

    def __init__(self, config: NodeConfig, holder: DirectoryHolder, store: Store, clock: Clock,
                 on_install: Callable[[Directory], None]) -> None:
        self._config = config
        self._holder = holder
        self._store = store
        self._clock = clock
        self._on_install = on_install

    async def refresh(self) -> int:
        """Fetch the newest directory from the authority; returns the version held."""
        if not self._config.trust.authority_endpoint:
            return self._holder.version
        _, jws = await fetch_directory(self._config, self._holder.version)
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
