"""Aggregates: exact partials per group on the provider, exact merges on the consumer.

A provider returns count, sum, min, max and value_count per group, so that a consumer merges
several providers by adding (an average is always sum / value_count, never an average of
averages). Groups under the agreement's k-threshold are suppressed by the provider: only the
flag crosses the wire, and a merged group with any suppressed part stays suppressed.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

import orjson

from .filters import attribute_value
from .model import AggregateGroup

NO_VALUE = "(none)"
SUPPRESSED = "(suppressed)"  # the one marker that stands for every withheld group


async def compute_groups(
        entities: AsyncIterable[Mapping[str, Any]], *, attribute: str, group_by: str,
        city: str) -> tuple[list[AggregateGroup], dict[str, list[str]]]:
    """Partial aggregates per group, plus the member ids of each group (for the differencing
    guard, which must know *which* entities a group covered)."""
    acc: dict[str, list[Any]] = {}
    members: dict[str, list[str]] = {}
    async for entity in entities:
        key = city if not group_by else _group_key(entity.get(group_by))
        slot = acc.setdefault(key, [0, 0.0, None, None, 0])
        members.setdefault(key, []).append(str(entity.get("id")))
        slot[0] += 1
        if attribute:
            value = attribute_value(entity.get(attribute))
            if isinstance(value, int | float) and not isinstance(value, bool):
                slot[1] += value
                slot[2] = value if slot[2] is None else min(slot[2], value)
                slot[3] = value if slot[3] is None else max(slot[3], value)
                slot[4] += 1
    groups = [AggregateGroup(key=k, count=v[0], sum=float(v[1]),
                             min=None if v[2] is None else float(v[2]),
                             max=None if v[3] is None else float(v[3]), value_count=v[4])
              for k, v in sorted(acc.items())]
    return groups, members


def suppress_below(groups: Iterable[AggregateGroup], k: int) -> list[AggregateGroup]:
    """The groups of at least ``k`` entities, plus one bare marker if any were smaller.

    A small group's *key* is data too (group by ``id`` would list every id; a district's name
    says someone is there), so suppressed groups leave nothing but the marker, which says only
    that something was withheld.
    """
    groups = list(groups)
    released = [g for g in groups if not g.suppressed and g.count >= k]
    if len(released) < len(groups):  # small groups, or markers from upstream providers
        released.append(AggregateGroup(key=SUPPRESSED, suppressed=True))
    return released


def merge_groups(parts: Iterable[Iterable[AggregateGroup]]) -> list[AggregateGroup]:
    """Merge partial aggregates from several providers exactly."""
    merged: dict[str, AggregateGroup] = {}
    for groups in parts:
        for g in groups:
            have = merged.get(g.key)
            if have is None:
                merged[g.key] = g
            elif have.suppressed or g.suppressed:
                merged[g.key] = AggregateGroup(key=g.key, suppressed=True)
            else:
                merged[g.key] = AggregateGroup(
                    key=g.key, count=have.count + g.count, sum=have.sum + g.sum,
                    min=_pick(min, have.min, g.min), max=_pick(max, have.max, g.max),
                    value_count=have.value_count + g.value_count)
    return [merged[k] for k in sorted(merged)]


def _pick(fn: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(fn(a, b))


def _group_key(prop: Any) -> str:
    value = attribute_value(prop)
    if isinstance(value, list):
        value = ",".join(sorted(str(v) for v in value))
    return NO_VALUE if value is None else str(value)


def receipt_payload(groups: Iterable[AggregateGroup]) -> list[bytes]:
    """What an aggregate receipt's data digest covers, computed alike on both sides."""
    return [orjson.dumps([g.key, g.count, g.sum, g.min, g.max, g.value_count, g.suppressed])
            for g in groups]
