"""The parameters of the temporal API (``/ngsi-ld/v1/temporal/...``), parsed into the query
objects of ``broker.ngsi.temporal`` and ``broker.service.query`` (stored names).

The entity selection uses the same parsers as ``GET /entities`` (type expressions, q, geo,
idPattern); what differs is the window (timerel, timeAt, endTimeAt, timeproperty, lastN),
the representation options (temporalValues, aggregatedValues) and 5.7.4's rule that a
temporal query names at least a type, attrs, q or a geo-query (ids alone are not enough).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..errors import BadRequest
from ..ngsi.model import is_uri
from ..ngsi.order import parse_order_by
from ..ngsi.q import parse_geo, parse_q
from ..ngsi.query import NgsiQuery
from ..ngsi.temporal import TimeWindow, parse_window
from ..ngsi.temporal_view import Aggregation, parse_aggregation
from ..service.query import parse_types
from .common import OPTIONS, Terms, flag, int_param, page_size
from .errors import InvalidRequest

TEMPORAL_OPTIONS = OPTIONS | {"temporalValues", "aggregatedValues"}
FORMATS = ("normalized", "temporalValues", "aggregatedValues", "simplified", "keyValues",
           "concise")


@dataclass(frozen=True)
class TemporalOutput:
    """How to represent the answer: ``form`` normalized | temporalValues | aggregated."""

    form: str = "normalized"
    sys_attrs: bool = False
    aggregation: Aggregation | None = None
    pick: tuple[str, ...] = ()  # stored names (id, type included)
    omit: tuple[str, ...] = ()


def _items(raw: Any) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw] if raw else []
    out = tuple(x.strip() for v in values for x in str(v).split(",") if x.strip())
    if len(out) > 1000:
        raise BadRequest("a list parameter holds more than 1000 items")
    return out


def _member(terms: Terms, name: str) -> str:
    return name if name in ("id", "type") else terms.attr(name)


def output(params: Mapping[str, Any], terms: Terms) -> TemporalOutput:
    """Representation parameters: ``format`` wins over ``options`` (021_19)."""
    options = frozenset(_items(params.get("options")))
    unknown = options - TEMPORAL_OPTIONS
    # An unknown representation is an InvalidRequest (the suite's 021_20), not BadRequestData.
    if unknown:
        raise InvalidRequest(f"unknown option {sorted(unknown)[0][:32]!r}")
    fmt = str(params.get("format") or "")
    if fmt and fmt not in FORMATS:
        raise InvalidRequest(f"unknown format {fmt[:32]!r}")
    if fmt in ("simplified", "keyValues"):
        fmt = "temporalValues"
    if not fmt or fmt == "concise":
        fmt = ("temporalValues" if "temporalValues" in options or "simplified" in options
               or "keyValues" in options else
               "aggregatedValues" if "aggregatedValues" in options else "normalized")
    aggregation = None
    if fmt == "aggregatedValues":
        aggregation = parse_aggregation(_items(params.get("aggrMethods")),
                                        params.get("aggrPeriodDuration"))
    pick, omit = _items(params.get("pick")), _items(params.get("omit"))
    if pick and omit:
        raise BadRequest("pick and omit cannot be used together")
    if (pick or omit) and params.get("attrs"):
        raise BadRequest("pick or omit cannot be used together with attrs")
    return TemporalOutput(fmt, "sysAttrs" in options, aggregation,
                          tuple(_member(terms, n) for n in pick),
                          tuple(_member(terms, n) for n in omit))


def window(params: Mapping[str, Any], terms: Terms) -> TimeWindow:
    datasets = _items(params.get("datasetId"))
    return parse_window(params.get("timerel"), params.get("timeAt"), params.get("endTimeAt"),
                        params.get("timeproperty"), _text(params.get("lastN")),
                        tuple(terms.attr(a) for a in _items(params.get("attrs"))),
                        datasets or None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def selection(params: Mapping[str, Any], terms: Terms, *, limit: int, offset: int,
              local: bool) -> NgsiQuery:
    """Which temporal entities a query selects (5.7.4)."""
    ids = _items(params.get("id"))
    bad = next((i for i in ids if not is_uri(i)), None)
    if bad is not None:
        raise BadRequest(f"id {bad[:64]!r} is not a URI")
    types = parse_types(str(params["type"]), terms.type) if params.get("type") else None
    georel = str(params.get("georel") or "")
    geo = None
    if georel or params.get("geometry") or params.get("coordinates"):
        geo = parse_geo(georel, str(params.get("geometry") or ""), params.get("coordinates"))
    q = parse_q(str(params["q"]), terms.attr) if params.get("q") else None
    attrs = tuple(terms.attr(a) for a in _items(params.get("attrs")))
    if not (types or attrs or q is not None or geo is not None or local):
        raise BadRequest("a temporal query needs at least one of type, attrs, q or a "
                         "geo-query (or local=true)")
    order_by = parse_order_by(str(params["orderBy"]), terms.attr) \
        if params.get("orderBy") else ()
    return NgsiQuery(types=types, ids=ids, id_pattern=str(params.get("idPattern") or ""), q=q,
                     geo=geo, geoproperty=terms.attr(str(params.get("geoproperty")
                                                         or "location")),
                     attrs=attrs, limit=limit, offset=offset, order_by=order_by)


def query_of_request(request: web.Request, terms: Terms) -> tuple[NgsiQuery, TimeWindow,
                                                                   TemporalOutput]:
    params = _params(request)
    local = flag(request, "local")
    return (selection(params, terms, limit=page_size(request),
                      offset=int_param(request, "offset", 0), local=local),
            window(params, terms), output(params, terms))


def _params(request: web.Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def query_of_body(body: Any, terms: Terms, *, limit: int, offset: int
                  ) -> tuple[NgsiQuery, TimeWindow, TemporalOutput]:
    """``POST /temporal/entityOperations/query``: a Query (5.2.23) with a temporalQ."""
    if not isinstance(body, Mapping) or body.get("type") != "Query":
        raise BadRequest("the body must be a Query object (type Query)")
    params: dict[str, Any] = {}
    entities = body.get("entities")
    if entities is not None:
        if not isinstance(entities, list) or not all(isinstance(e, Mapping) for e in entities):
            raise BadRequest("entities must be a list of EntitySelector objects")
        types = [e["type"] for e in entities if isinstance(e.get("type"), str)]
        if types:
            params["type"] = ",".join(types)
        ids = [e["id"] for e in entities if isinstance(e.get("id"), str)]
        if ids:
            params["id"] = ids
        patterns = [e["idPattern"] for e in entities if isinstance(e.get("idPattern"), str)]
        if patterns:
            params["idPattern"] = patterns[0]
    for key in ("attrs", "q", "pick", "omit"):
        if key in body:
            params[key] = body[key]
    geo = body.get("geoQ")
    if isinstance(geo, Mapping):
        coords = geo.get("coordinates")
        params.update(georel=geo.get("georel"), geometry=geo.get("geometry"),
                      coordinates=coords if isinstance(coords, str) else str(coords),
                      geoproperty=geo.get("geoproperty"))
    temporal = body.get("temporalQ")
    if temporal is not None and not isinstance(temporal, Mapping):
        raise BadRequest("temporalQ must be an object")
    for key in ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN"):
        if temporal and key in temporal:
            params[key] = temporal[key]
    for key in ("options", "format", "aggrMethods", "aggrPeriodDuration", "datasetId"):
        if key in body:
            params[key] = body[key]
    return (selection(params, terms, limit=limit, offset=offset, local=False),
            window(params, terms), output(params, terms))
