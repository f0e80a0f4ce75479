"""Protobuf ↔ domain conversion: the only module (with the adapters) that sees ``_pb``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import orjson

from ..errors import BadRequest, LimitExceeded
from ..service.filters import Comparison, Geo, Near, Within, on_the_wire
from ..service.model import (
    AggregateGroup,
    AggregateQuery,
    AggregateResult,
    AgreementMessage,
    Catalog,
    CatalogDataset,
    CatalogOffer,
    ChangeEvent,
    FederatedQuery,
    GetRequest,
    Routing,
    SubscribeRequest,
    TemporalQuery,
)
from ._pb import federation_pb2 as pb

_OPS = {pb.Condition.EQ: "==", pb.Condition.NE: "!=", pb.Condition.GT: ">",
        pb.Condition.GE: ">=", pb.Condition.LT: "<", pb.Condition.LE: "<="}
_OPS_BACK = {v: k for k, v in _OPS.items()}
_FUNCS = {pb.AggregateRequest.COUNT: "count", pb.AggregateRequest.SUM: "sum",
          pb.AggregateRequest.AVG: "avg", pb.AggregateRequest.MIN: "min",
          pb.AggregateRequest.MAX: "max"}
_FUNCS_BACK = {v: k for k, v in _FUNCS.items()}
_KINDS = {pb.ChangeEvent.CREATED: "created", pb.ChangeEvent.UPDATED: "updated",
          pb.ChangeEvent.DELETED: "deleted", pb.ChangeEvent.HEARTBEAT: "heartbeat"}
_KINDS_BACK = {v: k for k, v in _KINDS.items()}
MAX_GEOJSON_BYTES = 256 * 1024
# Counts a request may carry, checked as it is decoded and before anything else (the request
# digest, the policy decision, the scan) spends time on it: one call with 200,000 conditions
# must not stall the node. Above what the NGSI-LD API itself can send (its lists and q are
# capped lower), so no federated read of a well-formed API request is refused here.
MAX_CONDITIONS = 1000
MAX_IDS = 1000
MAX_NAMES = 1000  # types, attrs
MAX_VIA = 32
MAX_POSITIONS = 10_000  # coordinates of a within geometry
MAX_TEXT = 4096  # one attribute name, value or id
MAX_LAST_N = 10_000  # as the NGSI-LD API's lastN


def _capped(items: Any, limit: int, what: str) -> tuple[str, ...]:
    if len(items) > limit:
        raise LimitExceeded(f"{what}: {len(items)} given, at most {limit} per request")
    values = tuple(items)
    if any(len(v) > MAX_TEXT for v in values):
        raise LimitExceeded(f"{what}: an item longer than {MAX_TEXT} characters")
    return values


# -- conditions, geo, routing --------------------------------------------------------------------

def conditions_from_pb(items: Any) -> tuple[Comparison, ...]:
    if len(items) > MAX_CONDITIONS:
        raise LimitExceeded(f"q: {len(items)} conditions, at most {MAX_CONDITIONS} per request")
    out = []
    for c in items:
        if len(c.attribute) > MAX_TEXT or len(c.value_json) > MAX_TEXT:
            raise LimitExceeded(f"condition longer than {MAX_TEXT} characters")
        if c.op not in _OPS:
            raise BadRequest(f"condition on '{c.attribute}' has no operator")
        try:
            value = orjson.loads(c.value_json)
        except orjson.JSONDecodeError:
            raise BadRequest(f"condition on '{c.attribute}': value is not JSON") from None
        if not isinstance(value, str | int | float | bool):
            raise BadRequest(f"condition on '{c.attribute}': value must be a JSON scalar")
        if not c.attribute:
            raise BadRequest("condition without attribute")
        out.append(Comparison(c.attribute, _OPS[c.op], value))
    return tuple(out)


def conditions_to_pb(items: tuple[Comparison, ...]) -> list[pb.Condition]:
    """The wire form; a comparison it cannot carry exactly is refused, never dropped (callers
    check such comparisons on arrival instead: see ``on_the_wire``)."""
    for c in items:
        if not on_the_wire(c):
            raise BadRequest(f"condition on '{c.attribute}' cannot be sent to peers "
                             "(only attribute op scalar comparisons travel)")
    return [pb.Condition(attribute=c.attribute, op=_OPS_BACK[c.op],
                         value_json=orjson.dumps(c.value).decode()) for c in items]


def geo_from_pb(msg: pb.GeoFilter, present: bool) -> Geo | None:
    if not present:
        return None
    kind = msg.WhichOneof("shape")
    if kind == "near":
        n = msg.near
        if not (-180 <= n.longitude <= 180 and -90 <= n.latitude <= 90) or n.max_distance_m < 0:
            raise BadRequest("near: coordinates out of range or negative distance")
        return Near(n.longitude, n.latitude, n.max_distance_m)
    if kind == "within_geojson":
        if len(msg.within_geojson) > MAX_GEOJSON_BYTES:
            raise BadRequest("within: geometry larger than 256 KiB")
        try:
            geometry = orjson.loads(msg.within_geojson)
        except orjson.JSONDecodeError:
            raise BadRequest("within: geometry is not JSON") from None
        if not isinstance(geometry, dict):
            raise BadRequest("within: geometry must be a GeoJSON object")
        if _positions(geometry.get("coordinates")) > MAX_POSITIONS:
            raise LimitExceeded(f"within: more than {MAX_POSITIONS} positions")
        return Within(geometry)
    return None


def _positions(coordinates: Any) -> int:
    """How many numbers a coordinates array holds (iterative: any nesting depth)."""
    count, stack = 0, [coordinates]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        else:
            count += 1
    return count // 2


def geo_to_pb(geo: Geo | None) -> pb.GeoFilter | None:
    if isinstance(geo, Near):
        return pb.GeoFilter(near=pb.Near(longitude=geo.longitude, latitude=geo.latitude,
                                         max_distance_m=geo.max_distance_m))
    if isinstance(geo, Within):
        return pb.GeoFilter(within_geojson=orjson.dumps(dict(geo.geometry)))
    return None


def routing_from_pb(msg: pb.Routing, present: bool, default_hops: int) -> Routing:
    if not present:
        return Routing((), default_hops)
    return Routing(_capped(msg.via, MAX_VIA, "routing.via"), msg.hops_left)


def routing_to_pb(r: Routing) -> pb.Routing:
    return pb.Routing(via=list(r.via), hops_left=r.hops_left)


# -- requests ------------------------------------------------------------------------------------

def query_from_pb(m: pb.QueryRequest, default_hops: int) -> FederatedQuery:
    return FederatedQuery(
        types=_capped(m.types, MAX_NAMES, "types"), ids=_capped(m.ids, MAX_IDS, "ids"),
        id_pattern=m.id_pattern, attrs=_capped(m.attrs, MAX_NAMES, "attrs"),
        q=conditions_from_pb(m.q), geo=geo_from_pb(m.geo, m.HasField("geo")), limit=m.limit,
        page_token=m.page_token, purpose=m.purpose, agreement_id=m.agreement_id,
        routing=routing_from_pb(m.routing, m.HasField("routing"), default_hops),
        filter_attrs=_capped(m.filter_attrs, MAX_NAMES, "filter_attrs"))


def query_to_pb(q: FederatedQuery) -> pb.QueryRequest:
    return pb.QueryRequest(
        types=list(q.types), ids=list(q.ids), id_pattern=q.id_pattern, attrs=list(q.attrs),
        q=conditions_to_pb(q.q), geo=geo_to_pb(q.geo), limit=q.limit, page_token=q.page_token,
        purpose=q.purpose, agreement_id=q.agreement_id, routing=routing_to_pb(q.routing),
        filter_attrs=list(q.filter_attrs))


TIMERELS = ("", "before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")


def temporal_from_pb(m: pb.TemporalQueryRequest, default_hops: int) -> TemporalQuery:
    """A temporal query off the wire; ``BadRequest`` for a window 4.11 does not allow."""
    if m.timerel not in TIMERELS:
        raise BadRequest(f"timerel must be one of {', '.join(TIMERELS[1:])}")
    prop = m.timeproperty or "observedAt"
    if prop not in TIME_PROPERTIES:
        raise BadRequest(f"timeproperty must be one of {', '.join(TIME_PROPERTIES)}")
    if m.timerel == "between" and not m.end_time_at > m.time_at:
        raise BadRequest("timerel=between needs an end_time_at after time_at")
    for value in (m.time_at, m.end_time_at):
        if not math.isfinite(value):
            raise BadRequest("time_at and end_time_at must be finite")
    if m.last_n > MAX_LAST_N:
        raise BadRequest(f"last_n is at most {MAX_LAST_N}")
    base = query_from_pb(m.query, default_hops)
    return TemporalQuery(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
                         timerel=m.timerel,
                         time_at=m.time_at if m.timerel else None,
                         end_time_at=m.end_time_at if m.timerel == "between" else None,
                         timeproperty=prop, last_n=m.last_n or None)


def temporal_to_pb(t: TemporalQuery) -> pb.TemporalQueryRequest:
    return pb.TemporalQueryRequest(
        query=query_to_pb(t), timerel=t.timerel, time_at=t.time_at or 0.0,
        end_time_at=t.end_time_at or 0.0, timeproperty=t.timeproperty, last_n=t.last_n or 0)


def get_from_pb(m: pb.GetEntityRequest, default_hops: int) -> GetRequest:
    if len(m.id) > MAX_TEXT:
        raise LimitExceeded(f"id longer than {MAX_TEXT} characters")
    return GetRequest(id=m.id, attrs=_capped(m.attrs, MAX_NAMES, "attrs"), purpose=m.purpose,
                      agreement_id=m.agreement_id,
                      routing=routing_from_pb(m.routing, m.HasField("routing"), default_hops))


def get_to_pb(r: GetRequest) -> pb.GetEntityRequest:
    return pb.GetEntityRequest(id=r.id, attrs=list(r.attrs), purpose=r.purpose,
                               agreement_id=r.agreement_id, routing=routing_to_pb(r.routing))


def aggregate_from_pb(m: pb.AggregateRequest, default_hops: int) -> AggregateQuery:
    if len(m.functions) > len(_FUNCS):
        raise LimitExceeded(f"functions: at most {len(_FUNCS)} per request")
    functions = tuple(_FUNCS[f] for f in m.functions if f in _FUNCS) or ("count",)
    return AggregateQuery(
        types=_capped(m.types, MAX_NAMES, "types"), attribute=m.attribute,
        functions=functions, group_by=m.group_by,
        by_city=m.by_city, q=conditions_from_pb(m.q), geo=geo_from_pb(m.geo, m.HasField("geo")),
        purpose=m.purpose, agreement_id=m.agreement_id,
        routing=routing_from_pb(m.routing, m.HasField("routing"), default_hops))


def aggregate_to_pb(a: AggregateQuery) -> pb.AggregateRequest:
    return pb.AggregateRequest(
        types=list(a.types), attribute=a.attribute,
        functions=[_FUNCS_BACK[f] for f in a.functions], group_by=a.group_by,
        by_city=a.by_city, q=conditions_to_pb(a.q), geo=geo_to_pb(a.geo), purpose=a.purpose,
        agreement_id=a.agreement_id, routing=routing_to_pb(a.routing))


def subscribe_from_pb(m: pb.SubscribeRequest) -> SubscribeRequest:
    return SubscribeRequest(
        types=_capped(m.types, MAX_NAMES, "types"), q=conditions_from_pb(m.q),
        geo=geo_from_pb(m.geo, m.HasField("geo")), after_cursor=m.after_cursor,
        purpose=m.purpose, agreement_id=m.agreement_id,
        heartbeat_seconds=min(m.heartbeat_seconds or 15, 300), from_now=m.from_now,
        opaque_cursors=m.opaque_cursors)


def subscribe_to_pb(s: SubscribeRequest) -> pb.SubscribeRequest:
    return pb.SubscribeRequest(
        types=list(s.types), q=conditions_to_pb(s.q), geo=geo_to_pb(s.geo),
        after_cursor=s.after_cursor, purpose=s.purpose, agreement_id=s.agreement_id,
        heartbeat_seconds=s.heartbeat_seconds, from_now=s.from_now,
        opaque_cursors=s.opaque_cursors)


# -- results -------------------------------------------------------------------------------------

def group_to_pb(g: AggregateGroup) -> pb.AggregateGroup:
    return pb.AggregateGroup(key=g.key, count=g.count, sum=g.sum,
                             min=g.min if g.min is not None else 0.0,
                             max=g.max if g.max is not None else 0.0,
                             suppressed=g.suppressed, value_count=g.value_count)


def aggregate_result_to_pb(r: AggregateResult) -> pb.AggregateResponse:
    return pb.AggregateResponse(groups=[group_to_pb(g) for g in r.groups], provider=r.provider,
                                receipt=pb.Receipt(jws=r.receipt))


def aggregate_result_from_pb(m: pb.AggregateResponse) -> AggregateResult:
    groups = tuple(
        AggregateGroup(key=g.key, count=g.count, sum=g.sum,
                       min=g.min if g.value_count else None, max=g.max if g.value_count else None,
                       value_count=g.value_count, suppressed=g.suppressed)
        for g in m.groups)
    return AggregateResult(provider=m.provider, groups=groups, receipt=m.receipt.jws)


def change_to_pb(e: ChangeEvent) -> pb.ChangeEvent:
    return pb.ChangeEvent(kind=_KINDS_BACK[e.kind], cursor=e.cursor, entity_id=e.entity_id,
                          entity=e.entity, content_hash=e.content_hash)


def change_from_pb(m: pb.ChangeEvent) -> ChangeEvent:
    return ChangeEvent(kind=_KINDS.get(m.kind, "heartbeat"), cursor=m.cursor,
                       entity_id=m.entity_id, entity=m.entity, content_hash=m.content_hash)


def catalog_to_pb(c: Catalog) -> pb.CatalogResponse:
    return pb.CatalogResponse(provider=c.provider, datasets=[
        pb.CatalogDataset(
            identifier=d.identifier, title=d.title, description=d.description,
            publisher=d.publisher, license=d.license, entity_type=d.entity_type,
            attributes=list(d.attributes),
            spatial_geojson=orjson.dumps(d.spatial) if d.spatial else b"",
            entity_count=d.entity_count, accrual_periodicity=d.accrual_periodicity,
            modified=d.modified, agreement_id=d.agreement_id, aggregate_only=d.aggregate_only)
        for d in c.datasets], offers=[
        pb.CatalogOffer(entity_type=o.entity_type, attributes=list(o.attributes),
                        license=o.license, publisher=o.publisher) for o in c.offers])


def catalog_from_pb(m: pb.CatalogResponse) -> Catalog:
    return Catalog(provider=m.provider, datasets=tuple(
        CatalogDataset(
            identifier=d.identifier, title=d.title, description=d.description,
            publisher=d.publisher, license=d.license, entity_type=d.entity_type,
            attributes=tuple(d.attributes),
            spatial=orjson.loads(d.spatial_geojson) if d.spatial_geojson else None,
            entity_count=d.entity_count, accrual_periodicity=d.accrual_periodicity,
            modified=d.modified, agreement_id=d.agreement_id, aggregate_only=d.aggregate_only)
        for d in m.datasets), offers=tuple(
        CatalogOffer(entity_type=o.entity_type, attributes=tuple(o.attributes),
                     license=o.license, publisher=o.publisher) for o in m.offers))


def agreement_to_pb(a: AgreementMessage) -> pb.AgreementEnvelope:
    return pb.AgreementEnvelope(document=a.document, signatures=dict(a.signatures),
                                state=a.state)


def agreement_from_pb(m: pb.AgreementEnvelope) -> AgreementMessage:
    return AgreementMessage(document=m.document, signatures=dict(m.signatures), state=m.state)
