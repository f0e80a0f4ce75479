"""Geography: latitude/longitude columns and GeoJSON values to GeoJSON Points, range-checked."""

from __future__ import annotations

import unicodedata
from typing import Any

import orjson

from mappings.errors import RecordError
from mappings.transforms.base import Args, BuildContext, Built, Param, TransformSpec, one_of


def _bbox(value: Any) -> tuple[float, float, float, float]:
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise ValueError("expected [min_lon, min_lat, max_lon, max_lat]")
    lo_lon, lo_lat, hi_lon, hi_lat = (float(v) for v in value)
    if not (-180 <= lo_lon < hi_lon <= 180 and -90 <= lo_lat < hi_lat <= 90):
        raise ValueError("expected [min_lon, min_lat, max_lon, max_lat] within the globe")
    return lo_lon, lo_lat, hi_lon, hi_lat


def _coordinate(value: Any, what: str, part: int) -> float:
    if value.__class__ is str and value.isascii():
        try:
            n = float(value)
        except ValueError:
            raise RecordError("coordinate_unparseable", f"{what} {value!r} is not a number",
                              part=part) from None
        if n - n == 0.0:  # finite (nan - nan and inf - inf are nan)
            return n
        raise RecordError("coordinate_unparseable", f"{what} {value!r} is not finite", part=part)
    if isinstance(value, bool):
        raise RecordError("coordinate_unparseable", f"{what} {value!r} is not a number",
                          part=part)
    if isinstance(value, int | float):
        n = float(value)
    else:
        text = value.strip()
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text).strip()
        try:
            n = float(text)
        except ValueError:
            raise RecordError("coordinate_unparseable", f"{what} {value!r} is not a number",
                              part=part) from None
    if n != n or n in (float("inf"), float("-inf")):
        raise RecordError("coordinate_unparseable", f"{what} {value!r} is not finite", part=part)
    return n


def check_point(lon: float, lat: float, bbox: tuple[float, float, float, float] | None,
                parts: tuple[int, int] = (1, 0)) -> None:
    """Raise the quarantine code for a longitude/latitude pair out of range or out of bbox."""
    if not -90.0 <= lat <= 90.0:
        raise RecordError("latitude_out_of_range", f"latitude {lat} is outside [-90, 90]",
                          part=parts[1])
    if not -180.0 <= lon <= 180.0:
        raise RecordError("longitude_out_of_range", f"longitude {lon} is outside [-180, 180]",
                          part=parts[0])
    if bbox is not None:
        lo_lon, lo_lat, hi_lon, hi_lat = bbox
        if not lo_lat <= lat <= hi_lat:
            raise RecordError("latitude_out_of_range",
                              f"latitude {lat} is outside the rule's area [{lo_lat}, {hi_lat}]",
                              part=parts[1])
        if not lo_lon <= lon <= hi_lon:
            raise RecordError("longitude_out_of_range",
                              f"longitude {lon} is outside the rule's area [{lo_lon}, {hi_lon}]",
                              part=parts[0])


def _build_geo_point(args: Args, ctx: BuildContext) -> Built:
    lat_first = args["order"] == "lat_lon"
    bbox = args["within"]
    i_lat, i_lon = (0, 1) if lat_first else (1, 0)

    lo_lon, lo_lat, hi_lon, hi_lat = bbox or (-180.0, -90.0, 180.0, 90.0)

    def forward(value: Any) -> Any:
        if value is None:
            return None
        lat_raw, lon_raw = value[i_lat], value[i_lon]
        if lat_raw.__class__ is str and lon_raw.__class__ is str:
            # Fast path: two plain decimal texts inside the area.
            try:
                lat, lon = float(lat_raw), float(lon_raw)
            except ValueError:
                pass
            else:
                if lo_lat <= lat <= hi_lat and lo_lon <= lon <= hi_lon:
                    return {"type": "Point", "coordinates": [lon, lat]}
        if lat_raw is None and lon_raw is None:
            return None
        if lat_raw is None:
            raise RecordError("missing_required", "latitude is missing", part=i_lat)
        if lon_raw is None:
            raise RecordError("missing_required", "longitude is missing", part=i_lon)
        lat = _coordinate(lat_raw, "latitude", i_lat)
        lon = _coordinate(lon_raw, "longitude", i_lon)
        check_point(lon, lat, bbox, (i_lon, i_lat))
        return {"type": "Point", "coordinates": [lon, lat]}

    def forward2(first: Any, second: Any) -> Any:
        # The same for two separate values (no tuple): what a two-column builder calls.
        if first.__class__ is str and second.__class__ is str:
            try:
                lat, lon = (float(first), float(second)) if lat_first else \
                    (float(second), float(first))
            except ValueError:
                pass
            else:
                if lo_lat <= lat <= hi_lat and lo_lon <= lon <= hi_lon:
                    return {"type": "Point", "coordinates": [lon, lat]}
        return forward((first, second))

    def reverse(value: Any) -> Any:
        if value is None:
            return None
        lon, lat = value["coordinates"][:2]
        out = [repr(float(lat)), repr(float(lon))]
        return tuple(out) if lat_first else tuple(reversed(out))

    forward.two = forward2  # type: ignore[attr-defined]
    return forward, reverse


def _build_geojson(args: Args, ctx: BuildContext) -> Built:
    bbox = args["within"]

    def forward(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise RecordError("geometry_invalid", "not GeoJSON text") from None
        if not isinstance(value, dict) or value.get("type") != "Point":
            raise RecordError("geometry_invalid", f"expected a GeoJSON Point, got {value!r}")
        coords = value.get("coordinates")
        if not isinstance(coords, list) or len(coords) not in (2, 3):
            raise RecordError("geometry_invalid", f"bad Point coordinates {coords!r}")
        lon = _coordinate(coords[0], "longitude", 0)
        lat = _coordinate(coords[1], "latitude", 0)
        check_point(lon, lat, bbox, (0, 0))
        return {"type": "Point", "coordinates": [lon, lat, *coords[2:]]}

    def reverse(value: Any) -> Any:
        return value

    return forward, reverse


_WITHIN = Param("within", _bbox, doc="[min_lon, min_lat, max_lon, max_lat] the point must be in")

SPECS = (
    TransformSpec(
        "geo_point", "Two columns (latitude, longitude) → GeoJSON Point [lon, lat]; "
        "range-checked (and `within` a bbox if given).", "normalizes",
        "(repr(float(lat)), repr(float(lon)))", _build_geo_point,
        (Param("order", one_of("lat_lon", "lon_lat"), default="lat_lon"), _WITHIN),
        example="('37.04826', '136.96136') → {type: Point, coordinates: [136.96136, 37.04826]}"),
    TransformSpec(
        "geojson", "A GeoJSON Point (object or JSON text, e.g. NGSIv2 geo:json) → the same Point, "
        "range-checked.", "lossless", "x", _build_geojson, (_WITHIN,),
        example="{type: Point, coordinates: [136.9, 37.1]}"),
)
