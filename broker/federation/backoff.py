"""Per-peer backoff that survives a restart (a small state machine kept in the store).

After a failure a peer is not called again until ``next_attempt_at``; the delay grows from
``min`` by ``multiplier`` up to ``max``, with ±``jitter`` so that many consumers do not retry a
recovering city in lockstep.

An *outage* is counted once, not once per caller that ran into it: a failure moves the
backoff on only when the failing call began after the last counted failure and the peer was
due again (so five subscriptions and a query failing together are one failure, and so are
calls that ignored the backoff while it ran). While a peer is backed off it is probed with
the gRPC health service every ``probe_seconds``; the moment it answers, the backoff is
cleared. Any success clears it too, as does a valid inbound call from the peer, and the
operator's ``renkei peers retry`` (in the store: the probe reads it there). Every clear
wakes the callers waiting for the peer (``wait``), so a subscription reconnects at once
instead of sleeping out its delay. A node restarted with peers backed off in its store
probes them at once (``resume``): a recovered peer is not held back by an old outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields

from trust.clock import Clock

from ..config import FederationConfig
from ..logs import fields as fields_
from ..store.base import Store

log = logging.getLogger("renkei.federation.backoff")
NAMESPACE = "backoff"
# Answers True when the peer's gRPC health service says SERVING (never raises).
Probe = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class BackoffState:
    failures: int = 0
    next_attempt_at: float = 0.0
    last_error: str = ""
    # When the last counted failure happened: failures of calls begun before it are the same
    # outage seen by another caller, not a new one.
    failed_at: float = 0.0

    @classmethod
    def from_record(cls, raw: dict[str, object]) -> BackoffState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})  # type: ignore[arg-type]


class PeerBackoff:
    """Backoff bookkeeping (and recovery probes) for all peers of one node."""

    def __init__(self, store: Store, clock: Clock, config: FederationConfig,
                 rng: random.Random | None = None, probe: Probe | None = None) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._rng = rng or random.Random()
        self._probe = probe
        self._cache: dict[str, BackoffState] = {}
        self._cleared: dict[str, asyncio.Event] = {}
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._complete = False  # every stored state is in the cache (``resume`` read them)

    def now(self) -> float:
        """The backoff clock: pass its reading at a call's start to ``failed(since=...)``."""
        return self._clock.now()

    async def state(self, peer: str) -> BackoffState:
        if peer not in self._cache and self._complete:
            # Every stored state was read at start (``resume``): a peer not among them has
            # none, so a fan-out to 1,741 cities does not read the store 1,741 times.
            return self._cache.setdefault(peer, BackoffState())
        if peer not in self._cache:
            raw = await self._store.get_state(NAMESPACE, peer)
            self._cache[peer] = BackoffState.from_record(raw) if raw else BackoffState()
            if self._cache[peer].failures:
                self._start_probe(peer)
        return self._cache[peer]

    async def retry_in(self, peer: str) -> float:
        """Seconds until the peer may be called again (0 when it may be called now)."""
        state = await self.state(peer)
        return max(0.0, state.next_attempt_at - self._clock.now())

    async def wait(self, peer: str) -> None:
        """Return once the peer may be called: its delay ran out, or it was cleared."""
        while (delay := await self.retry_in(peer)) > 0:
            cleared = self._cleared.setdefault(peer, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cleared.wait(), delay)

    async def failed(self, peer: str, error: str, *, since: float | None = None) -> BackoffState:
        """Record a failed call to ``peer`` that began at ``since`` (``now()``; None: now).

        Counted only as a new failure of the outage when the call began after the last
        counted failure and the peer was due again; otherwise only the message is kept."""
        previous = await self.state(peer)
        now = self._clock.now()
        began = now if since is None else since
        if previous.failures and (began < previous.failed_at or now < previous.next_attempt_at):
            if error != previous.last_error:
                await self._save(peer, BackoffState(previous.failures, previous.next_attempt_at,
                                                    error, previous.failed_at))
            return self._cache[peer]
        failures = previous.failures + 1
        c = self._config
        delay = min(c.backoff_max_seconds,
                    c.backoff_min_seconds * c.backoff_multiplier ** (failures - 1))
        delay *= 1 + self._rng.uniform(-c.backoff_jitter, c.backoff_jitter)
        state = BackoffState(failures, now + delay, error, now)
        await self._save(peer, state)
        if failures == 1:  # a state change the operator must see: ok -> backing off
            log.warning("peer[%s] state ok -> backing_off: %s; next attempt in %.1fs, health "
                        "probe every %.1fs", peer, error, delay, self._config.probe_seconds,
                        extra=fields_(peer=peer, state="backing_off", previous="ok",
                                      error=error, retry_in=round(delay, 3)))
        else:
            log.info("peer[%s] failed (%s); backing off %.1fs (failure %d of this outage)",
                     peer, error, delay, failures)
        self._start_probe(peer)
        return state

    async def succeeded(self, peer: str) -> None:
        """The peer answered: clear its backoff and wake everyone waiting for it."""
        previous = await self.state(peer)
        if previous.failures:
            down = max(0.0, self._clock.now() - previous.failed_at)
            log.warning("peer[%s] state backing_off -> ok: reachable again after %d failure(s)"
                        "; backoff cleared", peer, previous.failures,
                        extra=fields_(peer=peer, state="ok", previous="backing_off",
                                      failures=previous.failures, since_failure=round(down, 3)))
            await self._save(peer, BackoffState())
            self._wake(peer)

    async def clear(self, peer: str) -> BackoffState:
        """The operator's ``renkei peers retry``: forget the peer's backoff, so the next call
        goes out now. Written to the store; a running node sharing it sees the clear at its
        next health probe of the peer (``probe_seconds``) and wakes its waiting callers.
        Returns the state cleared."""
        previous = await self.state(peer)
        if previous.failures:
            await self._save(peer, BackoffState())
            self._wake(peer)
        return previous

    async def resume(self) -> list[str]:
        """Load the peers backed off in the store (a restart) and probe them at once."""
        held = await self._store.list_state(NAMESPACE)
        backed_off = []
        for peer in sorted(held):
            raw = held[peer]
            if peer not in self._cache:
                self._cache[peer] = BackoffState.from_record(raw) \
                    if isinstance(raw, dict) and raw else BackoffState()
            if self._cache[peer].failures:
                self._start_probe(peer)
                backed_off.append(peer)
        self._complete = True
        return backed_off

    async def close(self) -> None:
        probes, self._probes = list(self._probes.values()), {}
        for task in probes:
            task.cancel()
        for task in probes:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- recovery probes --------------------------------------------------------------------
    def _start_probe(self, peer: str) -> None:
        if self._probe is None or (peer in self._probes and not self._probes[peer].done()):
            return
        try:
            self._probes[peer] = asyncio.get_running_loop().create_task(
                self._probing(peer), name=f"probe[{peer}]")
        except RuntimeError:  # no running loop (a synchronous caller): the next call starts it
            pass

    async def _probing(self, peer: str) -> None:
        """Ask the peer's health service until it answers or the backoff is cleared."""
        assert self._probe is not None
        interval = max(0.05, self._config.probe_seconds)
        while (await self.state(peer)).failures:
            if not (await self._stored(peer)).failures:
                # Cleared in the store by another process: ``renkei peers retry``, or a
                # replica sharing the store that reached the peer.
                log.warning("peer[%s] state backing_off -> ok: backoff cleared in the store "
                            "(renkei peers retry, or another replica reached it)", peer,
                            extra=fields_(peer=peer, state="ok", previous="backing_off",
                                          cleared_by="store"))
                self._cache[peer] = BackoffState()
                self._wake(peer)
                return
            try:
                answered = await self._probe(peer)
            except Exception:  # a probe must never end the probing
                log.exception("peer[%s] health probe failed", peer)
                answered = False
            if answered:
                log.info("peer[%s] answers its health check", peer)
                await self.succeeded(peer)
                return
            await asyncio.sleep(interval)

    async def _stored(self, peer: str) -> BackoffState:
        raw = await self._store.get_state(NAMESPACE, peer)
        return BackoffState.from_record(raw) if raw else BackoffState()

    def _wake(self, peer: str) -> None:
        event = self._cleared.pop(peer, None)
        if event is not None:
            event.set()

    async def _save(self, peer: str, state: BackoffState) -> None:
        self._cache[peer] = state
        await self._store.put_state(NAMESPACE, peer, asdict(state))
