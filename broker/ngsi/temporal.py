"""NGSI-LD temporal queries (ETSI GS CIM 009 v1.8.1 5.7.3, 5.7.4, 4.11, 6.3.10), transport-free.

One implementation of the temporal query semantics for every caller: which instances a
``timerel``/``timeAt``/``endTimeAt``/``timeproperty``/``lastN`` window selects, temporal
pagination (at most ``budget`` instances per entity in one answer; a cut answer says the
time range it covers, for a ``Content-Range``), and which temporal entities a query selects.
Entity selection (type, id, idPattern, q, geo) is ``broker.service.query.Selection``, checked
against the entity's *latest view*: each attribute's newest instance within the window.

Peers reach the history through ``temporal_federation`` (a federated temporal query,
decided by the provider's agreements like any query).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import BadRequest, NotFound
from ..service.query import Selection
from ..store.base import (
    EntityFilter,
    InstanceWindow,
    Store,
    StoredInstance,
    TemporalEntityRow,
)
from .model import parse_datetime
from .order import MAX_ORDERED, OrderKey, sort_rows

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
MAX_LAST_N = 10_000
SCAN_CHUNK = 200


@dataclass(frozen=True)
class TimeWindow:
    """A parsed temporal query: the window and ``lastN`` (stored names for attributes)."""

    timerel: str = ""
    time_at: float | None = None
    end_time_at: float | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None
    attrs: tuple[str, ...] = ()
    dataset_ids: tuple[str, ...] | None = None  # "" stands for the default instance

    def store_window(self, limit: int) -> InstanceWindow:
        start = end = None
        if self.timerel == "after":
            start = self.time_at
        elif self.timerel == "before":
            end = self.time_at
        elif self.timerel == "between":
            start, end = self.time_at, self.end_time_at
        return InstanceWindow(attrs=self.attrs, dataset_ids=self.dataset_ids,
                              timeproperty=self.timeproperty, start=start, end=end,
                              last_n=self.last_n, descending=self.last_n is not None,
                              limit=limit)


def parse_window(timerel: str | None, time_at: str | None, end_time_at: str | None,
                 timeproperty: str | None, last_n: str | None, attrs: Sequence[str] = (),
                 dataset_ids: Sequence[str] | None = None) -> TimeWindow:
    """The window of a request's parameters; ``BadRequest`` for what 4.11 and 6.3.x refuse."""
    rel = timerel or ""
    if rel and rel not in TIMERELS:
        raise BadRequest(f"timerel must be one of {', '.join(TIMERELS)}")
    at = _time(time_at, "timeAt") if time_at else None
    end = _time(end_time_at, "endTimeAt") if end_time_at else None
    if rel and at is None:
        raise BadRequest("timerel needs timeAt")
    if time_at and not rel:
        raise BadRequest("timeAt needs timerel")
    if rel == "between":
        if end is None:
            raise BadRequest("timerel=between needs endTimeAt")
        if at is not None and end <= at:
            raise BadRequest("endTimeAt must be after timeAt")
    elif end is not None:
        raise BadRequest("endTimeAt is only allowed with timerel=between")
    prop = timeproperty or "observedAt"
    if prop not in TIME_PROPERTIES:
        raise BadRequest(f"timeproperty must be one of {', '.join(TIME_PROPERTIES)}")
    n = None
    if last_n not in (None, ""):
        if not last_n.isdigit() or len(last_n) > 6 or not 0 < int(last_n) <= MAX_LAST_N:
            raise BadRequest(f"lastN must be an integer from 1 to {MAX_LAST_N}")
        n = int(last_n)
    datasets = None if dataset_ids is None else tuple(
        "" if d == "@none" else d for d in dataset_ids)
    return TimeWindow(rel, at, end, prop, n, tuple(attrs), datasets)


def _time(value: str, name: str) -> float:
    parsed = parse_datetime(value)
    if parsed is None:
        raise BadRequest(f"{name} must be a DateTime such as 2026-01-01T00:00:00Z")
    return parsed.timestamp()


def time_text(ts: float) -> str:
    """An NGSI-LD DateTime (UTC, ``Z``), with a fraction only when the time has one."""
    stamp = datetime.fromtimestamp(ts, UTC)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{stamp.microsecond:06d}Z" if stamp.microsecond else f"{text}Z"


def instance_time(instance: StoredInstance, timeproperty: str) -> float:
    """The time an instance sits at on ``timeproperty`` (as the store orders them)."""
    if timeproperty == "createdAt":
        return instance.created_at
    if timeproperty == "modifiedAt":
        return instance.modified_at
    if timeproperty == "deletedAt":
        return instance.deleted_at or instance.created_at
    return instance.observed_at if instance.observed_at is not None else instance.created_at


@dataclass(frozen=True)
class TimeRange:
    """What a cut answer covers (6.3.10): ``start``-``end`` in answer order, and ``size``
    (lastN, or None for "*")."""

    start: float
    end: float
    size: int | None

    def header(self) -> str:
        return f"date-time {time_text(self.start)}-{time_text(self.end)}/{self.size or '*'}"


@dataclass
class TemporalEntity:
    """A temporal entity with its instances in answer order (stored names)."""

    row: TemporalEntityRow
    instances: list[StoredInstance]
    cut: TimeRange | None = None
    empty: tuple[str, ...] = ()  # attributes a cut left without instances (shown as [])
    head: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.head = orjson.loads(self.row.doc)

    def latest_view(self, timeproperty: str) -> dict[str, Any]:
        """The entity as its newest instance of each attribute shows it (what q, geo and
        attrs are checked against)."""
        out: dict[str, Any] = {"id": self.row.id, **self.head}
        newest: dict[str, tuple[float, StoredInstance]] = {}
        for i in self.instances:
            t = instance_time(i, timeproperty)
            if i.attr not in newest or t >= newest[i.attr][0]:
                newest[i.attr] = (t, i)
        for name, (_, i) in newest.items():
            out[name] = orjson.loads(i.doc)
        return out


Admit = Callable[["TemporalEntity"], Awaitable[bool]]


class TemporalReads:
    """Reads of the node's entity history."""

    def __init__(self, store: Store, budget: int) -> None:
        self._store = store
        self.budget = budget

    async def entity(self, entity_id: str, window: TimeWindow) -> TemporalEntity:
        """One temporal entity with the window's instances; ``NotFound`` when unknown."""
        row = await self._store.temporal_entity(entity_id)
        if row is None:
            raise NotFound(f"no temporal representation of {entity_id[:256]}")
        return await self._load(row, window)

    async def _load(self, row: TemporalEntityRow, window: TimeWindow) -> TemporalEntity:
        rows = await self._store.temporal_instances(row.id, window.store_window(self.budget + 1))
        cut = None
        empty: tuple[str, ...] = ()
        if len(rows) > self.budget:
            rows = rows[:self.budget]
            cut = self._range(rows, window)
            # A cut answer names the attributes it had no room for (with no instances), so a
            # client knows to ask for the next range.
            newest = await self._store.temporal_instances(
                row.id, InstanceWindow(attrs=window.attrs, dataset_ids=window.dataset_ids,
                                       timeproperty=window.timeproperty, last_n=1))
            kept = {i.attr for i in rows}
            empty = tuple(dict.fromkeys(i.attr for i in newest if i.attr not in kept))
        return TemporalEntity(row, rows, cut, empty)

    def _range(self, kept: list[StoredInstance], window: TimeWindow) -> TimeRange:
        first = instance_time(kept[0], window.timeproperty)
        last = instance_time(kept[-1], window.timeproperty)
        return answer_range(first, last, window)


    async def query(self, selection: Selection, window: TimeWindow, *, limit: int,
                    offset: int = 0, order_by: tuple[OrderKey, ...] = (),
                    after_id: str = "", admit: Admit | None = None
                    ) -> tuple[list[TemporalEntity], bool]:
        """One page of the temporal entities ``selection`` selects, in id order (or in
        ``order_by`` order, 4.23), and whether more follow. An entity is selected when its
        latest view in the window matches (and, with ``attrs``, has one of them).
        ``after_id`` starts after that id; ``admit`` is a further test of each match (a
        provider's agreed area), run before the page is counted."""
        if order_by:
            return await self._ordered(selection, window, limit, offset, order_by)
        out: list[TemporalEntity] = []
        skipped = 0
        async for entity in self._matches(selection, window, after_id):
            if admit is not None and not await admit(entity):
                continue
            if skipped < offset:
                skipped += 1
                continue
            if len(out) == limit:
                return out, True
            out.append(entity)
        return out, False

    async def _ordered(self, selection: Selection, window: TimeWindow, limit: int,
                       offset: int, order_by: tuple[OrderKey, ...]
                       ) -> tuple[list[TemporalEntity], bool]:
        """Every match sorted by its latest view (its entity's times for createdAt and
        modifiedAt), at most ``MAX_ORDERED`` of them (more is a 400, never a partial order);
        only the page's entities keep their instances."""
        views: list[tuple[TemporalEntityRow, dict[str, Any]]] = []
        async for entity in self._matches(selection, window):
            views.append((entity.row, entity.latest_view(window.timeproperty)))
            if len(views) > MAX_ORDERED:
                raise BadRequest(f"orderBy sorts at most {MAX_ORDERED} matching temporal "
                                 "entities: narrow the query")
        ordered = sort_rows(views, order_by, lambda v: v[1],
                            lambda v: (v[0].created_at, v[0].modified_at))
        page = ordered[offset:offset + limit]
        return ([await self._load(row, window) for row, _ in page],
                len(ordered) > offset + limit)

    async def _matches(self, selection: Selection, window: TimeWindow, after_id: str = ""
                       ) -> AsyncIterator[TemporalEntity]:
        """The selected temporal entities with their window's instances, in id order."""
        flt = selection.index_filter()
        if flt is None:
            return
        after = after_id
        while True:
            rows = await self._store.scan_temporal(
                EntityFilter(types=flt.types, ids=flt.ids, id_prefix=flt.id_prefix,
                             after_id=after), SCAN_CHUNK)
            for row in rows:
                if not selection.accepts_id(row.id):
                    continue
                entity = await self._load(row, window)
                if not entity.instances and (window.attrs or window.timerel):
                    continue
                if not selection.accepts_content(entity.latest_view(window.timeproperty)):
                    continue
                yield entity
            if len(rows) < SCAN_CHUNK:
                return
            after = rows[-1].id


def answer_range(first: float, last: float, window: TimeWindow) -> TimeRange:
    """The range of an answer whose instances run from ``first`` to ``last`` (answer order:
    oldest first, or newest first with lastN)."""
    if window.last_n is None:  # oldest first: the range starts where the window does
        start = window.time_at if window.timerel in ("after", "between") else first
    else:  # newest first
        start = (window.end_time_at if window.timerel == "between" else
                 window.time_at if window.timerel == "before" else first)
    return TimeRange(start if start is not None else first, last, window.last_n)


def query_range(entities: Sequence[TemporalEntity], window: TimeWindow) -> TimeRange | None:
    """The range of a query's answer when any entity in it was cut: from the window's start
    to the last instance the answer holds (oldest first), or the reverse with lastN."""
    if not any(e.cut for e in entities):
        return None
    times = [instance_time(i, window.timeproperty) for e in entities for i in e.instances]
    newest_first = window.last_n is not None
    first = max(times) if newest_first else min(times)
    last = min(times) if newest_first else max(times)
    return answer_range(first, last, window)
