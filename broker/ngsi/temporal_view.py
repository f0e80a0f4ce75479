"""The representations of a temporal entity (ETSI GS CIM 009 v1.8.1 4.5.9, 4.5.19, 5.7.3):
normalized (each attribute a list of instances), simplified (``options=temporalValues``:
``values`` pairs of value and time) and aggregated (``options=aggregatedValues``: one triple
of value, period start and end per ``aggrPeriodDuration`` and method). Stored names; the
route translates them to the caller's."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import BadRequest
from ..store.base import StoredInstance
from .temporal import TemporalEntity, instance_time
from .temporal import time_text as iso

# The member holding a value, and its plural in the simplified form, by attribute type.
_MEMBERS = {"Property": ("value", "values"), "GeoProperty": ("value", "values"),
            "Relationship": ("object", "objects"),
            "LanguageProperty": ("languageMap", "languageMaps"),
            "VocabProperty": ("vocab", "vocabs"), "ListProperty": ("valueList", "valueLists"),
            "ListRelationship": ("objectList", "objectLists"), "JsonProperty": ("json", "jsons")}
AGGREGATES = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_SECONDS = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1)


@dataclass(frozen=True)
class Aggregation:
    methods: tuple[str, ...]
    period: float  # seconds; 0: the whole window is one period


def parse_aggregation(methods: Sequence[str], period: str | None) -> Aggregation:
    """``aggrMethods`` and ``aggrPeriodDuration`` (ISO 8601 duration, default P0D)."""
    if not methods:
        raise BadRequest("options=aggregatedValues needs aggrMethods")
    unknown = [m for m in methods if m not in AGGREGATES]
    if unknown:
        raise BadRequest(f"unknown aggrMethods {unknown[0][:32]!r} (known: "
                         f"{', '.join(AGGREGATES)})")
    return Aggregation(tuple(dict.fromkeys(methods)), duration_seconds(period or "P0D"))


def duration_seconds(text: str) -> float:
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise BadRequest(f"aggrPeriodDuration {text[:32]!r} is not an ISO 8601 duration")
    return sum(float(g) * s for g, s in zip(match.groups(), _SECONDS, strict=True) if g)


def normalized(entity: TemporalEntity, *, sys_attrs: bool = False) -> dict[str, Any]:
    out = _head(entity, sys_attrs)
    for i in entity.instances:
        doc = orjson.loads(i.doc)
        doc["instanceId"] = i.instance_id
        if sys_attrs:
            doc["createdAt"] = iso(i.created_at)
            doc["modifiedAt"] = iso(i.modified_at)
        if i.deleted_at is not None:
            doc["deletedAt"] = iso(i.deleted_at)
        out.setdefault(i.attr, []).append(doc)
    for attr in entity.empty:
        out.setdefault(attr, [])
    return out


# Simplified values of these types keep their member ({"languageMap": ...}), as 4.5.9 shows.
_WRAPPED = frozenset({"LanguageProperty", "VocabProperty", "JsonProperty", "ListProperty",
                      "ListRelationship"})


def temporal_values(entity: TemporalEntity, timeproperty: str) -> dict[str, Any]:
    """Each attribute (each datasetId of it) as ``values`` pairs of value and time."""
    out = _head(entity, False)
    for attr, instances in _by_attribute(entity.instances).items():
        groups: dict[str, list[tuple[dict[str, Any], StoredInstance]]] = {}
        for i in instances:
            groups.setdefault(i.dataset_id, []).append((orjson.loads(i.doc), i))
        shown = []
        for dataset_id, items in groups.items():
            kind = str(items[0][0].get("type", "Property"))
            member, plural = _MEMBERS.get(kind, ("value", "values"))
            group: dict[str, Any] = {"type": kind}
            if dataset_id:
                group["datasetId"] = dataset_id
            group[plural] = [[{member: d.get(member)} if kind in _WRAPPED else d.get(member),
                              _time_text(d, i, timeproperty)] for d, i in items]
            shown.append(group)
        out[attr] = shown[0] if len(shown) == 1 else shown
    for attr in entity.empty:
        out.setdefault(attr, [])
    return out


def aggregated(entity: TemporalEntity, aggregation: Aggregation, timeproperty: str,
               window_start: float | None, window_end: float | None) -> dict[str, Any]:
    out = _head(entity, False)
    for attr, instances in _by_attribute(entity.instances).items():
        points = sorted(((instance_time(i, timeproperty), orjson.loads(i.doc))
                         for i in instances), key=lambda p: p[0])
        kind = str(points[0][1].get("type", "Property"))
        member = _MEMBERS.get(kind, ("value", "values"))[0]
        start = window_start if window_start is not None else points[0][0]
        end = window_end if window_end is not None else points[-1][0]
        periods = _periods(start, end, aggregation.period, points[-1][0])
        result: dict[str, Any] = {"type": kind}
        for method in aggregation.methods:
            result[method] = []
        for low, high in periods:
            values = [p[1].get(member) for p in points if low <= p[0] < high
                      or (high == periods[-1][1] and p[0] == high and aggregation.period == 0)]
            if not values:
                continue
            for method in aggregation.methods:
                result[method].append([_aggregate(method, values), iso(low), iso(high)])
        out[attr] = result
    return out


def _periods(start: float, end: float, period: float, last: float) -> list[tuple[float, float]]:
    if period <= 0:
        return [(start, max(end, last))]
    out: list[tuple[float, float]] = []
    low = start
    while low <= max(end, last) and len(out) < 10_000:
        out.append((low, low + period))
        low += period
    return out


def _aggregate(method: str, values: list[Any]) -> Any:
    if method == "totalCount":
        return len(values)
    if method == "distinctCount":
        return len({orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in values})
    numbers = [float(v) for v in values if isinstance(v, int | float)
               and not isinstance(v, bool)]
    if not numbers:
        return None
    if method == "sum":
        return sum(numbers)
    if method == "avg":
        return sum(numbers) / len(numbers)
    if method == "min":
        return min(numbers)
    if method == "max":
        return max(numbers)
    if method == "sumsq":
        return sum(n * n for n in numbers)
    mean = sum(numbers) / len(numbers)  # stddev, of the population
    return math.sqrt(sum((n - mean) ** 2 for n in numbers) / len(numbers))


def project(entity: Mapping[str, Any], pick: Iterable[str], omit: Iterable[str]
            ) -> dict[str, Any]:
    """``pick``/``omit`` on the members of a temporal entity (``id`` and ``type`` too)."""
    out = dict(entity)
    keep = set(pick)
    if keep:
        out = {k: v for k, v in out.items() if k in keep}
    for name in omit:
        out.pop(name, None)
    return out


def _head(entity: TemporalEntity, sys_attrs: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity.row.id, **entity.head}
    if sys_attrs:
        out["createdAt"] = iso(entity.row.created_at)
        out["modifiedAt"] = iso(entity.row.modified_at)
    return out


def _by_attribute(instances: Iterable[StoredInstance]) -> dict[str, list[StoredInstance]]:
    out: dict[str, list[StoredInstance]] = {}
    for i in instances:
        out.setdefault(i.attr, []).append(i)
    return out


def _time_text(doc: Mapping[str, Any], instance: StoredInstance, timeproperty: str) -> str:
    if timeproperty == "observedAt" and isinstance(doc.get("observedAt"), str):
        return str(doc["observedAt"])
    return iso(instance_time(instance, timeproperty))
