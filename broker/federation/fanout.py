"""Fan-out: ask many peers at once, answer by the deadline with a status per peer.

Used by the agency's federated queries and by the NGSI-LD API's federation scope. Every peer
gets the same deadline for the whole call; whatever a peer streamed before it failed or ran out
of time is kept (partial result) and its status says what happened:

    ok                  the peer answered in full
    denied              the peer refused (PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED);
                        ``reason`` is its stable code (no_agreement, field_not_allowed, ...)
    unavailable         unreachable, or in backoff after earlier failures (reason backing_off)
    deadline_exceeded   no complete answer before the deadline (partial results kept)
    error               anything else: a bad request, a loop, a certificate we refuse, ...

Peers in backoff are not called; a failure (unavailable, deadline) moves a peer's backoff on
and any success resets it. Results are merged with de-duplication by entity id; aggregates
merge from sums and counts.

Entities stay the bytes the peers sent (``QueryOutcome.docs``): the id is read from the bytes
when that is exact (see ``entity_id_of``), the receipt is verified over the bytes, and an
entity is parsed only when a caller asks for dicts (``QueryOutcome.entities``). Parsing
every entity of a national answer into dicts and keeping them costs ten times the transfer,
mostly in the garbage collector walking the growing heap.

Every outgoing request carries the loop guard: this node in ``via`` and one hop less
(``Routing``); a forwarded request with no hop left is not sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any

import orjson

from ..errors import PeerDeadlineExceeded, PeerError, PeerRejected, PeerUnavailable
from ..service.aggregate import merge_groups, receipt_payload
from ..service.model import (
    AggregateGroup,
    AggregateQuery,
    AggregateResult,
    EntityBatch,
    FederatedQuery,
    QuerySummary,
    Routing,
    TemporalQuery,
)
from ..telemetry.spans import Span, failed, set_attributes, span
from .backoff import PeerBackoff
from .grpc_client import PeerChannel

log = logging.getLogger("renkei.federation.fanout")
ReceiptSink = Callable[[str, str, list[bytes] | None, int], Awaitable[None]]
Progress = Callable[[str, int], Awaitable[None]]  # (peer, entities received so far)


@dataclass(frozen=True)
class PeerStatus:
    """What happened with one peer: ok, denied, unavailable, deadline_exceeded or error."""

    peer: str
    status: str
    count: int = 0
    reason: str = ""
    message: str = ""
    elapsed_ms: float = 0.0


@dataclass
class QueryOutcome:
    """The merged answer: entity bytes de-duplicated by id, one status per peer.

    ``docs`` holds each entity as its peer sent it (``sources`` names that peer);
    ``entities`` parses them on first use. An entity whose bytes do not parse (possible only
    for one whose id was read from its bytes) is left out of ``entities``, logged, and
    counted in ``unreadable`` under its peer.
    """

    docs: list[bytes] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    statuses: list[PeerStatus] = field(default_factory=list)
    next_page_tokens: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)
    _parsed: list[dict[str, Any]] | None = field(default=None, repr=False)
    _parsed_sources: list[str] = field(default_factory=list, repr=False)

    @property
    def entities(self) -> list[dict[str, Any]]:
        """The entities as dicts (parsed once, on first use), in ``docs`` order."""
        if self._parsed is None:
            parsed: list[dict[str, Any]] = []
            for raw, peer in zip(self.docs, self.sources, strict=True):
                try:
                    entity = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    entity = None
                    log.warning("peer[%s] sent an entity that is not JSON: %s", peer, exc)
                if isinstance(entity, dict):
                    parsed.append(entity)
                    self._parsed_sources.append(peer)
                else:
                    self.unreadable[peer] = self.unreadable.get(peer, 0) + 1
            self._parsed = parsed
        return self._parsed

    def entities_by_peer(self) -> list[tuple[dict[str, Any], str]]:
        """``entities``, each with the peer that sent it."""
        return list(zip(self.entities, self._parsed_sources, strict=True))


@dataclass
class AggregateOutcome:
    groups: list[AggregateGroup] = field(default_factory=list)
    per_peer: dict[str, AggregateResult] = field(default_factory=dict)
    statuses: list[PeerStatus] = field(default_factory=list)


class FanOut:
    """Concurrent calls to a set of peers under one deadline.

    ``monotonic`` is the clock the deadline and each status's ``elapsed_ms`` are measured on
    (seconds; ``time.monotonic`` unless a test steps it). ``max_concurrent_calls`` caps the
    calls in flight over all peers.
    """

    def __init__(self, peers: Callable[[], Mapping[str, PeerChannel]], backoff: PeerBackoff,
                 per_peer_concurrency: int, on_receipt: ReceiptSink | None = None, *,
                 node_id: str = "", hop_limit: int = 3,
                 monotonic: Callable[[], float] = time.monotonic,
                 max_concurrent_calls: int = 256) -> None:
        self._peers = peers
        self._monotonic = monotonic
        self._backoff = backoff
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._per_peer = per_peer_concurrency
        self._on_receipt = on_receipt
        self._node_id = node_id
        self._hop_limit = hop_limit
        # One cap over every call of every fan-out: a national query to 1,741 cities holds
        # at most this many calls (and new connections) at once; the others wait for a slot
        # within the same deadline.
        self._calls = asyncio.Semaphore(max_concurrent_calls)
        self._recording: set[asyncio.Task[None]] = set()

    def _routing(self, forwarding: Routing | None) -> Routing:
        """The loop guard of an outgoing call: a fresh origin, or one more hop of a
        request this node forwards on behalf of its caller."""
        if forwarding is None:
            return Routing.origin(self._node_id, self._hop_limit)
        return forwarding.forwarded_by(self._node_id)

    def _limit(self, peer: str) -> asyncio.Semaphore:
        if peer not in self._limits:
            self._limits[peer] = asyncio.Semaphore(self._per_peer)
        return self._limits[peer]

    def _select(self, only: Sequence[str] | None) -> dict[str, PeerChannel | None]:
        """The peers to ask: all members with an endpoint, or ``only`` (None: unknown)."""
        peers = self._peers()
        if only is None:
            return dict(peers)
        return {p: peers.get(p) for p in dict.fromkeys(only) if p != self._node_id}

    async def query(self, request: FederatedQuery, deadline: float,
                    peers: Sequence[str] | None = None,
                    agreements: Mapping[str, str] | None = None, *,
                    forwarding: Routing | None = None,
                    progress: Progress | None = None) -> QueryOutcome:
        """Run ``request`` on every selected peer within ``deadline`` seconds.

        ``agreements`` maps peer -> agreement id (default: the request's, or the one agreement
        the peer finds for this caller, purpose and types). ``forwarding`` is the routing of
        the inbound request when this node asks its peers on behalf of a caller.
        ``progress`` is awaited after each batch a peer sends (e.g. to pass results on early).
        A ``TemporalQuery`` asks for entity history (``TemporalQuery`` RPC) and is merged the
        same way (its entities are temporal entities, id first).
        """
        outcome = QueryOutcome()
        docs, sources = outcome.docs, outcome.sources
        seen: dict[str, int] = {}  # id -> position in docs
        routing = self._routing(forwarding)
        counts: dict[str, int] = {}  # what each peer delivered so far (partial results)

        async def one(peer: str, channel: PeerChannel, timeout: float) -> int:
            req = replace(request, routing=routing,
                          agreement_id=(agreements or {}).get(peer, request.agreement_id))
            received: list[bytes] = []
            # A temporal query streams temporal entities (wire JSON, id first) the same way.
            items = channel.temporal_query(req, timeout) if isinstance(req, TemporalQuery) \
                else channel.query(req, timeout)
            async for item in items:
                if isinstance(item, EntityBatch):
                    received.extend(item.entities)
                    counts[peer] = len(received)
                    batch = item.entities
                    ids = batch_ids(batch)
                    if ids is not None:
                        # The common case in C calls only: ids read from the bytes, none seen.
                        fresh = dict(zip(ids, range(len(docs), len(docs) + len(ids)),
                                         strict=True))
                        if len(fresh) == len(ids) and seen.keys().isdisjoint(fresh):
                            seen.update(fresh)
                            docs.extend(batch)
                            sources.extend([peer] * len(batch))
                            ids = []
                    for raw, entity_id in zip(batch, ids if ids is not None else
                                              [entity_id_of(peer, raw) for raw in batch],
                                              strict=False):
                        held = seen.get(entity_id)
                        if held is None:
                            seen[entity_id] = len(docs)
                            docs.append(raw)
                            sources.append(peer)
                        elif owner_of(entity_id) == peer != sources[held]:
                            # Another member answered first with a copy of this entity: the
                            # member the id belongs to wins, so no one can shadow a city.
                            docs[held] = raw
                            sources[held] = peer
                    if progress is not None:
                        await progress(peer, len(received))
                elif isinstance(item, QuerySummary):
                    if item.next_page_token:
                        outcome.next_page_tokens[peer] = item.next_page_token
                    if self._on_receipt and item.receipt:
                        await self._on_receipt(peer, item.receipt, received, len(received))
            return len(received)

        with span("fanout.query", {"renkei.types": request.types}):
            outcome.statuses = await self._run(self._select(peers), deadline, one, routing,
                                               counts)
        return outcome

    async def aggregate(self, request: AggregateQuery, deadline: float,
                        peers: Sequence[str] | None = None,
                        agreements: Mapping[str, str] | None = None, *,
                        forwarding: Routing | None = None) -> AggregateOutcome:
        """Partial aggregates from every selected peer, merged exactly (see ``query``)."""
        outcome = AggregateOutcome()
        routing = self._routing(forwarding)

        async def one(peer: str, channel: PeerChannel, timeout: float) -> int:
            req = replace(request, routing=routing,
                          agreement_id=(agreements or {}).get(peer, request.agreement_id))
            result = await channel.aggregate(req, timeout)
            outcome.per_peer[peer] = result
            if self._on_receipt and result.receipt:
                payload = receipt_payload(result.groups)
                await self._on_receipt(peer, result.receipt, payload, len(payload))
            return sum(g.count for g in result.groups)

        with span("fanout.aggregate", {"renkei.types": request.types}):
            outcome.statuses = await self._run(self._select(peers), deadline, one, routing, {})
        outcome.groups = merge_groups(r.groups for r in outcome.per_peer.values())
        return outcome

    async def _run(self, peers: Mapping[str, PeerChannel | None], deadline: float,
                   call: Callable[[str, PeerChannel, float], Awaitable[int]],
                   routing: Routing, counts: Mapping[str, int]) -> list[PeerStatus]:
        """Run ``call`` per peer under the deadline; ``counts`` holds partial counts."""
        started = self._monotonic()
        since = self._backoff.now()  # failures of these calls are one outage observation
        statuses: dict[str, PeerStatus] = {}
        for peer in [p for p, c in peers.items() if c is None]:
            statuses[peer] = PeerStatus(peer, "error", reason="unknown_peer",
                                        message="not a member with an endpoint in the "
                                                "signed directory")
        if routing.hops_left <= 0:
            # Forwarding any further would exceed the hop limit: nobody is asked.
            for peer in peers:
                statuses.setdefault(peer, PeerStatus(peer, "error", reason="loop_detected",
                                                     message="hop limit reached"))
        callable_peers = {p: c for p, c in peers.items() if p not in statuses and c is not None}

        async def guarded(peer: str, channel: PeerChannel) -> None:
            t0 = self._monotonic()
            wait = await self._backoff.retry_in(peer)
            if wait > 0:
                state = await self._backoff.state(peer)
                statuses[peer] = PeerStatus(peer, "unavailable", reason="backing_off",
                                            message=f"retrying in {wait:.0f}s after: "
                                                    f"{state.last_error}")
                return
            async with self._calls, self._limit(peer):
                remaining = max(0.01, deadline - (self._monotonic() - started))
                try:
                    count = await call(peer, channel, remaining)
                except PeerRejected as exc:
                    status = "denied" if exc.status in ("PERMISSION_DENIED", "UNAUTHENTICATED",
                                                        "RESOURCE_EXHAUSTED") else "error"
                    statuses[peer] = PeerStatus(peer, status, counts.get(peer, 0),
                                                exc.reason, _message(exc), self._ms(t0))
                    return
                except PeerDeadlineExceeded as exc:
                    statuses[peer] = PeerStatus(peer, "deadline_exceeded", counts.get(peer, 0),
                                                exc.code, _message(exc), self._ms(t0))
                    await self._backoff.failed(peer, "deadline exceeded", since=since)
                    return
                except PeerUnavailable as exc:
                    statuses[peer] = PeerStatus(peer, "unavailable", counts.get(peer, 0),
                                                exc.code, _message(exc), self._ms(t0))
                    await self._backoff.failed(peer, _message(exc), since=since)
                    return
                except PeerError as exc:
                    statuses[peer] = PeerStatus(peer, "error", counts.get(peer, 0), exc.code,
                                                _message(exc), self._ms(t0))
                    return
                statuses[peer] = PeerStatus(peer, "ok", count, elapsed_ms=self._ms(t0))
                await self._backoff.succeeded(peer)

        async def traced(peer: str, channel: PeerChannel) -> None:
            with span("fanout.peer", {"renkei.peer": peer}) as opened:
                await guarded(peer, channel)
                if peer in statuses:
                    peer_outcome(opened, statuses[peer])

        tasks = {asyncio.create_task(traced(p, c), name=f"peer[{p}]"): p
                 for p, c in callable_peers.items()}
        if tasks:
            # A small margin past the deadline lets the gRPC deadline fire first and report
            # partial results; anything still running after it is cancelled.
            done, pending = await asyncio.wait(tasks, timeout=deadline * 1.05 + 0.05)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            late = []
            for task in pending:
                peer = tasks[task]
                if peer not in statuses:
                    statuses[peer] = PeerStatus(peer, "deadline_exceeded", counts.get(peer, 0),
                                                "deadline_exceeded",
                                                "no complete answer before the deadline",
                                                self._ms(started))
                    late.append(peer)
            if late:
                self._fail_later(late, since)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    peer = tasks[task]
                    log.exception("peer[%s] fan-out task failed", peer,
                                  exc_info=task.exception())
                    statuses.setdefault(peer, PeerStatus(peer, "error", reason="internal",
                                                         message="internal error"))
        return [statuses[p] for p in sorted(statuses)]

    def _fail_later(self, peers: list[str], since: float) -> None:
        """Move the backoff of peers that ran out of time on, after the answer: a national
        fan-out may leave hundreds of them, and a store write each would hold the answer far
        past its deadline. Each task moves the peer's backoff on in memory at its first step
        (the store write follows), before any later fan-out's calls run."""
        async def fail(peer: str) -> None:
            try:
                await self._backoff.failed(peer, "deadline exceeded", since=since)
            except Exception:  # a store that is closing: the backoff is only bookkeeping
                log.exception("peer[%s] backoff not recorded", peer)

        for peer in peers:
            task = asyncio.get_running_loop().create_task(fail(peer), name=f"backoff[{peer}]")
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)

    async def close(self) -> None:
        """Wait for the backoff records still being written (call before the store closes)."""
        if self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    def _ms(self, t0: float) -> float:
        return round((self._monotonic() - t0) * 1000, 1)


_LEAD = b'{"id":"'


def batch_ids(batch: Sequence[bytes]) -> list[str] | None:
    """The ids of a batch in order when every one is read exactly from the bytes (as
    ``entity_id_of``'s fast path does for one entity), else None.

    A few C-level passes over the whole batch instead of Python steps per entity: every
    entity opens with ``{"id":"``, no byte is a backslash, ``"id"`` occurs once per entity
    (an occurrence cannot straddle two entities: each opens with ``{``) and each id is
    closed by a quote and is UTF-8.
    """
    n = len(batch)
    if not n or not all(map(bytes.startswith, batch, repeat(_LEAD))):
        return None
    joined = b"".join(batch)
    if b"\\" in joined or joined.count(b'"id"') != n:
        return None
    ends = list(map(bytes.find, batch, repeat(b'"'), repeat(7)))
    if -1 in ends:
        return None
    try:
        return list(map(str, map(bytes.__getitem__, batch, map(slice, repeat(7), ends)),
                        repeat("utf-8")))
    except UnicodeDecodeError:
        return None


def entity_id_of(peer: str, raw: bytes) -> str:
    """The ``id`` of an entity as ``raw`` JSON bytes, as a parser would read it.

    Read from the bytes without parsing when that is exact: the object opens with the ``id``
    member, no byte is a backslash (so every string is literal: no escaped quote can end the
    id early, no escaped key can spell a second ``id``), and ``"id"`` occurs once (so no
    later duplicate key overrides the first). Anything else is parsed; bytes that are not a
    JSON object are the peer's error (``invalid_entity``).
    """
    if raw.startswith(b'{"id":"') and b"\\" not in raw and raw.count(b'"id"') == 1:
        end = raw.find(b'"', 7)
        if end > 0:
            try:
                return raw[7:end].decode()
            except UnicodeDecodeError:
                pass  # not UTF-8: let the parser say so
    try:
        entity = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PeerRejected(peer, f"sent an entity that is not JSON: {exc}",
                           reason="invalid_entity", status="FAILED_PRECONDITION") from None
    if not isinstance(entity, dict):
        raise PeerRejected(peer, "sent an entity that is not a JSON object",
                           reason="invalid_entity", status="FAILED_PRECONDITION")
    return str(entity.get("id"))


def owner_of(entity_id: str) -> str:
    """The member an id names (``urn:ngsi-ld:<Type>:<member>:<local id>``), or ""."""
    parts = entity_id.split(":", 4)
    return parts[3] if len(parts) == 5 and parts[0] == "urn" and parts[1] == "ngsi-ld" else ""


def peer_outcome(opened: Span | None, status: PeerStatus) -> None:
    """A peer's status on its fan-out span (the stable reason, never the message)."""
    set_attributes(opened, {"renkei.status": status.status, "renkei.count": status.count})
    if status.status != "ok":
        failed(opened, status.reason or status.status)


def _message(exc: PeerError) -> str:
    text = str(exc)
    prefix = f"{exc.peer}: "
    return text[len(prefix):] if text.startswith(prefix) else text

