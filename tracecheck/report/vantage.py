"""The vantage point, worded once for every format: where and how each capture was taken.

Reads report.json's ``inputs[].vantage_point`` (model.VantagePoint).  Every value came from the
capture file and is hostile: the formats escape it as they escape names (HTML autoescape, code
spans in Markdown, plain strings in the PDF); here it is only made visible (``<U+001B>`` for an
escape character, so a terminal cannot be steered) and kept to one line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

LINK_TYPE_NAMES = {0: "BSD loopback", 1: "Ethernet", 101: "raw IP", 108: "OpenBSD loopback",
                   113: "Linux cooked", 127: "802.11 radiotap", 228: "raw IPv4", 229: "raw IPv6",
                   276: "Linux cooked v2"}


def _one_line(value: Any) -> str:
    from tracecheck.report.formats.html import visible

    return " ".join(str(visible(value)).split())


def _utc(ts: float | None) -> str:
    if ts is None:
        return ""
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):  # a file's times are its own to get wrong
        return f"{ts:g} (not a date)"


def link_type(number: int) -> str:
    name = LINK_TYPE_NAMES.get(number)
    return f"{name} ({number})" if name else f"link type {number}"


def vantage_rows(vantage: dict) -> list[tuple[str, str]]:
    """``(label, value)`` pairs of one capture's vantage point, in reading order, empty ones left out."""
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        text = _one_line(value) if value not in (None, "") else ""
        if text:
            rows.append((label, text))

    add("Site", vantage.get("site"))
    add("Note", vantage.get("note"))
    add("Test call", vantage.get("test_call_id"))
    add("Host", " · ".join(p for p in (vantage.get("host", ""), vantage.get("os", ""), vantage.get("hardware", "")) if p))
    for interface in vantage.get("interfaces", []):
        parts = [interface.get("name") or "unnamed interface"]
        if interface.get("description"):
            parts.append(interface["description"])
        parts.append(link_type(interface.get("linktype", -1)))
        parts.append(f"snap length {interface['snaplen']:,}" if interface.get("snaplen") else "no snap length")
        add("Interface", ", ".join(parts))
        add("Capture filter", interface.get("filter") or "none (every packet on the interface)")
    start, stop = _utc(vantage.get("start_ts")), _utc(vantage.get("stop_ts"))
    add("Captured", f"{start or '?'} to {stop or '?'}" if start or stop else "")
    if vantage.get("received") is not None or vantage.get("dropped_by_os") is not None \
            or vantage.get("dropped_by_interface") is not None:
        dropped = (vantage.get("dropped_by_os") or 0) + (vantage.get("dropped_by_interface") or 0)
        received = f"{vantage['received']:,} received, " if vantage.get("received") is not None else ""
        add("Packets", f"{received}{dropped:,} dropped" + (" (a limit of this evidence)" if dropped else ""))
    add("Written by", vantage.get("application"))
    for comment in vantage.get("comments", []):
        add("Comment", comment)
    return rows


def vantage_points(data: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each input that records its vantage point: ``(path, rows)``, from report.json's dict."""
    return [(_one_line(i["path"]), vantage_rows(i["vantage_point"])) for i in data.get("inputs", [])
            if i.get("vantage_point")]


def vantage_lines(report) -> list[str]:
    """One line per capture for the terminal: ``vantage point: site Dublin; note ...; eth0 ...``."""
    from tracecheck.report.model import canonical_dict

    lines = []
    for path, rows in vantage_points(canonical_dict(report)):
        shown = "; ".join(f"{label.lower()} {value}" for label, value in rows if label != "Comment")
        lines.append(f"vantage point of {path}: {shown}")
    return lines
