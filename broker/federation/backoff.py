"""Per-peer backoff that survives a restart (a small state machine kept in the store).

After a failure a peer is not called again until ``next_attempt_at``; the delay grows from
``min`` by ``multiplier`` up to ``max``, with ±``jitter`` so that many consumers do not retry a
recovering city in lockstep. Any success resets it, as does a valid inbound call from the peer.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass

from trust.clock import Clock

from ..config import FederationConfig
from ..store.base import Store

log = logging.getLogger("renkei.federation.backoff")
NAMESPACE = "backoff"


@dataclass(frozen=True)
class BackoffState:
    failures: int = 0
    next_attempt_at: float = 0.0
    last_error: str = ""


class PeerBackoff:
    """Backoff bookkeeping for all peers of one node."""

    def __init__(self, store: Store, clock: Clock, config: FederationConfig,
                 rng: random.Random | None = None) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._rng = rng or random.Random()
        self._cache: dict[str, BackoffState] = {}

    async def state(self, peer: str) -> BackoffState:
        if peer not in self._cache:
            raw = await self._store.get_state(NAMESPACE, peer)
            self._cache[peer] = BackoffState(**raw) if raw else BackoffState()
        return self._cache[peer]

    async def retry_in(self, peer: str) -> float:
        """Seconds until the peer may be called again (0 when it may be called now)."""
        state = await self.state(peer)
        return max(0.0, state.next_attempt_at - self._clock.now())

    async def failed(self, peer: str, error: str) -> BackoffState:
        previous = await self.state(peer)
        failures = previous.failures + 1
        c = self._config
        delay = min(c.backoff_max_seconds,
                    c.backoff_min_seconds * c.backoff_multiplier ** (failures - 1))
        delay *= 1 + self._rng.uniform(-c.backoff_jitter, c.backoff_jitter)
        state = BackoffState(failures, self._clock.now() + delay, error)
        await self._save(peer, state)
        log.info("peer[%s] failed (%s); backing off %.1fs", peer, error, delay)
        return state

    async def succeeded(self, peer: str) -> None:
        if (await self.state(peer)).failures:
            log.info("peer[%s] reachable again; backoff reset", peer)
            await self._save(peer, BackoffState())

    async def _save(self, peer: str, state: BackoffState) -> None:
        self._cache[peer] = state
        await self._store.put_state(NAMESPACE, peer, asdict(state))
