"""Agreed areas and geographic request filters, built for per-entity speed.

An :class:`Area` is a GeoJSON Polygon or MultiPolygon, or a bbox ``[west, south, east, north]``
(lon/lat, WGS 84). Points on the boundary count as inside.

``contains_point`` must keep up with a stream of ≥200k entities/s, and a single shapely call
costs a few microseconds, so polygons are rasterised once, at construction, into a grid of
cells classified *inside*, *outside* or *boundary* (using exact shapely predicates on the
closed cells). A point in an inside or outside cell is decided by one table lookup; only
points in boundary cells pay for an exact shapely test. Bboxes are four comparisons.
``contains_points`` is the vectorised form for whole batches.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
import shapely.affinity
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from trust.errors import GeometryError

__all__ = ["Area", "GeoFilter", "Near", "Within", "geometry_of"]

_GRID = 64
_OUTSIDE, _INSIDE, _BOUNDARY = 0, 1, 2
MAX_VERTICES = 100_000
_M_PER_DEG_LAT = 111_320.0


def _check_position(pos: Any, code: str = "invalid_area") -> tuple[float, float]:
    if not isinstance(pos, list | tuple) or len(pos) not in (2, 3):
        raise GeometryError(code, "a position must be [lon, lat]")
    lon, lat = pos[0], pos[1]
    for v in (lon, lat):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise GeometryError(code, "coordinates must be finite numbers")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GeometryError(code, "coordinates must be lon in [-180, 180], lat in [-90, 90]")
    return float(lon), float(lat)


def _check_polygon(rings: Any, counter: list[int], code: str) -> None:
    if not isinstance(rings, list) or not rings:
        raise GeometryError(code, "a polygon needs at least one ring")
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            raise GeometryError(code, "a polygon ring needs at least four positions")
        positions = [_check_position(p, code) for p in ring]
        if positions[0] != positions[-1]:
            raise GeometryError(code, "a polygon ring must be closed")
        counter[0] += len(ring)
        if counter[0] > MAX_VERTICES:
            raise GeometryError(code, f"area has more than {MAX_VERTICES} vertices")


def _validated_geometry(document: Any, code: str = "invalid_area") -> tuple[BaseGeometry, bool]:
    """Shapely geometry of an area document, and whether it is a plain bbox.

    ``code`` is the :class:`GeometryError` code raised: ``invalid_area`` for agreed areas,
    ``invalid_geometry`` when the same shapes arrive as entity or filter geometry.
    """
    if isinstance(document, list):
        if len(document) != 4:
            raise GeometryError(code, "a bbox is [west, south, east, north]")
        west, south = _check_position(document[:2], code)
        east, north = _check_position(document[2:], code)
        if not (west < east and south < north):
            raise GeometryError(code, "a bbox needs west < east and south < north")
        return shapely.box(west, south, east, north), True
    if not isinstance(document, Mapping) or set(document) - {"type", "coordinates"}:
        raise GeometryError(code, "an area is a GeoJSON Polygon/MultiPolygon or a bbox list")
    kind, coordinates, counter = document.get("type"), document.get("coordinates"), [0]
    if kind == "Polygon":
        _check_polygon(coordinates, counter, code)
    elif kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise GeometryError(code, "a MultiPolygon needs at least one polygon")
        for polygon in coordinates:
            _check_polygon(polygon, counter, code)
    else:
        raise GeometryError(code, "an area is a GeoJSON Polygon/MultiPolygon or a bbox list")
    geometry = shape(document)
    if not geometry.is_valid or geometry.is_empty:
        raise GeometryError(code, "area geometry is not a valid polygon (self-intersecting?)")
    return geometry, False


@dataclass(frozen=True, eq=False)
class Area:
    """An agreed area. Build with ``Area(document)``; compare by document."""

    document: Any
    geometry: BaseGeometry = field(init=False, repr=False)
    bounds: tuple[float, float, float, float] = field(init=False, repr=False)
    is_box: bool = field(init=False, repr=False)
    _cells: bytes = field(init=False, repr=False)
    _scale: tuple[float, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A private copy: the canonical bytes of an agreement must not change under our feet.
        object.__setattr__(self, "document", copy.deepcopy(self.document))
        geometry, is_box = _validated_geometry(self.document)
        shapely.prepare(geometry)
        minx, miny, maxx, maxy = (float(v) for v in geometry.bounds)
        set_ = object.__setattr__
        set_(self, "geometry", geometry)
        set_(self, "bounds", (minx, miny, maxx, maxy))
        set_(self, "is_box", is_box)
        set_(self, "_scale", (_GRID / (maxx - minx), _GRID / (maxy - miny)))
        set_(self, "_cells", b"" if is_box else self._rasterise())

    def _rasterise(self) -> bytes:
        minx, miny, maxx, maxy = self.bounds
        xs = np.linspace(minx, maxx, _GRID + 1)
        ys = np.linspace(miny, maxy, _GRID + 1)
        grid_x, grid_y = np.meshgrid(np.arange(_GRID), np.arange(_GRID))
        ix, iy = grid_x.ravel(), grid_y.ravel()
        cells = shapely.box(xs[ix], ys[iy], xs[ix + 1], ys[iy + 1])
        state = np.full(_GRID * _GRID, _BOUNDARY, dtype=np.uint8)
        state[shapely.disjoint(cells, self.geometry)] = _OUTSIDE
        state[shapely.covered_by(cells, self.geometry)] = _INSIDE
        # Row-major by (iy, ix) as meshgrid produced it: index = iy * GRID + ix.
        return state.tobytes()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Area) and self.document == other.document

    def __hash__(self) -> int:
        return hash(repr(self.document))

    def contains_point(self, lon: float, lat: float) -> bool:
        """True if (lon, lat) is inside the area or on its boundary."""
        minx, miny, maxx, maxy = self.bounds
        if not (minx <= lon <= maxx and miny <= lat <= maxy):
            return False
        if self.is_box:
            return True
        sx, sy = self._scale
        ix = min(int((lon - minx) * sx), _GRID - 1)
        iy = min(int((lat - miny) * sy), _GRID - 1)
        state = self._cells[iy * _GRID + ix]
        if state != _BOUNDARY:
            return state == _INSIDE
        return bool(shapely.intersects_xy(self.geometry, lon, lat))

    def contains_points(self, lons: Sequence[float], lats: Sequence[float]) -> np.ndarray:
        """Vectorised :meth:`contains_point` for a batch; returns a boolean array."""
        xs = np.asarray(lons, dtype=float)
        ys = np.asarray(lats, dtype=float)
        if self.is_box:
            minx, miny, maxx, maxy = self.bounds
            return (xs >= minx) & (xs <= maxx) & (ys >= miny) & (ys <= maxy)
        return np.asarray(shapely.intersects_xy(self.geometry, xs, ys), dtype=bool)

    def covers(self, geometry: BaseGeometry) -> bool:
        """True if ``geometry`` lies entirely in the area (boundary included)."""
        return bool(self.geometry.covers(geometry))

    def intersects(self, geometry: BaseGeometry) -> bool:
        return bool(self.geometry.intersects(geometry))

    def to_document(self) -> Any:
        return copy.deepcopy(self.document)


def geometry_of(geojson: Any) -> BaseGeometry:
    """A shapely geometry from a GeoJSON geometry (validated coordinates).

    Raises ``GeometryError("invalid_geometry")`` for anything else; this is the one place
    where shapely's own exceptions are translated.
    """
    code = "invalid_geometry"
    if not isinstance(geojson, Mapping) or "type" not in geojson:
        raise GeometryError(code, "not a GeoJSON geometry")
    kind = geojson.get("type")
    if kind == "Point":
        lon, lat = _check_position(geojson.get("coordinates"), code)
        return shapely.Point(lon, lat)
    if kind in ("Polygon", "MultiPolygon"):
        return _validated_geometry({"type": kind, "coordinates": geojson.get("coordinates")},
                                   code)[0]
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, ShapelyError) as exc:
        raise GeometryError(code, "not a GeoJSON geometry") from exc
    if geometry.is_empty:
        raise GeometryError(code, "empty geometry")
    return geometry


@dataclass(frozen=True)
class Near:
    """Request filter: within ``max_distance_m`` metres of (lon, lat)."""

    lon: float
    lat: float
    max_distance_m: float

    def __post_init__(self) -> None:
        _check_position([self.lon, self.lat], "invalid_filter")
        if not 0 < self.max_distance_m <= 1_000_000:
            raise GeometryError("invalid_filter", "max_distance_m must be in (0, 1000 km]")

    def overlaps(self, area: Area) -> bool:
        """False only if the circle lies entirely outside ``area``."""
        dlat = self.max_distance_m / _M_PER_DEG_LAT
        dlon = dlat / max(math.cos(math.radians(self.lat)), 1e-6)
        minx, miny, maxx, maxy = area.bounds
        if (self.lon + dlon < minx or self.lon - dlon > maxx
                or self.lat + dlat < miny or self.lat - dlat > maxy):
            return False
        if area.contains_point(self.lon, self.lat):
            return True
        # An ellipse in degrees approximates the metric circle well at city scale.
        circle = shapely.affinity.scale(shapely.Point(self.lon, self.lat).buffer(1.0, 16),
                                        dlon, dlat)
        return area.intersects(circle)


@dataclass(frozen=True)
class Within:
    """Request filter: inside (or intersecting) a GeoJSON geometry or bbox."""

    area: Area

    def overlaps(self, area: Area) -> bool:
        """False only if the request's geometry lies entirely outside ``area``."""
        a, b = self.area.bounds, area.bounds
        if a[2] < b[0] or a[0] > b[2] or a[3] < b[1] or a[1] > b[3]:
            return False
        return area.intersects(self.area.geometry)


GeoFilter = Near | Within
