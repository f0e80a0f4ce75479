"""The providing side of the federation: every call decided, enforced, audited and receipted.

For each call (query, get, aggregate, subscribe): one admission step (``admission.py``: the
loop guard, ``trust.policy.decide`` against this node's active agreements, the rate limits,
every refusal audited), then the local query restricted to the decision's types and area
(index prefilter, then the exact check), then the field mask on each entity. The audit entry
is appended with the result count and a signed receipt goes back to the caller; a stream of
changes is audited when it opens and when it ends. The caller of a refused call gets the
stable reason code.

Forwarding: a node configured to forward aggregates (an agency that aggregates for another
agency) adds what its own providers answer under agreements that allow onward sharing. The
request then carries this node in ``Routing.via`` and one hop less, so a cycle (A asks B, B asks
A) ends at the first node that sees itself in ``via``.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import itertools
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, Protocol

import orjson
import shapely.affinity
import shapely.geometry

from trust.clock import Clock
from trust.enforce import DifferencingGuard, FieldMask, check_k, entity_in_area
from trust.errors import PolicyDenied
from trust.geo import Area
from trust.policy import Operation
from trust.tokens import VerifiedCaller

from ..errors import BadRequest, NotFound
from ..service.aggregate import compute_groups, merge_groups, receipt_payload, suppress_below
from ..service.agreement_book import AgreementBook
from ..service.audit_log import AuditLog
from ..service.changes import ChangeSignal
from ..service.filters import And, Near, Within
from ..service.model import (
    AggregateGroup,
    AggregateQuery,
    AggregateResult,
    ChangeEvent,
    EntityBatch,
    EntityResult,
    FederatedQuery,
    GetRequest,
    QuerySummary,
    SubscribeRequest,
    TemporalQuery,
)
from ..service.query import any_of
from ..store.base import Store
from ..telemetry.store import traced_query
from .admission import Admission
from .change_stream import change_stream
from .cursor_tokens import CursorTokens
from .entity_index import EntityIndex
from .limits import CallLimits, StoreGroupMemory, budget_exhausted
from .query import EntityQuery, run_query

log = logging.getLogger("renkei.provider")
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000
INDEX_CHUNK = 512
BATCH_BYTES = 1024 * 1024  # a batch stays well under the 4 MiB message cap
TEMPORAL_PAGE = 100  # temporal entities per answer (each with up to the node's instance budget)
MAX_TEMPORAL_PAGE = 1000


class AggregateForwarder(Protocol):
    """Asks this node's own providers on behalf of a caller (implemented by the federation)."""

    async def aggregate(self, request: AggregateQuery, deadline: float
                        ) -> Sequence[Sequence[AggregateGroup]]:
        """The groups each upstream provider released (failures are logged, not raised)."""
        ...


class HistoryPages(Protocol):
    """What this node shares of its entity history (implemented by the NGSI-LD layer's
    ``SharedHistory``): a page of temporal entities under a decision's mask and area."""

    async def page(self, request: TemporalQuery, mask: FieldMask, area: Area | None,
                   after_id: str, limit: int) -> tuple[list[tuple[str, bytes]], bool]:
        """Up to ``limit`` (id, wire JSON) in id order after ``after_id``, and whether
        more follow."""
        ...


class ProviderService:
    """Answers peers' federation calls for one node."""

    def __init__(self, node_id: str, store: Store, agreements: AgreementBook, audit: AuditLog,
                 limits: CallLimits, clock: Clock, changes: ChangeSignal,
                 batch_size: int = 256, *,
                 forwarder: AggregateForwarder | None = None,
                 forward_deadline: float = 5.0, index: EntityIndex | None = None,
                 batch_bytes: int = BATCH_BYTES, history: HistoryPages | None = None) -> None:
        self.node_id = node_id
        self.history = history
        self.index = index
        self._batch_bytes = batch_bytes
        self.forwarder = forwarder
        self._forward_deadline = forward_deadline
        self._store = store
        self._agreements = agreements
        self._audit = audit
        self._limits = limits
        self._clock = clock
        self._batch = batch_size
        self._differencing = DifferencingGuard(StoreGroupMemory(store))
        self._admission = Admission(node_id, agreements, audit, limits, clock)
        self._changes = changes
        self._tokens = CursorTokens(store)

    async def check_standing(self, caller: VerifiedCaller, agreement_id: str) -> None:
        """Raise if an open stream of ``caller`` under ``agreement_id`` must end now (token
        expired, member or key revoked, agreement no longer active): checked before every
        batch of a Query and at every poll of a Subscribe."""
        await self._agreements.check_stream(caller.member_id, caller.kid, agreement_id,
                                            caller.expires_at)

    # -- query ------------------------------------------------------------------------------
    async def query(self, caller: VerifiedCaller, req: FederatedQuery
                    ) -> AsyncIterator[EntityBatch | QuerySummary]:
        admitted = await self._admission.admit(
            caller, Operation.QUERY, req, types=req.types, attrs=req.attrs, geo=req.geo,
            q=req.q, purpose=req.purpose, agreement_id=req.agreement_id, routing=req.routing,
            filters=req.filter_attrs)
        decision, digest = admitted.decision, admitted.digest
        mask = admitted.mask(req.types, req.attrs)
        limit = min(req.limit or DEFAULT_PAGE, MAX_PAGE)
        query = EntityQuery(types=any_of(sorted(mask.types)), ids=req.ids,
                            id_pattern=req.id_pattern, q=And(req.q) if req.q else None,
                            geo=req.geo, after_id=_decode_page(req.page_token), limit=limit)
        agreement, agreement_id = admitted.agreement, admitted.agreement_id
        pending: list[bytes] = []
        sent: list[bytes] = []
        matched = 0
        last_id = ""
        exhausted = False
        receipt = ""
        chunks = self.entities(query, mask, decision.area)
        try:
            while not exhausted:
                chunk = await anext(chunks, None)
                if chunk is not None:
                    matched += len(chunk)
                    last_id = chunk[-1][0]
                    # None: matched, but nothing of it is visible under the mask.
                    pending.extend([raw for _, raw in chunk if raw is not None])
                while pending and (chunk is None or len(pending) >= self._batch
                                   or _bytes_over(pending, self._batch_bytes)):
                    # A revocation (or the token's expiry) ends the stream between batches.
                    await self.check_standing(caller, agreement_id)
                    take = _batch_length(pending, self._batch, self._batch_bytes)
                    batch, exhausted = await self._charge(caller, agreement, pending[:take])
                    del pending[:take]
                    sent.extend(batch)
                    if batch:
                        yield EntityBatch(tuple(batch))
                    if exhausted:
                        break
                if chunk is None:
                    break
            receipt = await self._audit.provide(caller.member_id, agreement_id, "query",
                                                digest, sent)
        finally:
            await chunks.aclose()
            if not receipt:
                # The caller went away (cancelled, deadline, connection lost) mid-stream:
                # what already left this node is audited all the same.
                await self._audit.record(caller.member_id, agreement_id, "query", digest, True,
                                         "interrupted", len(sent))
        if exhausted and agreement is not None:
            # What was sent is audited and counted; the caller learns why the stream ended.
            raise budget_exhausted(agreement)
        # A full page may have more behind it: the next page starts after the last match.
        token = _encode_page(last_id) if matched == limit else ""
        yield QuerySummary(len(sent), token, receipt)

    async def temporal_query(self, caller: VerifiedCaller, req: TemporalQuery
                             ) -> AsyncIterator[EntityBatch | QuerySummary]:
        """Entity history, decided exactly as a query (types, attributes, filters, area,
        purpose; refused under an aggregate-only agreement); only the attributes the
        agreement shows are read, in its area, the page spending the entity budget."""
        admitted = await self._admission.admit(
            caller, Operation.QUERY, req, types=req.types, attrs=req.attrs, geo=req.geo,
            q=req.q, purpose=req.purpose, agreement_id=req.agreement_id, routing=req.routing,
            filters=req.filter_attrs, label="temporal_query")
        agreement, agreement_id = admitted.agreement, admitted.agreement_id
        if self.history is None:
            await self._audit.record(caller.member_id, agreement_id, "temporal_query",
                                     admitted.digest, True, "no_history", 0)
            raise NotFound("this node keeps no entity history")
        limit = min(req.limit or TEMPORAL_PAGE, MAX_TEMPORAL_PAGE)
        page, more = await self.history.page(req, admitted.mask(req.types, req.attrs),
                                             admitted.decision.area,
                                             _decode_page(req.page_token), limit)
        sent, exhausted = await self._charge(caller, agreement, [raw for _, raw in page])
        receipt = await self._audit.provide(caller.member_id, agreement_id, "temporal_query",
                                            admitted.digest, sent)
        count = len(sent)
        while sent:
            take = _batch_length(sent, self._batch, self._batch_bytes)
            yield EntityBatch(tuple(sent[:take]))
            del sent[:take]
        if exhausted and agreement is not None:
            raise budget_exhausted(agreement)
        token = _encode_page(page[-1][0]) if more and page else ""
        yield QuerySummary(count, token, receipt)

    def entities(self, query: EntityQuery, mask: FieldMask, area: Area | None
                 ) -> AsyncGenerator[list[tuple[str, bytes | None]], None]:
        return traced_query(select_entities(self._store, self.index, query, mask, area),
                            {"renkei.types": sorted(mask.types)})

    async def _charge(self, caller: VerifiedCaller, agreement: Any,
                      batch: list[bytes]) -> tuple[list[bytes], bool]:
        allowed = await self._limits.charge(caller.member_id, agreement, len(batch))
        return batch[:allowed], allowed < len(batch)

    async def get_entity(self, caller: VerifiedCaller, req: GetRequest) -> EntityResult:
        # Decide before looking: a refusal then cannot depend on whether the id exists (an
        # existence oracle), and probes for absent ids are audited and rate-limited too.
        admitted = await self._admission.admit(
            caller, Operation.GET, req, attrs=req.attrs, purpose=req.purpose,
            agreement_id=req.agreement_id, routing=req.routing)
        decision, digest = admitted.decision, admitted.digest
        agreement, agreement_id = admitted.agreement, admitted.agreement_id
        stored = await self._store.get_entity(req.id)
        masked = None
        if stored is not None:
            entity = orjson.loads(stored.doc)
            # A multi-typed entity: the mask keeps its allowed types only (None if none is).
            t = entity.get("type")
            types = tuple(x for x in t if isinstance(x, str)) if isinstance(t, list) else (
                (t,) if isinstance(t, str) else ())
            if set(types) & admitted.mask((), req.attrs).types and (
                    decision.area is None or entity_in_area(entity, decision.area)):
                masked = admitted.mask(types, req.attrs).apply(entity)
        if masked is None:
            # The same answer for "absent" and "not yours".
            await self._audit.record(caller.member_id, agreement_id, "get", digest, True,
                                     "not_found", 0)
            raise NotFound(f"entity {req.id[:256]} not found")
        raw = orjson.dumps(masked)
        if agreement is not None and not await self._limits.charge(caller.member_id, agreement,
                                                                   1):
            raise budget_exhausted(agreement)
        receipt = await self._audit.provide(caller.member_id, agreement_id, "get", digest, [raw])
        return EntityResult(raw, receipt)

    # -- subscribe --------------------------------------------------------------------------
    async def subscribe(self, caller: VerifiedCaller, req: SubscribeRequest
                        ) -> AsyncIterator[ChangeEvent]:
        """Changes after the caller's cursor under its agreement, until its token expires, it
        or its agreement is revoked, or the day's entity budget is spent."""
        admitted = await self._admission.admit(
            caller, Operation.SUBSCRIBE, req, types=req.types, geo=req.geo, q=req.q,
            purpose=req.purpose, agreement_id=req.agreement_id)
        agreement, agreement_id, digest = admitted.agreement, admitted.agreement_id, \
            admitted.digest
        await self._audit.record(caller.member_id, agreement_id, "subscribe", digest, True,
                                 "allowed", 0)

        async def still_allowed() -> None:
            await self.check_standing(caller, agreement_id)

        sent = 0
        try:
            async for event in change_stream(self._store, self._changes, self._clock, req,
                                             admitted.mask(req.types), admitted.decision.area,
                                             caller.expires_at, self._tokens,
                                             still_allowed=still_allowed):
                # Changes spend the agreement's entity budget like query results do.
                if event.entity and agreement is not None and \
                        not await self._limits.charge(caller.member_id, agreement, 1):
                    raise budget_exhausted(agreement)
                if event.kind != "heartbeat":
                    sent += 1
                yield event
        finally:
            # One entry per stream with what it delivered (streams end at token expiry).
            await self._audit.record(caller.member_id, agreement_id, "subscribe", digest, True,
                                     "stream_ended", sent)

    # -- aggregate --------------------------------------------------------------------------
    async def aggregate(self, caller: VerifiedCaller, req: AggregateQuery,
                        deadline: float | None = None) -> AggregateResult:
        """Partial aggregates of this node's data (plus its upstream providers' when it
        forwards), k-suppressed; ``deadline`` is the caller's remaining time, if known."""
        if not req.types:
            # Checked after the loop guard, before the decision, as it always was.
            await self._admission.check_routing(caller, Operation.AGGREGATE, req, req.routing)
            raise BadRequest("aggregate needs at least one entity type")
        attrs = [a for a in (req.attribute, req.group_by) if a]
        admitted = await self._admission.admit(
            caller, Operation.AGGREGATE, req, types=req.types, attrs=attrs, geo=req.geo,
            q=req.q, purpose=req.purpose, agreement_id=req.agreement_id, routing=req.routing)
        decision, digest = admitted.decision, admitted.digest
        query = EntityQuery(types=any_of(req.types), q=And(req.q) if req.q else None, geo=req.geo,
                            limit=0)
        area_bbox, area_test = _area(decision.area)
        groups, members = await compute_groups(
            run_query(self._store, query, area_bbox=area_bbox, area_test=area_test),
            attribute=req.attribute, group_by=req.group_by, city=self.node_id)
        if self.forwarder is not None:
            budget = self._forward_deadline if deadline is None else \
                min(self._forward_deadline, deadline * 0.8 - 0.05)
            upstream_req = forwardable(req, decision.area)
            if budget > 0.05 and upstream_req is not None:
                upstream = await self.forwarder.aggregate(upstream_req, budget)
                groups = merge_groups([groups, *upstream])
        obligations = decision.obligations
        k = obligations.k_threshold if obligations is not None else 1
        agreement_id = admitted.agreement_id
        try:
            if not req.group_by and obligations is not None and obligations.aggregate_only:
                # One group (the whole city): below k there is nothing to release, and the
                # refusal must not differ between "few" and "none" (an existence oracle).
                check_k(sum(g.count for g in groups if not g.suppressed), k)
            released = suppress_below(groups, k)
            if obligations is not None and obligations.aggregate_only:
                # Local members only: forwarded parts are guarded by their own providers.
                agreement = admitted.agreement
                retention = agreement.retention_days if agreement is not None else 1
                await self._differencing.check(caller.member_id, agreement_id,
                                               [members[g.key] for g in released
                                                if not g.suppressed and g.key in members],
                                               k, self._clock.now(), retention * 86400.0)
        except PolicyDenied as exc:
            await self._admission.refused(admitted, exc)
            raise
        payload = receipt_payload(released)
        receipt = await self._audit.provide(caller.member_id, agreement_id, "aggregate", digest,
                                            payload)
        return AggregateResult(self.node_id, tuple(released), receipt)


def forwardable(req: AggregateQuery, area: Area | None) -> AggregateQuery | None:
    """The request to forward upstream, narrowed to the caller's agreed area (None when the
    caller's filter and its area do not meet: nothing upstream may be shown to it)."""
    if area is None:
        return req
    geometry = area.geometry
    if isinstance(req.geo, Within):
        geometry = geometry.intersection(shapely.geometry.shape(req.geo.geometry))
    elif isinstance(req.geo, Near):
        # The circle as a polygon inside it (vertices on the circle), clipped to the area.
        dlat = req.geo.max_distance_m / 111_320.0
        dlon = dlat / max(math.cos(math.radians(req.geo.latitude)), 1e-6)
        circle = shapely.affinity.scale(
            shapely.geometry.Point(req.geo.longitude, req.geo.latitude).buffer(1.0, 32),
            dlon, dlat)
        geometry = geometry.intersection(circle)
    if geometry.is_empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return None
    return dataclasses.replace(req, geo=Within(shapely.geometry.mapping(geometry)))


async def select_entities(store: Store, index: EntityIndex | None, query: EntityQuery,
                          mask: FieldMask, area: Area | None
                          ) -> AsyncGenerator[list[tuple[str, bytes | None]], None]:
    """The matches of ``query`` in id order, in chunks of (id, masked compact JSON, or None
    when the mask leaves nothing of it): from the pre-serialized index when it is usable, else
    parsed, masked and serialized from a store scan. Both give the same bytes."""
    if index is not None and await index.sync():
        for part in await index.read(query, mask, area, INDEX_CHUNK):
            yield part
        return
    area_bbox, area_test = _area(area)
    chunk: list[tuple[str, bytes | None]] = []
    async for entity in run_query(store, query, area_bbox=area_bbox, area_test=area_test):
        masked = mask.apply(entity)
        chunk.append((entity["id"], None if masked is None else orjson.dumps(masked)))
        if len(chunk) >= INDEX_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _bytes_over(items: list[bytes], limit: int) -> bool:
    return sum(map(len, items)) >= limit


def _batch_length(items: list[bytes], count: int, size: int) -> int:
    """How many of ``items`` make the next batch: at most ``count`` entities and about
    ``size`` bytes (the entity that crosses ``size`` still goes; at least one always does)."""
    totals = list(itertools.accumulate(map(len, items[:count])))
    return min(len(totals), bisect.bisect_left(totals, size) + 1)


def _area(area: Area | None) -> tuple[Any, Any]:
    if area is None:
        return None, None
    return area.bounds, lambda entity: entity_in_area(entity, area)


def _encode_page(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _decode_page(token: str) -> str:
    if not token:
        return ""
    if len(token) > 2048:
        raise BadRequest("page token too long")
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("malformed page token") from None

