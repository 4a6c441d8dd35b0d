"""Build geo_db/world-110m.json, the world outline the report's map draws.

Source: Natural Earth 1:110m land and 1:50m countries (public domain, naturalearthdata.com), as
TopoJSON in the ``world-atlas`` npm package 2.x (ISC licence for the packaging):

    npm pack world-atlas@2 && tar xzf world-atlas-2.*.tgz
    pip install pycountry   # ISO 3166 numeric to alpha-2, for this script only
    python geo_db/make_world.py package/land-110m.json package/countries-50m.json > geo_db/world-110m.json

The output is plain rings of [longitude, latitude] rounded to 0.1 degree: small (< 80 KB), read
without a TopoJSON library, and drawn at any size with an equirectangular projection; and one
point per country (ISO alpha-2), inside its largest polygon, where the map marks a destination
whose source names only the country.  The 1:50m countries include the small ones that host data
centres (Singapore, Luxembourg, Malta, Hong Kong, Bahrain) that 1:110m leaves out.
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


def ring_points(ring: list[int], arcs: list[list[tuple[float, float]]], digits: int = 1) -> list[list[float]]:
    """A ring is a list of arc indexes; a negative index (~i) is arc i reversed."""
    points: list[list[float]] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        for lon, lat in arc[1:] if points else arc:
            point = [round(lon, digits), round(lat, digits)]
            if not points or points[-1] != point:
                points.append(point)
    return points


def _area_and_centroid(ring: list[list[float]]) -> tuple[float, float, float]:
    """The shoelace formula: signed area and centroid of a ring, in plane degrees."""
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    area /= 2
    if area == 0:
        return 0.0, ring[0][0], ring[0][1]
    return area, cx / (6 * area), cy / (6 * area)


def _inside(x: float, y: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def country_point(rings: list[list[list[float]]]) -> list[float]:
    """A point inside the largest outer ring: its centroid, or for a crescent-shaped country the
    grid point inside it farthest from its vertices."""
    ring = max(rings, key=lambda r: abs(_area_and_centroid(r)[0]))
    _, x, y = _area_and_centroid(ring)
    if not _inside(x, y, ring):
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        steps = 40
        candidates = [(min(xs) + (max(xs) - min(xs)) * i / steps, min(ys) + (max(ys) - min(ys)) * j / steps)
                      for i in range(1, steps) for j in range(1, steps)]
        candidates = [c for c in candidates if _inside(*c, ring)] or [(ring[0][0], ring[0][1])]
        x, y = max(candidates, key=lambda c: min((c[0] - px) ** 2 + (c[1] - py) ** 2 for px, py in ring))
    return [round(x, 1), round(y, 1)]


def country_points(path: str) -> dict[str, list[float]]:
    import pycountry

    with open(path, encoding="utf-8") as handle:
        topology = json.load(handle)
    arcs = decode_arcs(topology)
    outer: dict[str, list[list[list[float]]]] = {}  # Ashmore and Cartier Is. share Australia's code
    for geometry in topology["objects"]["countries"]["geometries"]:
        country = pycountry.countries.get(numeric=geometry.get("id", ""))
        if country is None or geometry["type"] not in ("Polygon", "MultiPolygon"):
            continue  # disputed areas without an ISO code
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        rings = [ring_points(polygon[0], arcs, digits=4) for polygon in polygons]  # small islands kept
        outer.setdefault(country.alpha_2, []).extend(r for r in rings if len(r) >= 3)
    return {code: country_point(rings) for code, rings in sorted(outer.items())}


def main(path: str, countries: str | None = None) -> None:
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
    out = {"source": "Natural Earth 1:110m land and 1:50m countries (public domain), via world-atlas 2.x",
           "rings": rings}
    if countries:
        out["countries"] = country_points(countries)
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
