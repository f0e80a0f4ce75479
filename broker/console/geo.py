"""GeoJSON for the console's maps: entity locations and agreement areas as features whose
``label`` the map shows as text (console-map.js)."""

from __future__ import annotations

from typing import Any

import orjson

from trust.agreement_model import Agreement

from .markup import Markup, el

MAX_FEATURES = 2000


def entity_feature(entity_id: str, name: str, doc: bytes) -> dict[str, Any] | None:
    """A Point (or other geometry) feature from an entity's ``location``, if it has one."""
    try:
        entity = orjson.loads(doc)
    except orjson.JSONDecodeError:
        return None
    location = entity.get("location") if isinstance(entity, dict) else None
    geometry = location.get("value") if isinstance(location, dict) else None
    if not isinstance(geometry, dict) or geometry.get("type") not in (
            "Point", "Polygon", "MultiPolygon", "LineString"):
        return None
    label = f"{entity_id} {name}".strip()
    return {"type": "Feature", "geometry": geometry, "properties": {"label": label}}


def area_feature(agreement: Agreement) -> dict[str, Any] | None:
    """The agreed area: its GeoJSON polygon, or the rectangle of a bounding box."""
    area = agreement.area
    if area is None:
        return None
    document = area.document
    if isinstance(document, dict) and document.get("type") in ("Polygon", "MultiPolygon"):
        geometry = document
    else:
        west, south, east, north = area.bounds
        geometry = {"type": "Polygon", "coordinates": [[[west, south], [east, south],
                                                        [east, north], [west, north],
                                                        [west, south]]]}
    label = f"{agreement.id}: {agreement.provider} → {agreement.consumer}"
    return {"type": "Feature", "geometry": geometry, "properties": {"label": label}}


def map_div(features: list[dict[str, Any]], map_id: str) -> Markup:
    """The element console-map.js draws (the GeoJSON is an escaped attribute, not a script)."""
    collection = {"type": "FeatureCollection", "features": features[:MAX_FEATURES]}
    return el("div", class_="map", id=map_id, data_features=orjson.dumps(collection).decode())
