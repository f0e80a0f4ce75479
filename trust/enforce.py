"""Enforcement on results, applied by the providing node after the store query.

The store query already narrows by type and area bounds; these helpers make the result exact:

- :class:`FieldMask` keeps only the attributes the agreement allows per type (``id``, ``type``
  and ``@context`` always stay). It drops entities whose type the mask does not cover.
- :func:`filter_area` keeps only entities whose ``location`` GeoProperty lies in the agreed area
  (points by a grid lookup or vectorised shapely; other geometries must be covered entirely).
  Entities without a usable location are dropped unless ``keep_unlocated``.
- :func:`enforce_entities` does both on a batch, the form the broker streams through.
- :func:`suppress_small_groups` and :func:`check_k` apply the k-threshold of ``aggregate_only``
  agreements; :class:`~trust.differencing.DifferencingGuard` catches the simple differencing
  attack (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from trust.agreement_model import ALWAYS_ALLOWED
from trust.differencing import DifferencingGuard
from trust.errors import GeometryError, PolicyDenied
from trust.geo import Area, geometry_of

__all__ = [
    "DifferencingGuard",
    "FieldMask",
    "check_k",
    "enforce_entities",
    "entity_position",
    "entity_in_area",
    "filter_area",
    "suppress_small_groups",
]

K = TypeVar("K")
V = TypeVar("V")
_KEEP_ALWAYS = ALWAYS_ALLOWED | {"@context"}
_EMPTY: frozenset[str] = frozenset()


class FieldMask:
    """Allowed attribute names per entity type; immutable once built."""

    __slots__ = ("_by_type",)

    def __init__(self, by_type: Mapping[str, Iterable[str]]) -> None:
        self._by_type: dict[str, frozenset[str]] = {
            t: frozenset(attrs) | _KEEP_ALWAYS for t, attrs in by_type.items()}

    @property
    def types(self) -> frozenset[str]:
        """Entity types the mask lets through."""
        return frozenset(self._by_type)

    def attributes_for(self, entity_type: str) -> frozenset[str]:
        """Attribute names allowed for ``entity_type`` (empty if the type is not allowed).

        Includes ``id``, ``type`` and ``@context``; usable as a store projection.
        """
        return self._by_type.get(entity_type, _EMPTY)

    def allows(self, entity_type: str, attribute: str) -> bool:
        return attribute in self._by_type.get(entity_type, _EMPTY)

    def restrict(self, types: Iterable[str] | None, attributes: Iterable[str] | None) -> FieldMask:
        """A narrower mask: only ``types`` (all if None) and only ``attributes`` (all if None)."""
        keep_types = self._by_type.keys() if types is None else (
            t for t in types if t in self._by_type)
        wanted = None if attributes is None else frozenset(attributes)
        return FieldMask({t: self._by_type[t] if wanted is None else self._by_type[t] & wanted
                          for t in keep_types})

    def apply(self, entity: Mapping[str, Any]) -> dict[str, Any] | None:
        """A copy of ``entity`` with only the allowed attributes; None if its type is not allowed.

        A multi-typed entity (``type`` is a list) keeps the union of its allowed types' attributes
        and only the allowed types. ``id`` comes first, the rest in the entity's order: a
        consumer then reads the id of the serialized copy without parsing it.
        """
        entity_type = entity.get("type")
        if isinstance(entity_type, str):
            allowed = self._by_type.get(entity_type)
            if allowed is None:
                return None
            return _id_first({k: v for k, v in entity.items() if k in allowed})
        if not isinstance(entity_type, list):
            return None
        kept = [t for t in entity_type if isinstance(t, str) and t in self._by_type]
        if not kept:
            return None
        union = frozenset().union(*(self._by_type[t] for t in kept))
        out = {k: v for k, v in entity.items() if k in union}
        out["type"] = kept
        return _id_first(out)

    def apply_many(self, entities: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`apply` over a batch, dropping entities of types the mask does not allow."""
        by_type = self._by_type
        out = []
        for entity in entities:
            entity_type = entity.get("type")
            allowed = by_type.get(entity_type) if isinstance(entity_type, str) else None
            if allowed is not None:
                out.append(_id_first({k: v for k, v in entity.items() if k in allowed}))
            else:
                masked = self.apply(entity)
                if masked is not None:
                    out.append(masked)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldMask) and self._by_type == other._by_type

    def __repr__(self) -> str:
        inner = ", ".join(f"{t}: {sorted(a - _KEEP_ALWAYS)}"
                          for t, a in sorted(self._by_type.items()))
        return f"FieldMask({{{inner}}})"

    def to_document(self) -> dict[str, list[str]]:
        return {t: sorted(a) for t, a in self._by_type.items()}


def entity_position(entity: Mapping[str, Any]) -> tuple[float, float] | None | Any:
    """Where the area checks look: (lon, lat) for a Point ``location``, the GeoJSON value for
    other geometries, None when the entity has no usable location."""
    location = entity.get("location")
    if not isinstance(location, Mapping):
        return None
    value = location.get("value")
    if not isinstance(value, Mapping):
        return None
    if value.get("type") == "Point":
        coordinates = value.get("coordinates")
        if (isinstance(coordinates, list | tuple) and len(coordinates) >= 2
                and isinstance(coordinates[0], int | float)
                and isinstance(coordinates[1], int | float)
                and not isinstance(coordinates[0], bool) and not isinstance(coordinates[1], bool)):
            return float(coordinates[0]), float(coordinates[1])
        return None
    return value


def entity_in_area(entity: Mapping[str, Any], area: Area, *, keep_unlocated: bool = False) -> bool:
    """True if the entity's ``location`` lies in ``area`` (non-points: covered entirely)."""
    where = entity_position(entity)
    if where is None:
        return keep_unlocated
    if isinstance(where, tuple):
        return area.contains_point(where[0], where[1])
    try:
        return area.covers(geometry_of(where))
    except GeometryError:
        return keep_unlocated


def filter_area(entities: Sequence[Mapping[str, Any]], area: Area | None, *,
                keep_unlocated: bool = False) -> list[Mapping[str, Any]]:
    """Entities of the batch that lie in ``area`` (all of them if ``area`` is None), in order.

    Point locations are tested in one vectorised call for the whole batch.
    """
    if area is None:
        return list(entities)
    keep = [False] * len(entities)
    point_index: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    for i, entity in enumerate(entities):
        where = entity_position(entity)
        if isinstance(where, tuple):
            point_index.append(i)
            lons.append(where[0])
            lats.append(where[1])
        elif where is None:
            keep[i] = keep_unlocated
        else:
            keep[i] = entity_in_area(entity, area, keep_unlocated=keep_unlocated)
    if point_index:
        inside = area.contains_points(lons, lats).tolist()
        for i, ok in zip(point_index, inside, strict=True):
            keep[i] = ok
    return [e for e, ok in zip(entities, keep, strict=True) if ok]


def enforce_entities(entities: Sequence[Mapping[str, Any]], mask: FieldMask,
                     area: Area | None, *, keep_unlocated: bool = False) -> list[dict[str, Any]]:
    """Area filter then field mask over one batch: what may leave the node."""
    return mask.apply_many(filter_area(entities, area, keep_unlocated=keep_unlocated))


def _default_count(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return int(value["count"])
    raise TypeError("group value must be a count or a mapping with 'count'")


def suppress_small_groups(groups: Mapping[K, V], k: int,
                          count: Callable[[V], int] = _default_count) -> dict[K, V]:
    """The groups with at least ``k`` members; the others are dropped, not merged.

    Merging small groups into an "other" bucket would let a consumer recover them by
    subtraction, so they are simply absent. ``count`` reads a group's size (default: the value
    itself if an int, else ``value["count"]``).
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    return {key: value for key, value in groups.items() if count(value) >= k}


def check_k(count: int, k: int) -> None:
    """Refuse an ungrouped aggregate over fewer than ``k`` entities (``below_k_threshold``)."""
    if count < k:
        raise PolicyDenied("below_k_threshold",
                           f"aggregate covers fewer than {k} entities")


def _id_first(entity: dict[str, Any]) -> dict[str, Any]:
    """``entity`` with its ``id`` member moved to the front (the same dict when it is there)."""
    if "id" not in entity or next(iter(entity)) == "id":
        return entity
    return {"id": entity["id"], **entity}
