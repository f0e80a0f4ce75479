"""The temporal API across the federation: what a provider shares of its history, and the
consumer's merged answer.

Providing (``SharedHistory``, called by ``broker.provider`` once the call is decided exactly
as a query): the history of the entities the query selects, read only for the attributes the
agreement shows for each type (so which entities match, how many instances each holds and
where an answer is cut cannot depend on a hidden attribute), of entities whose newest known
location lies in the agreed area (an entity that never had one is not shared when an area
applies), with the entity's head masked like an entity. Each temporal entity goes on the
wire as compact JSON (``to_wire``), id first.

Consuming (``FederatedHistory``, the NGSI-LD route's temporal queries): local matches and
every peer's (``FederationScope``, the agreements the reader may use) merged in id order, the
local copy winning; each peer's entity is checked again on arrival with the same query stack
(what the wire could not carry, e.g. ``~=`` or a datasetId). A peer that refused, failed or
ran out of time is a warning of the answer, never a silently short page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from trust.enforce import FieldMask, entity_in_area
from trust.geo import Area

from ..errors import BadRequest
from ..federation.fanout import PeerStatus
from ..service.filters import And
from ..service.model import TemporalQuery
from ..service.query import any_of
from ..store.base import InstanceWindow, Store, StoredInstance, TemporalEntityRow
from .projection import Projection
from .query import NgsiQuery
from .reads import wire_query
from .render import OutputOptions
from .scope import Audience, FederationScope
from .temporal import TemporalEntity, TemporalReads, TimeWindow, answer_range, instance_time

log = logging.getLogger("renkei.ngsi.temporal")
_NOT_ATTRIBUTES = frozenset({"id", "type", "@context"})


# -- the wire form ------------------------------------------------------------------------------

def to_wire(entity: TemporalEntity, head: Mapping[str, Any]) -> bytes:
    """A temporal entity as the compact JSON a ``TemporalQuery`` stream carries."""
    return orjson.dumps({
        "id": entity.row.id, "type": head.get("type", entity.row.type),
        "head": {k: v for k, v in head.items() if k != "id"},
        "createdAt": entity.row.created_at, "modifiedAt": entity.row.modified_at,
        "instances": [{"instanceId": i.instance_id, "attr": i.attr, "datasetId": i.dataset_id,
                       "doc": orjson.loads(i.doc), "observedAt": i.observed_at,
                       "createdAt": i.created_at, "modifiedAt": i.modified_at,
                       "deletedAt": i.deleted_at} for i in entity.instances],
        "cut": entity.cut is not None, "empty": list(entity.empty)})


def from_wire(doc: Mapping[str, Any], window: TimeWindow) -> TemporalEntity:
    """A peer's temporal entity; ``ValueError`` when it is not one. Only instances the
    window asks for are kept: its attributes (a peer also sends those the consumer filters
    on, which a local answer would not show either) and datasets (the wire carries no
    datasetId filter)."""
    entity_id, head = doc.get("id"), doc.get("head")
    if not isinstance(entity_id, str) or not isinstance(head, dict):
        raise ValueError("a temporal entity needs an id and a head")
    instances = []
    for item in _list(doc.get("instances")):
        if not isinstance(item, dict) or not isinstance(item.get("doc"), dict):
            raise ValueError("an instance needs a doc")
        instance = StoredInstance(
            instance_id=_text(item.get("instanceId")), entity_id=entity_id,
            attr=_text(item.get("attr")), dataset_id=str(item.get("datasetId") or ""),
            doc=orjson.dumps(item["doc"]), observed_at=_time(item.get("observedAt")),
            created_at=_time(item.get("createdAt")) or 0.0,
            modified_at=_time(item.get("modifiedAt")) or 0.0,
            deleted_at=_time(item.get("deletedAt")))
        if (window.dataset_ids is None or instance.dataset_id in window.dataset_ids) and (
                not window.attrs or instance.attr in window.attrs):
            instances.append(instance)
    row = TemporalEntityRow(entity_id, str(head.get("type", "")), orjson.dumps(head),
                            _time(doc.get("createdAt")) or 0.0,
                            _time(doc.get("modifiedAt")) or 0.0)
    empty = tuple(_text(a) for a in _list(doc.get("empty")))
    cut = None
    if doc.get("cut") is True and instances:
        times = [instance_time(i, window.timeproperty) for i in instances]
        cut = answer_range(times[0], times[-1], window)
    return TemporalEntity(row, instances, cut, empty)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a time in epoch seconds")
    return float(value)


def window_of(request: TemporalQuery, attrs: Sequence[str]) -> TimeWindow:
    return TimeWindow(request.timerel, request.time_at, request.end_time_at,
                      request.timeproperty, request.last_n, tuple(attrs))


# -- providing ----------------------------------------------------------------------------------

class SharedHistory:
    """What a provider shares of its history under a decision's mask and area."""

    def __init__(self, store: Store, reads: TemporalReads) -> None:
        self._store = store
        self._reads = reads

    async def page(self, request: TemporalQuery, mask: FieldMask, area: Area | None,
                   after_id: str, limit: int) -> tuple[list[tuple[str, bytes]], bool]:
        """Up to ``limit`` (id, wire JSON) in id order after ``after_id``, and whether more
        follow. Types whose agreed attributes are the same are read together."""
        groups: dict[frozenset[str], list[str]] = {}
        for entity_type in sorted(mask.types):
            shown = mask.attributes_for(entity_type) - _NOT_ATTRIBUTES
            groups.setdefault(shown, []).append(entity_type)
        wanted = frozenset(request.attrs)

        async def in_area(entity: TemporalEntity) -> bool:
            if area is None:
                return True
            newest = await self._store.temporal_instances(
                entity.row.id, InstanceWindow(attrs=("location",), last_n=1,
                                              timeproperty="createdAt"))
            return bool(newest) and entity_in_area({"location": orjson.loads(newest[0].doc)},
                                                   area)

        found: dict[str, bytes] = {}
        for shown, types in groups.items():
            attrs = sorted(shown & wanted if wanted else shown)
            if not attrs:
                continue  # nothing of these types' history may be shown
            selection = NgsiQuery(types=any_of(types), ids=request.ids,
                                  id_pattern=request.id_pattern,
                                  q=And(request.q) if request.q else None, geo=request.geo)
            entities, _ = await self._reads.query(selection, window_of(request, attrs),
                                                  limit=limit + 1, after_id=after_id,
                                                  admit=in_area)
            for entity in entities:
                head = mask.apply({"id": entity.row.id, **entity.head})
                if head is not None and entity.row.id not in found:
                    found[entity.row.id] = to_wire(entity, head)
        ordered = sorted(found.items())
        return ordered[:limit], len(ordered) > limit


# -- consuming ----------------------------------------------------------------------------------

@dataclass
class TemporalPage:
    entities: list[TemporalEntity]
    more: bool
    warnings: list[PeerStatus] = field(default_factory=list)


class FederatedHistory:
    """Temporal queries of the NGSI-LD API: local, or local and the peers' merged."""

    def __init__(self, reads: TemporalReads, scope: FederationScope) -> None:
        self._reads = reads
        self._scope = scope

    async def query(self, selection: NgsiQuery, window: TimeWindow, *, audience: Audience,
                    local: bool) -> TemporalPage:
        if local or not self._scope.plan(audience, selection.type_names):
            entities, more = await self._reads.query(
                selection, window, limit=selection.limit, offset=selection.offset,
                order_by=selection.order_by)
            return TemporalPage(entities, more)
        if selection.order_by:
            raise BadRequest("orderBy is not supported on a federated temporal query: add "
                             "local=true, or order the answer yourself")
        want = selection.offset + selection.limit
        mine, _ = await self._reads.query(selection, window, limit=want + 1)
        base = wire_query(selection, OutputOptions(projection=Projection(attrs=window.attrs)),
                          want + 1)
        request = TemporalQuery(**{f.name: getattr(base, f.name) for f in fields(base)},
                                timerel=window.timerel, time_at=window.time_at,
                                end_time_at=window.end_time_at,
                                timeproperty=window.timeproperty, last_n=window.last_n)
        arrived: dict[str, TemporalEntity] = {}

        def accept(doc: Mapping[str, Any]) -> bool:
            try:
                entity = from_wire(doc, window)
            except ValueError as exc:
                log.warning("a peer sent a temporal entity that is not one: %s", exc)
                return False
            if not entity.instances and (window.attrs or window.timerel):
                return False
            if not (selection.accepts_id(entity.row.id) and selection.accepts_content(
                    entity.latest_view(window.timeproperty))):
                return False
            arrived.setdefault(entity.row.id, entity)
            return True

        result = await self._scope.query(audience, request, accept=accept, need=want + 1)
        merged = {e.row.id: e for e in mine}
        for entity_id, entity in arrived.items():
            merged.setdefault(entity_id, entity)  # the local history wins
        ordered = [merged[k] for k in sorted(merged)]
        return TemporalPage(ordered[selection.offset:want],
                            len(ordered) > want or not result.complete, result.warnings)
