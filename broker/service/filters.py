"""Entity filters shared by the NGSI-LD API and the federation: the q tree and geo queries.

Both transports parse into these types (the NGSI-LD ``q`` grammar over HTTP, the AND-only
``Condition`` list over gRPC); evaluation runs on normalized NGSI-LD entity dicts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shapely.errors import ShapelyError
from shapely.geometry import Point, shape
from shapely.ops import unary_union
from shapely.prepared import prep
from shapely.validation import make_valid

from ..errors import BadRequest
from .patterns import compile_pattern

OPS = ("==", "!=", ">", ">=", "<", "<=", "~=", "!~=")
_EARTH_RADIUS_M = 6_371_008.8
_MISSING = object()


@dataclass(frozen=True)
class Comparison:
    """``attribute[.sub-attribute][[key]...] op value``; ``value`` may be a tuple (any of) or a
    ``Range``. ``attribute`` alone (op ``exists``) tests presence."""

    attribute: str
    op: str
    value: Any = None
    keys: tuple[str, ...] = ()
    sub_attribute: str = ""

    def matches(self, entity: Mapping[str, Any]) -> bool:
        prop = entity.get(self.attribute)
        if self.sub_attribute and isinstance(prop, Mapping):
            prop = prop.get(self.sub_attribute)
        if self.op == "exists":
            return prop is not None
        if self.attribute in ("id", "type") and isinstance(prop, str):
            actual: Any = prop
        else:
            actual = attribute_value(prop)
        for key in self.keys:
            actual = actual.get(key, _MISSING) if isinstance(actual, Mapping) else _MISSING
        if actual is _MISSING or actual is None:
            return False
        candidates = actual if isinstance(actual, list) else [actual]
        if self.op == "!=":
            return not any(_equal(c, self.value) for c in candidates)
        if self.op == "!~=":
            return not any(_regex(c, self.value) for c in candidates)
        return any(_compare(c, self.op, self.value) for c in candidates)


@dataclass(frozen=True)
class Range:
    low: Any
    high: Any


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return all(item.matches(entity) for item in self.items)


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return any(item.matches(entity) for item in self.items)


Expr = Comparison | And | Or


def attribute_value(prop: Any) -> Any:
    """The comparable value of a normalized attribute (Property, Relationship, ...)."""
    if isinstance(prop, list):  # multi-attribute: the first instance (default datasetId)
        prop = prop[0] if prop else None
    if not isinstance(prop, Mapping):
        return prop
    kind = prop.get("type")
    if kind == "Relationship":
        return prop.get("object")
    if kind == "LanguageProperty":
        return list(prop.get("languageMap", {}).values())
    if kind == "VocabProperty":
        return prop.get("vocab")
    if kind == "ListProperty":
        return prop.get("valueList")
    return prop.get("value", prop.get("object"))


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, tuple):
        return any(_equal(actual, e) for e in expected)
    if isinstance(expected, Range):
        return _compare(actual, ">=", expected.low) and _compare(actual, "<=", expected.high)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return float(actual) == float(expected)
    return bool(actual == expected)


def _regex(actual: Any, pattern: Any) -> bool:
    return isinstance(actual, str) and _pattern(str(pattern)).search(actual) is not None


@functools.lru_cache(maxsize=256)
def _pattern(text: str) -> Any:
    # RE2 (linear time): a caller's `~=` pattern must not be able to stall the node.
    return compile_pattern(text, "q pattern")


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "==":
        return _equal(actual, expected)
    if op == "~=":
        return _regex(actual, expected)
    numeric = (isinstance(actual, int | float) and not isinstance(actual, bool)
               and isinstance(expected, int | float) and not isinstance(expected, bool))
    if not numeric and not (isinstance(actual, str) and isinstance(expected, str)):
        return False
    if op == ">":
        return bool(actual > expected)
    if op == ">=":
        return bool(actual >= expected)
    if op == "<":
        return bool(actual < expected)
    if op == "<=":
        return bool(actual <= expected)
    raise BadRequest(f"unknown operator {op}")


WIRE_OPS = frozenset({"==", "!=", ">", ">=", "<", "<="})


def on_the_wire(c: Comparison) -> bool:
    """Whether the federation's wire form carries this comparison exactly (attribute op JSON
    scalar); the others are checked by the consumer on arrival."""
    return (c.op in WIRE_OPS and not c.keys and not c.sub_attribute
            and isinstance(c.value, str | int | float | bool))


# -- geo ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Near:
    """Within ``max_distance_m`` metres of a WGS84 point."""

    longitude: float
    latitude: float
    max_distance_m: float
    min_distance_m: float = 0.0

    def bbox(self) -> tuple[float, float, float, float]:
        """A box that contains the whole circle (the index prefilter must never drop a match).

        The circle reaches furthest east and west slightly poleward of its centre, by
        asin(sin(d) / cos(lat)), a little more than d / cos(lat); a circle around a pole spans
        every longitude, and so does a box across the antimeridian (boxes do not wrap). A hair
        of margin absorbs float rounding.
        """
        delta = self.max_distance_m / _EARTH_RADIUS_M
        dlat = math.degrees(delta) + 1e-9
        coslat = math.cos(math.radians(self.latitude))
        if delta >= math.pi / 2 or coslat <= math.sin(delta):
            dlon = 180.0
        else:
            dlon = min(180.0, math.degrees(math.asin(math.sin(delta) / coslat)) + 1e-9)
        west, east = self.longitude - dlon, self.longitude + dlon
        if west < -180.0 or east > 180.0:
            west, east = -180.0, 180.0  # across the antimeridian (or a pole): every longitude
        return (west, max(-90.0, self.latitude - dlat), east, min(90.0, self.latitude + dlat))

    def matches_geometry(self, geometry: Mapping[str, Any]) -> bool:
        try:
            lon, lat = _nearest_lon_lat(geometry, self.longitude, self.latitude)
        except (ValueError, TypeError, KeyError, IndexError, ShapelyError):
            return False  # a geometry nobody can measure is near nothing
        d = haversine_m(self.longitude, self.latitude, lon, lat)
        return self.min_distance_m <= d <= self.max_distance_m


@dataclass(frozen=True)
class Within:
    """Inside (or on the boundary of) a GeoJSON Polygon or MultiPolygon.

    A polygon that is not valid (a ring crossing itself, as hand-drawn areas often do) is
    repaired, not refused: the area is every region its rings enclose (shapely's
    ``make_valid``, as PostGIS's ``ST_MakeValid``), which is what the caller drew. One that
    encloses no area at all (all its points on a line) is refused."""

    geometry: Mapping[str, Any]

    def __post_init__(self) -> None:
        try:
            shp = shape(self.geometry)
        except Exception as exc:  # shapely raises several types for bad GeoJSON
            raise BadRequest(f"invalid geometry: {exc}") from None
        if shp.geom_type not in ("Polygon", "MultiPolygon"):
            raise BadRequest("within needs a Polygon or MultiPolygon")
        if not shp.is_valid:
            shp = _polygonal(make_valid(shp))
            if shp is None:
                raise BadRequest("within: the polygon encloses no area")
        object.__setattr__(self, "_shape", shp)
        object.__setattr__(self, "_prepared", prep(shp))

    def bbox(self) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self._shape.bounds  # type: ignore[attr-defined]
        return (minx, miny, maxx, maxy)

    def matches_geometry(self, geometry: Mapping[str, Any]) -> bool:
        try:
            target = shape(geometry)
        except Exception:
            return False
        return bool(self._prepared.covers(target))  # type: ignore[attr-defined]


def _polygonal(geometry: Any) -> Any:
    """The polygons of a repaired geometry (lines and points a repair leaves go), or None."""
    parts = [g for g in getattr(geometry, "geoms", [geometry])
             if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else unary_union(parts)


@dataclass(frozen=True)
class ShapeRelation:
    """``contains``, ``intersects``, ``equals``, ``disjoint``, ``overlaps`` (and ``within`` of a
    non-polygon) between the entity's geometry and the query geometry."""

    relation: str
    geometry: Mapping[str, Any]

    def bbox(self) -> tuple[float, float, float, float] | None:
        if self.relation == "disjoint":
            return None
        minx, miny, maxx, maxy = shape(self.geometry).bounds
        return (minx, miny, maxx, maxy)

    def matches_geometry(self, geometry: Mapping[str, Any]) -> bool:
        try:
            target = shape(geometry)
            query = shape(self.geometry)
        except Exception:
            return False
        if self.relation == "equals":
            return bool(target.equals(query))
        return bool(getattr(target, self.relation if self.relation != "contains" else
                            "contains")(query))


@dataclass(frozen=True)
class FarFrom:
    """``near;minDistance==d`` alone: at least ``d`` metres away (no bbox to narrow a scan)."""

    longitude: float
    latitude: float
    min_distance_m: float

    def bbox(self) -> None:
        return None

    def matches_geometry(self, geometry: Mapping[str, Any]) -> bool:
        return Near(self.longitude, self.latitude, math.inf, self.min_distance_m
                    ).matches_geometry(geometry)


Geo = Near | Within


def geo_matches(entity: Mapping[str, Any], geo: Any, geoproperty: str) -> bool:
    geometry = entity_geometry(entity, geoproperty)
    if geometry is None:
        return False
    try:
        return bool(geo.matches_geometry(geometry))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ShapelyError):
        # A stored geometry that shapely cannot read (an empty GeometryCollection, data from
        # before positions were checked, or from a peer) matches nothing, rather than
        # failing the whole query.
        return False


def entity_geometry(entity: Mapping[str, Any], geoproperty: str = "location"
                    ) -> Mapping[str, Any] | None:
    """The GeoJSON geometry of an entity's GeoProperty, or None."""
    prop = entity.get(geoproperty)
    if isinstance(prop, list):
        prop = prop[0] if prop else None
    value = prop.get("value") if isinstance(prop, Mapping) else None
    return value if isinstance(value, Mapping) and "type" in value else None


def geometry_bbox(geometry: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """Bounding box of a GeoJSON geometry, or None if it has no usable coordinates."""
    if geometry.get("type") == "Point":
        coords = geometry.get("coordinates")
        if (isinstance(coords, list | tuple) and len(coords) >= 2
                and all(isinstance(c, int | float) for c in coords[:2])):
            return (float(coords[0]), float(coords[1]), float(coords[0]), float(coords[1]))
        return None
    try:
        minx, miny, maxx, maxy = shape(geometry).bounds
    except Exception:
        return None
    return (minx, miny, maxx, maxy)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _nearest_lon_lat(geometry: Mapping[str, Any], lon: float, lat: float) -> tuple[float, float]:
    if geometry.get("type") == "Point":
        c = geometry["coordinates"]
        return float(c[0]), float(c[1])
    from shapely.ops import nearest_points

    nearest = nearest_points(shape(geometry), Point(lon, lat))[0]
    return nearest.x, nearest.y
