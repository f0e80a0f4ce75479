"""``orderBy`` (ETSI GS CIM 009 4.23): the order of a query's answer.

``orderBy=type;asc,name.subProperty;desc,name`` sorts by each key in turn: ``id``, ``type``,
``createdAt``/``modifiedAt``, or an attribute path (``name``: its value, ``name.sub``: a
sub-attribute's, ``name.createdAt``: its system time, which is its entity's here), ascending
unless ``;desc``. Entities without a key sort after those with it. Sorting needs every match,
so an ordered query reads at most ``MAX_ORDERED`` matches (more is a 400 naming the limit,
never a silently partial order).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest
from ..service.filters import attribute_value

MAX_ORDERED = 10_000
MAX_KEYS = 16
_TIMES = ("createdAt", "modifiedAt")


@dataclass(frozen=True)
class OrderKey:
    path: tuple[str, ...]  # ("id",), ("name",), ("name", "subProperty")...
    descending: bool = False


def parse_order_by(text: str, rename: Callable[[str], str]) -> tuple[OrderKey, ...]:
    """The keys of an orderBy value (attribute names renamed to stored names)."""
    keys = []
    for item in text.split(","):
        path_text, _, direction = item.strip().partition(";")
        if direction not in ("", "asc", "desc"):
            raise BadRequest(f"orderBy direction must be asc or desc, got {direction[:16]!r}")
        parts = tuple(p.strip() for p in path_text.split("."))
        if not path_text or not all(parts):
            raise BadRequest(f"orderBy has an empty key in {text[:64]!r}")
        if parts[0] not in ("id", "type") + _TIMES:
            parts = (rename(parts[0]), *parts[1:])
        keys.append(OrderKey(parts, direction == "desc"))
    if len(keys) > MAX_KEYS:
        raise BadRequest(f"orderBy takes at most {MAX_KEYS} keys")
    return tuple(keys)


def _default(attr: Any) -> Any:
    """The default instance of a multi-attribute (else its first)."""
    if isinstance(attr, list):
        return next((a for a in attr if isinstance(a, Mapping) and "datasetId" not in a),
                    attr[0] if attr else None)
    return attr


def _value(entity: Mapping[str, Any], times: tuple[float | None, float | None],
           path: tuple[str, ...]) -> Any:
    head = path[0]
    if head in ("id", "type") and len(path) == 1:
        return entity.get(head)
    if head in _TIMES and len(path) == 1:
        return times[_TIMES.index(head)]
    attr = entity.get(head)
    for part in path[1:]:
        if attr is None:
            return None
        attr = _default(attr)
        if part in _TIMES:
            return times[_TIMES.index(part)]  # attributes carry their entity's times
        attr = attr.get(part) if isinstance(attr, Mapping) else None
    attr = _default(attr)
    return attribute_value(attr) if isinstance(attr, Mapping) else attr


def _rank(value: Any) -> tuple[int, Any]:
    """Comparable across JSON types: numbers, then strings, then the rest as JSON text."""
    if isinstance(value, bool):
        return (2, int(value))
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (3, str(value))


def sort_rows(rows: list[Any], keys: tuple[OrderKey, ...],
              entity_of: Callable[[Any], Mapping[str, Any]],
              times_of: Callable[[Any], tuple[float | None, float | None]]) -> list[Any]:
    """``rows`` in ``keys`` order (stable: ties keep their id order)."""

    def compare(a: Any, b: Any) -> int:
        for key in keys:
            va = _value(entity_of(a), times_of(a), key.path)
            vb = _value(entity_of(b), times_of(b), key.path)
            if va is None or vb is None:
                if va is None and vb is None:
                    continue
                return 1 if va is None else -1  # missing last, either direction
            ra, rb = _rank(va), _rank(vb)
            if ra != rb:
                result = -1 if ra < rb else 1
                return -result if key.descending else result
        return 0

    return sorted(rows, key=functools.cmp_to_key(compare))
