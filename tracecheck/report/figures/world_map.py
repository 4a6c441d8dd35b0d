"""The map: the capture site, each judged destination's place coloured by its verdict, a line
from the site to each.  A destination whose sources name only its country is drawn as a ring at
the country's centre, so it reads as "somewhere in this country", not as a city.  Anycast and
unknown places are listed beside the map, never drawn at a made-up spot.  Equirectangular; the
outline is Natural Earth 110m land (geo_db/world-110m.json, see geo_db/make_world.py)."""

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
def _world() -> dict[str, Any]:
    with open(geo_db_dir() / "world-110m.json", encoding="utf-8") as handle:
        return json.load(handle)


@cache
def _land_path() -> str:
    rings = _world()["rings"]
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


def _anycast(destination: dict[str, Any]) -> bool:
    return bool(destination.get("anycast")) or "anycast" in destination.get("flags", [])


def _country_centre(destination: dict[str, Any]) -> tuple[float, float] | None:
    """(lat, lon) of the country a destination's sources name, when that is all they name."""
    point = _world().get("countries", {}).get(str(destination.get("country") or "").upper())
    return (point[1], point[0]) if point else None


def _why_unplaced(destination: dict[str, Any]) -> str:
    if _anycast(destination):
        return "anycast"
    if destination.get("country"):
        return f"{destination['country']}, not on the outline"
    return "place unknown"


def _mark(destination: dict[str, Any], country_only: bool) -> tuple[str, str, bool] | None:
    """Where a placed destination's marker goes (x, y, whether it is a country's centre); None
    when its country is not on the outline."""
    centre = _country_centre(destination) if country_only else (destination["latitude"], destination["longitude"])
    if centre is None:
        return None
    x, y = _project(*centre)
    return num(x), num(y), country_only


_UNSEEN = object()


def _places(destinations: list[dict[str, Any]]
            ) -> tuple[dict[tuple[str, str, bool], list[dict[str, Any]]], list[dict[str, Any]]]:
    """(the judged destinations by where their marker goes (x, y, country only), those the map
    cannot place), each in the destinations' order."""
    places: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    unplaced = []
    marks: dict[tuple, tuple[str, str, bool] | None] = {}  # a few hundred places for 100k destinations
    # One pass over what may be a hundred thousand destinations: the judged ones, _anycast and
    # _placed written out for the common cases (no coordinates; two floats: NaN and infinities
    # fail the ranges).
    for destination in destinations:
        get = destination.get
        if get("verdict") == "not_assessed" or get("basis") == "local":
            continue
        if get("anycast") or "anycast" in get("flags", []):
            unplaced.append(destination)
            continue
        lat, lon = get("latitude"), get("longitude")
        if lat is None or lon is None:
            placed = False
        elif lat.__class__ is float and lon.__class__ is float:
            placed = -90 <= lat <= 90 and -180 <= lon <= 180
        else:
            placed = _placed(destination)
        if placed:
            point = (lat, lon, False)
        else:
            point = (str(get("country") or "").upper(), None, True)
        mark = marks.get(point, _UNSEEN)
        if mark is _UNSEEN:
            mark = marks[point] = _mark(destination, point[2])
        if mark is None:
            unplaced.append(destination)
        else:
            places.setdefault(mark, []).append(destination)
    return places, unplaced


def world_map_svg(data: dict[str, Any]) -> str:
    """The map as one inline ``<svg>`` string (``data`` is report.json's dict)."""
    places, unplaced = _places(data.get("destinations", []))

    site = data.get("site")
    site_xy = _project(site["latitude"], site["longitude"]) if site and _placed(site) else None
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="figure map" role="img" '
           f'viewBox="0 0 {num(WIDTH + PANEL)} {num(HEIGHT)}" width="100%" '
           f'aria-label="Map of where the judged destinations are">',
           '<rect width="100%" height="100%" fill="#f6f8fa"/>',
           f'<path d="{_land_path()}" fill="#d8dee4" stroke="#afb8c1" stroke-width="0.4"/>']
    # Lines first, markers over them; the worst verdict drawn last so it stays visible.
    worst_at = {mark: worst(list({d["verdict"] for d in group})) for mark, group in places.items()}
    ordered = sorted(places.items(), key=lambda kv: (-VERDICT_ORDER.index(worst_at[kv[0]]), kv[0]))
    if site_xy:
        for (x, y, country_only), group in ordered:
            colour = VERDICT_COLOUR[worst_at[x, y, country_only]]
            dashed = ' stroke-dasharray="4 3"' if country_only else ""
            out.append(f'<line x1="{num(site_xy[0])}" y1="{num(site_xy[1])}" x2="{x}" y2="{y}" '
                       f'stroke="{colour}" stroke-width="1" stroke-opacity="0.6"{dashed}/>')
    for (x, y, country_only), group in ordered:
        verdict = worst_at[x, y, country_only]
        where = f"somewhere in {group[0].get('country')}: " if country_only else ""
        title = where + "; ".join(f"{_label(d)} ({d['ip']}): {d['verdict']}" for d in group[:10])
        if len(group) > 10:
            title += f"; and {len(group) - 10} more"
        radius = 4 + min(len(group), 6)
        colour = VERDICT_COLOUR[verdict]
        # A ring for "this country", a filled dot for a city: the two never read alike.
        fill, stroke, width, label = ("#fff", colour, 2.5, colour) if country_only else (colour, "#fff", 1.5, "#fff")
        kind = " country" if country_only else ""
        out.append(f'<circle class="place {verdict}{kind}" cx="{x}" cy="{y}" r="{radius}" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{width}"><title>{text(title, 600)}</title></circle>')
        if len(group) > 1:
            out.append(f'<text x="{x}" y="{num(float(y) + 3.5)}" text-anchor="middle" font-size="10" font-family="system-ui, sans-serif" '
                       f'fill="{label}" font-weight="bold">{len(group)}</text>')
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
    lines.append(("#1f2328", "○ country only (drawn at its centre)"))
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
