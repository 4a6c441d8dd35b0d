"""The map: the capture site, each judged destination's place coloured by its verdict, a line
from the site to each.  Places no source pins down (anycast, a country alone, unknown) are
listed beside the map, never drawn at a made-up spot.  Equirectangular; the outline is Natural
Earth 110m land (geo_db/world-110m.json, see geo_db/make_world.py)."""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

from tracecheck.report.figures.svg import VERDICT_COLOUR, VERDICT_ORDER, num, text, worst
from tracecheck.resources import geo_db_dir

WIDTH = 1000.0
TOP_LAT, BOTTOM_LAT = 84.0, -58.0  # Antarctica and the Arctic ocean carry no data centres
HEIGHT = round(WIDTH * (TOP_LAT - BOTTOM_LAT) / 360.0, 1)
PANEL = 300.0  # the list beside the map
MAX_LISTED = 18


@cache
def _land_path() -> str:
    with open(geo_db_dir() / "world-110m.json", encoding="utf-8") as handle:
        rings = json.load(handle)["rings"]
    parts = []
    for ring in rings:
        if max(lat for _, lat in ring) < BOTTOM_LAT:
            continue  # Antarctica, below the map
        # A ring that crosses the antimeridian is lifted there rather than struck across the map.
        path, previous = [], None
        for lon, lat in ring:
            x, y = _project(lat, lon)
            jump = previous is None or abs(lon - previous) > 180
            path.append(("M" if jump else "L") + f"{num(x)},{num(y)}")
            previous = lon
        parts.append("".join(path) + "Z")
    return "".join(parts)


def _project(lat: float, lon: float) -> tuple[float, float]:
    lat = min(max(lat, BOTTOM_LAT), TOP_LAT)
    x = (lon + 180.0) / 360.0 * WIDTH
    y = (TOP_LAT - lat) / (TOP_LAT - BOTTOM_LAT) * HEIGHT
    return x, y


def _placed(item: dict[str, Any]) -> bool:
    lat, lon = item.get("latitude"), item.get("longitude")
    return (isinstance(lat, (int, float)) and isinstance(lon, (int, float))
            and math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180)


def _label(destination: dict[str, Any]) -> str:
    names = destination.get("names") or []
    return names[0]["name"] if names else destination["ip"]


def _why_unplaced(destination: dict[str, Any]) -> str:
    if "anycast" in destination.get("flags", []) or destination.get("anycast"):
        return "anycast"
    if destination.get("country"):
        return f"{destination['country']}, no city"
    return "place unknown"


def world_map_svg(data: dict[str, Any]) -> str:
    """The map as one inline ``<svg>`` string (``data`` is report.json's dict)."""
    judged = [d for d in data.get("destinations", [])
              if d.get("verdict") != "not_assessed" and d.get("basis") != "local"]
    places: dict[tuple[str, str], list[dict[str, Any]]] = {}
    unplaced = []
    for destination in judged:
        if _placed(destination) and not destination.get("anycast"):
            x, y = _project(destination["latitude"], destination["longitude"])
            places.setdefault((num(x), num(y)), []).append(destination)
        else:
            unplaced.append(destination)

    site = data.get("site")
    site_xy = _project(site["latitude"], site["longitude"]) if site and _placed(site) else None
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="figure map" role="img" '
           f'viewBox="0 0 {num(WIDTH + PANEL)} {num(HEIGHT)}" width="100%" '
           f'aria-label="Map of where the judged destinations are">',
           '<rect width="100%" height="100%" fill="#f6f8fa"/>',
           f'<path d="{_land_path()}" fill="#d8dee4" stroke="#afb8c1" stroke-width="0.4"/>']
    # Lines first, markers over them; the worst verdict drawn last so it stays visible.
    ordered = sorted(places.items(), key=lambda kv: (-VERDICT_ORDER.index(worst([d["verdict"] for d in kv[1]])), kv[0]))
    if site_xy:
        for (x, y), group in ordered:
            colour = VERDICT_COLOUR[worst([d["verdict"] for d in group])]
            out.append(f'<line x1="{num(site_xy[0])}" y1="{num(site_xy[1])}" x2="{x}" y2="{y}" '
                       f'stroke="{colour}" stroke-width="1" stroke-opacity="0.6"/>')
    for (x, y), group in ordered:
        verdict = worst([d["verdict"] for d in group])
        title = "; ".join(f"{_label(d)} ({d['ip']}): {d['verdict']}" for d in group[:10])
        if len(group) > 10:
            title += f"; and {len(group) - 10} more"
        radius = 4 + min(len(group), 6)
        out.append(f'<circle class="place {verdict}" cx="{x}" cy="{y}" r="{radius}" fill="{VERDICT_COLOUR[verdict]}" '
                   f'stroke="#fff" stroke-width="1.5"><title>{text(title, 600)}</title></circle>')
        if len(group) > 1:
            out.append(f'<text x="{x}" y="{num(float(y) + 3.5)}" text-anchor="middle" font-size="10" '
                       f'fill="#fff" font-weight="bold">{len(group)}</text>')
    if site_xy:
        x, y = num(site_xy[0]), num(site_xy[1])
        out.append(f'<rect class="site" x="{num(site_xy[0] - 6)}" y="{num(site_xy[1] - 6)}" width="12" height="12" '
                   f'fill="#0969da" stroke="#fff" stroke-width="1.5"><title>capture site: {text(site["label"])}</title></rect>')
    out.extend(_panel(site, places, unplaced))
    out.append("</svg>")
    return "\n".join(out)


def _panel(site: dict[str, Any] | None, places: dict, unplaced: list[dict[str, Any]]) -> list[str]:
    """The legend and the destinations the map cannot place, beside it (never over the site)."""
    left = WIDTH + 14
    lines: list[tuple[str, str]] = []  # (colour, text)
    lines.append(("#0969da", "■ capture site: " + (site["label"] if site else "not given (--site)")))
    for verdict in VERDICT_ORDER[:3]:
        lines.append((VERDICT_COLOUR[verdict], f"● {verdict}"))
    lines.append(("#1f2328", f"{sum(len(g) for g in places.values())} placed on the map"))
    lines.append(("#1f2328", ""))
    if unplaced:
        lines.append(("#1f2328", f"Not on the map ({len(unplaced)}):"))
    elif places:
        lines.append(("#1f2328", "Every judged destination is on the map."))
    else:
        lines.append(("#1f2328", "No destination was judged."))
    for destination in unplaced[:MAX_LISTED]:
        lines.append((VERDICT_COLOUR[destination["verdict"]],
                      f"● {_label(destination)} — {_why_unplaced(destination)}"))
    if len(unplaced) > MAX_LISTED:
        lines.append(("#1f2328", f"and {len(unplaced) - MAX_LISTED} more (see the table)"))
    out = [f'<rect x="{num(WIDTH)}" y="0" width="{num(PANEL)}" height="{num(HEIGHT)}" fill="#fff"/>']
    for index, (colour, line) in enumerate(lines):
        out.append(f'<text x="{num(left)}" y="{num(22 + index * 18)}" font-size="12" fill="{colour}" '
                   f'font-family="system-ui, sans-serif">{text(line, 44)}</text>')
    return out
