"""Build geo_db/world-110m.json, the world outline the report's map draws.

Source: Natural Earth 1:110m land (public domain, naturalearthdata.com), as TopoJSON in the
``world-atlas`` npm package 2.x (``land-110m.json``, ISC licence for the packaging):

    npm pack world-atlas@2 && tar xzf world-atlas-2.*.tgz
    python geo_db/make_world.py package/land-110m.json > geo_db/world-110m.json

The output is plain rings of [longitude, latitude] rounded to 0.1 degree: small (< 80 KB), read
without a TopoJSON library, and drawn at any size with an equirectangular projection.
"""

from __future__ import annotations

import json
import sys


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """TopoJSON arcs are delta-encoded integers under a transform: back to degrees."""
    (scale_x, scale_y), (shift_x, shift_y) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * scale_x + shift_x, y * scale_y + shift_y))
        arcs.append(points)
    return arcs


def ring_points(ring: list[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]]:
    """A ring is a list of arc indexes; a negative index (~i) is arc i reversed."""
    points: list[list[float]] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        for lon, lat in arc[1:] if points else arc:
            point = [round(lon, 1), round(lat, 1)]
            if not points or points[-1] != point:
                points.append(point)
    return points


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        topology = json.load(handle)
    arcs = decode_arcs(topology)
    rings = []
    for obj in topology["objects"].values():
        geometries = obj.get("geometries", [obj])
        for geometry in geometries:
            polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
            for polygon in polygons:
                for ring in polygon:
                    points = ring_points(ring, arcs)
                    if len(points) >= 4:
                        rings.append(points)
    out = {"source": "Natural Earth 1:110m land (public domain), via world-atlas 2.x land-110m.json",
           "rings": rings}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
