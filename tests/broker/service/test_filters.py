"""The geo index prefilter never drops a match: the box around a circle holds all of it."""

from __future__ import annotations

import math

import pytest

from broker.errors import BadRequest
from broker.service.filters import Near, Within, haversine_m


@pytest.mark.parametrize(("lon", "lat", "distance"), [
    (136.9, 37.0, 2000.0), (136.9, 37.0, 300_000.0), (136.9, 70.0, 500_000.0),
    (136.9, 89.5, 100_000.0), (136.9, -45.0, 50_000.0), (179.9, 10.0, 50_000.0)])
def test_the_box_around_a_circle_contains_every_point_of_the_circle(
        lon: float, lat: float, distance: float) -> None:
    near = Near(lon, lat, distance)
    minx, miny, maxx, maxy = near.bbox()
    assert -180.0 <= minx <= maxx <= 180.0 and -90.0 <= miny <= maxy <= 90.0
    # Walk the circle's edge (just inside it) and check each point is in the box.
    for i in range(720):
        bearing = math.radians(i / 2)
        lon2, lat2 = _destination(lon, lat, bearing, distance * 0.999999)
        assert haversine_m(lon, lat, lon2, lat2) <= distance
        lon2 = (lon2 + 180.0) % 360.0 - 180.0
        assert minx <= lon2 <= maxx and miny <= lat2 <= maxy, (i / 2, lon2, lat2, near.bbox())


def _destination(lon: float, lat: float, bearing: float, distance: float
                 ) -> tuple[float, float]:
    r = 6_371_008.8
    d = distance / r
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(p1),
                         math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(l2), math.degrees(p2)


def test_within_a_self_crossing_polygon_covers_what_its_rings_enclose() -> None:
    # A bow tie: the ring crosses itself at (1, 1). Both triangles are the area drawn.
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    within = Within(bow_tie)
    assert within.matches_geometry({"type": "Point", "coordinates": [0.2, 1.0]})  # left
    assert within.matches_geometry({"type": "Point", "coordinates": [1.8, 1.0]})  # right
    assert not within.matches_geometry({"type": "Point", "coordinates": [1.0, 1.8]})  # top
    assert not within.matches_geometry({"type": "Point", "coordinates": [1.0, 0.2]})
    assert within.bbox() == (0.0, 0.0, 2.0, 2.0)
    # A "polygon" whose points are all on one line encloses nothing: refused.
    with pytest.raises(BadRequest):
        Within({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]})
