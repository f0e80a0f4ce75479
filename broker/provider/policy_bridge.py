"""Translation of the broker's query filters into the policy engine's request terms."""

from __future__ import annotations

from trust import geo as trust_geo
from trust.errors import GeometryError

from ..errors import BadRequest
from ..service.filters import Geo, Near, Within


def policy_geo(geo: Geo | None) -> trust_geo.GeoFilter | None:
    """The policy engine's view of a geo filter (it only needs the shape, to test overlap)."""
    if geo is None:
        return None
    try:
        if isinstance(geo, Near):
            return trust_geo.Near(geo.longitude, geo.latitude, max(geo.max_distance_m, 1e-3))
        if isinstance(geo, Within):
            return trust_geo.Within(trust_geo.Area(dict(geo.geometry)))
    except GeometryError as exc:
        raise BadRequest(f"geo filter: {exc.message}") from None
    raise BadRequest("unsupported geo filter")
