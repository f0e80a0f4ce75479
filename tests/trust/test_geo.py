"""Areas: exact point tests through the grid fast path, batches, validation, request filters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from trust.errors import GeometryError
from trust.geo import Area, Near, Within

RING = [[136.9 + 0.1 * math.cos(t * math.pi / 20), 37.0 + 0.08 * math.sin(t * math.pi / 20)]
        for t in range(40)]
RING.append(RING[0])
CIRCLE = Area({"type": "Polygon", "coordinates": [RING]})
HOLED = Area({"type": "Polygon", "coordinates": [
    [[136.0, 36.0], [138.0, 36.0], [138.0, 38.0], [136.0, 38.0], [136.0, 36.0]],
    [[136.5, 36.5], [137.5, 36.5], [137.5, 37.5], [136.5, 37.5], [136.5, 36.5]]]})
TWO = Area({"type": "MultiPolygon", "coordinates": [
    [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]],
    [[[2.0, 0.0], [3.0, 0.0], [3.0, 1.0], [2.0, 0.0]]]]})


def test_bbox_includes_its_boundary() -> None:
    box = Area([136.8, 36.9, 137.1, 37.2])
    assert box.is_box and box.bounds == (136.8, 36.9, 137.1, 37.2)
    assert box.contains_point(136.8, 37.2) and box.contains_point(137.0, 37.0)
    assert not box.contains_point(137.11, 37.0)


@pytest.mark.parametrize("area", [CIRCLE, HOLED, TWO], ids=["circle", "holed", "multi"])
@given(data=st.data())
def test_grid_fast_path_agrees_with_exact_geometry(area: Area, data: st.DataObject) -> None:
    minx, miny, maxx, maxy = area.bounds
    pad = 0.1 * (maxx - minx)
    lon = data.draw(st.floats(minx - pad, maxx + pad))
    lat = data.draw(st.floats(miny - pad, maxy + pad))
    assert area.contains_point(lon, lat) == bool(shapely.intersects_xy(area.geometry, lon, lat))


@pytest.mark.parametrize("area", [CIRCLE, HOLED, TWO], ids=["circle", "holed", "multi"])
def test_vertices_and_edges_count_as_inside(area: Area) -> None:
    for x, y in shapely.get_coordinates(area.geometry.boundary):
        assert area.contains_point(float(x), float(y))


def test_hole_is_outside() -> None:
    assert not HOLED.contains_point(137.0, 37.0)
    assert HOLED.contains_point(136.2, 37.0)


def test_batch_agrees_with_single_points() -> None:
    rng = np.random.default_rng(7)
    lons, lats = rng.uniform(136.7, 137.1, 2000), rng.uniform(36.9, 37.1, 2000)
    batch = CIRCLE.contains_points(lons, lats)
    single = [CIRCLE.contains_point(x, y) for x, y in zip(lons, lats, strict=True)]
    assert batch.tolist() == single
    assert 0 < sum(single) < 2000


@pytest.mark.parametrize("document, message", [
    ([137.1, 36.9, 136.8, 37.2], "west < east"),
    ([136.8, 36.9, 137.1], "bbox"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "closed"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "four positions"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]}, "lon in"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [float("nan"), 0], [1, 1], [0, 0]]]},
     "finite"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "valid"),
    ({"type": "Point", "coordinates": [0, 0]}, "Polygon"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]], "crs": "x"},
     "GeoJSON"),
])
def test_invalid_areas_are_refused(document: object, message: str) -> None:
    with pytest.raises(GeometryError, match=message) as caught:
        Area(document)
    assert caught.value.code == "invalid_area"


def test_vertex_limit() -> None:
    ring = [[math.cos(t / 20000), math.sin(t / 20000)] for t in range(100_001)]
    ring.append(ring[0])
    with pytest.raises(GeometryError, match="vertices"):
        Area({"type": "Polygon", "coordinates": [ring]})


def test_area_keeps_a_private_copy_of_its_document() -> None:
    document = [136.8, 36.9, 137.1, 37.2]
    area = Area(document)
    document[0] = 0.0
    assert area.to_document() == [136.8, 36.9, 137.1, 37.2]


def test_request_filters_overlap_or_not() -> None:
    assert Near(136.9, 37.0, 10).overlaps(CIRCLE)
    assert Near(137.01, 37.0, 2000).overlaps(CIRCLE)  # centre outside, circle reaches in
    assert not Near(137.05, 37.0, 2000).overlaps(CIRCLE)
    assert Within(Area([136.0, 36.0, 137.0, 37.0])).overlaps(CIRCLE)
    assert not Within(Area([130.0, 30.0, 131.0, 31.0])).overlaps(CIRCLE)
    with pytest.raises(GeometryError) as caught:
        Near(0, 0, 0)
    assert caught.value.code == "invalid_filter"
