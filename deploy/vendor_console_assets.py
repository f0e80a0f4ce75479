"""Vendor the console's map assets into broker/console/static/ (run by hand; the results are
committed, so that `make demo` needs Python only and no page fetches anything at run time).

    python deploy/vendor_console_assets.py

It packs two npm packages with the ordinary npm client: ``leaflet`` (BSD-2-Clause: the map
library, its stylesheet and licence) and ``world-atlas`` (ISC; Natural Earth 1:50m data,
public domain), from which it keeps Japan's outline, decoded from TopoJSON into GeoJSON with
coordinates rounded to 0.001 degree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

LEAFLET, WORLD_ATLAS = "leaflet@1.9.4", "world-atlas@2.0.2"
JAPAN = "392"  # ISO 3166-1 numeric
STATIC = Path(__file__).resolve().parents[1] / "broker" / "console" / "static"


def _unpack(work: Path, spec: str) -> Path:
    name = subprocess.run(["npm", "pack", spec, "--silent"], cwd=work, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    target = work / spec.split("@")[0]
    with tarfile.open(work / name) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def japan_geojson(topology: dict[str, Any]) -> dict[str, Any]:
    """Japan's polygons from a world-atlas countries topology."""
    scale, translate = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append([round(x * scale[0] + translate[0], 3),
                           round(y * scale[1] + translate[1], 3)])
        arcs.append(points)

    def ring(indexes: list[int]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in indexes:
            points = arcs[i] if i >= 0 else arcs[~i][::-1]
            out.extend(points if not out else points[1:])
        return out

    geometry = next(g for g in topology["objects"]["countries"]["geometries"]
                    if g.get("id") == JAPAN)
    polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
    return {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "Japan", "source": "Natural Earth 1:50m"},
        "geometry": {"type": "MultiPolygon",
                     "coordinates": [[ring(r) for r in polygon] for polygon in polygons]}}]}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        leaflet = _unpack(work, LEAFLET)
        atlas = _unpack(work, WORLD_ATLAS)
        out = STATIC / "leaflet"
        out.mkdir(parents=True, exist_ok=True)
        for name in ("leaflet.js", "leaflet.css"):
            shutil.copy(leaflet / "dist" / name, out / name)
        shutil.copy(leaflet / "LICENSE", out / "LICENSE")
        topology = json.loads((atlas / "countries-50m.json").read_text(encoding="utf-8"))
        (STATIC / "japan.geojson").write_text(
            json.dumps(japan_geojson(topology), separators=(",", ":")), encoding="utf-8")
        shutil.copy(atlas / "LICENSE", STATIC / "WORLD-ATLAS-LICENSE")
    print(f"vendored {LEAFLET} and Japan's outline from {WORLD_ATLAS} into {STATIC}")


if __name__ == "__main__":
    main()
