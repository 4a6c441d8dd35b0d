"""The timeline: bytes sent over the capture's span, stacked by destination (the top few by bytes,
the rest grouped), with each call's start and end marked.  Times are UTC."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import numpy as np

from tracecheck.report.figures.svg import num, text

WIDTH, HEIGHT = 1000.0, 260.0
LEFT, RIGHT, TOP, BOTTOM = 70.0, 230.0, 16.0, 40.0
BUCKETS = 60
TOP_N = 6
PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#8c959f")
OTHERS = "others"


def _flow_rows(data: Mapping[str, Any], flows: Mapping[str, Sequence]) -> list[tuple[float, float, str, int]]:
    """(ts, duration, destination ip, bytes sent) of every flow to one of the report's destinations."""
    wanted = {d["ip"] for d in data.get("destinations", [])}
    return [(float(ts), max(float(duration or 0.0), 0.0), ip, int(sent or 0))
            for ts, duration, ip, sent in zip(flows.get("ts", []), flows.get("duration", []),
                                               flows.get("id.resp_h", []), flows.get("orig_ip_bytes", []))
            if ip in wanted and ts is not None and math.isfinite(float(ts))]


def _span(rows: list[tuple[float, float, str, int]], buckets: int) -> tuple[float, float, float]:
    start = min(ts for ts, *_ in rows)
    end = max(ts + duration for ts, duration, *_ in rows)
    return start, end, max(end - start, 1e-6) / buckets


def _spread(counts: list[int], ts: float, duration: float, sent: int, start: float, width: float) -> None:
    """Add one flow's bytes to ``counts``, in proportion to the buckets its lifetime overlaps,
    rounded so that they add up to exactly its bytes."""
    buckets = len(counts)
    first = min(int((ts - start) / width), buckets - 1)
    last = min(int((ts + duration - start) / width), buckets - 1)
    if duration <= 0 or first == last:
        counts[first] += sent
        return
    given = 0
    for index in range(first, last + 1):
        overlap_end = min(ts + duration, start + (index + 1) * width) - ts
        share = sent if index == last else int(sent * overlap_end / duration)
        counts[index] += share - given
        given = share


def bucket_bytes(data: Mapping[str, Any], flows: Mapping[str, Sequence], buckets: int = BUCKETS
                 ) -> tuple[float, float, dict[str, list[int]]]:
    """(start, end, {destination ip: bytes sent in each bucket}) for the report's destinations.

    A flow's bytes are spread over the buckets its lifetime overlaps, in proportion, and rounded so
    each flow's buckets add up to exactly its bytes."""
    rows = _flow_rows(data, flows)
    if not rows:
        return 0.0, 0.0, {}
    start, end, width = _span(rows, buckets)
    series: dict[str, list[int]] = {}
    for ts, duration, ip, sent in rows:
        _spread(series.setdefault(ip, [0] * buckets), ts, duration, sent, start, width)
    return start, end, series


def stacked_bytes(data: Mapping[str, Any], flows: Mapping[str, Sequence], top: int = TOP_N, buckets: int = BUCKETS
                  ) -> tuple[float, float, list[str], dict[str, list[int]], tuple[int, list[int]] | None]:
    """(start, end, the ``top`` destinations by bytes sent, their ``bucket_bytes`` series, and how
    many others there are with their series added up, or None): what the figure stacks.

    ``bucket_bytes``'s arithmetic, in arrays: a capture of a hundred thousand destinations is a
    few array passes, and the flows that span buckets are spread all at once (``_spread_all``)."""
    return _stacked(data, flows, top, buckets)[:5]


def _stacked(data: Mapping[str, Any], flows: Mapping[str, Sequence], top: int, buckets: int):
    """``stacked_bytes``, and each address's destination in ``data`` (the last with it)."""
    rows = _flow_arrays(data, flows)
    if rows is None:
        return 0.0, 0.0, [], {}, None, {}
    ts, duration, which, sent, addresses, number = rows
    start, end = float(ts.min()), float((ts + duration).max())
    width = max(end - start, 1e-6) / buckets
    # Flows are counted by their destination's number (a dict, not np.unique: sorting 100k
    # strings in an object array is slow); only destinations with a flow here are ranked.
    sent_to = np.zeros(len(addresses), dtype=np.int64)
    np.add.at(sent_to, which, sent)  # a flow's buckets add up to exactly its bytes
    present = np.flatnonzero(np.bincount(which, minlength=len(addresses))).tolist()
    shown = _top_ranked(sent_to[present], [addresses[i] for i in present], top)
    first = np.minimum(((ts - start) / width).astype(np.int64), buckets - 1)
    last = np.minimum(((ts + duration - start) / width).astype(np.int64), buckets - 1)
    # Each flow's row of ``counts``: its destination's if shown, else the others' (the last row).
    row_of = np.full(len(addresses), len(shown), dtype=np.int64)
    row_of[[number[name] for name in shown]] = np.arange(len(shown))
    counts = np.zeros((len(shown) + 1, buckets), dtype=np.int64)
    _spread_all(counts, row_of[which], ts, duration, sent, first, last, start, width)
    series = dict(zip(shown, counts[:len(shown)].tolist()))
    stacked_others = (len(present) - top, counts[len(shown)].tolist()) if len(present) > top else None
    return start, end, shown, series, stacked_others, number


def _spread_all(counts: np.ndarray, row: np.ndarray, ts: np.ndarray, duration: np.ndarray, sent: np.ndarray,
                first: np.ndarray, last: np.ndarray, start: float, width: float) -> None:
    """``_spread`` of every flow into ``counts[row]`` (its buckets ``first`` to ``last``), in arrays:
    the same float operations in the same order, so the same shares, to the byte."""
    one_bucket = (duration <= 0) | (first == last)
    np.add.at(counts, (row[one_bucket], first[one_bucket]), sent[one_bucket])
    spans = np.flatnonzero(~one_bucket)
    if not len(spans):
        return
    # One entry per (flow, bucket it overlaps), a flow's buckets in order.
    lengths = last[spans] - first[spans] + 1
    flow = np.repeat(spans, lengths)
    begins = np.cumsum(lengths) - lengths  # where each flow's entries begin
    index = first[flow] + (np.arange(len(flow)) - np.repeat(begins, lengths))
    overlap_end = np.minimum(ts[flow] + duration[flow], start + (index + 1) * width) - ts[flow]
    share = np.where(index == last[flow], sent[flow], (sent[flow] * overlap_end / duration[flow]).astype(np.int64))
    given = np.concatenate(([0], share[:-1]))
    given[begins] = 0
    np.add.at(counts, (row[flow], index), share - given)


def _top_ranked(sent_to: np.ndarray, names: list[str], top: int) -> list[str]:
    """The first ``top`` of ``names`` ranked by bytes sent (``sent_to``, theirs), most first, then
    by name: what sorting them all would give, without sorting them all (a capture of a hundred
    thousand destinations that each got the same bytes ties them all)."""
    count = len(names)
    if count <= top:
        return [names[i] for i in sorted(range(count), key=lambda i: (-int(sent_to[i]), names[i]))]
    least = sent_to[np.argpartition(sent_to, count - top)[count - top]]  # the top-th most bytes
    above = sorted(np.flatnonzero(sent_to > least).tolist(), key=lambda i: (-int(sent_to[i]), names[i]))
    tied = heapq.nsmallest(top - len(above), [names[i] for i in np.flatnonzero(sent_to == least).tolist()])
    return [names[i] for i in above] + tied


def _flow_arrays(data: Mapping[str, Any], flows: Mapping[str, Sequence]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], dict[str, int]] | None:
    """``_flow_rows`` as arrays (ts, duration, the destination's number, sent), with the address
    of each number and the number of each address (the last destination with it), or None when
    there is no flow to a destination."""
    destinations = data.get("destinations", [])
    addresses = list(map(itemgetter("ip"), destinations))
    number = dict(zip(addresses, itertools.count()))
    to = flows.get("id.resp_h", [])
    if not len(to) or not number:
        return None
    ts = np.array(flows.get("ts", []), dtype=float)  # None becomes NaN, and is left out below
    which = np.fromiter(map(number.get, to, itertools.repeat(-1)), dtype=np.int64, count=len(to))
    keep = (which >= 0) & np.isfinite(ts)
    if not keep.any():
        return None
    duration = np.array([value or 0.0 for value in flows.get("duration", [])], dtype=float)
    sent = np.array([value or 0 for value in flows.get("orig_ip_bytes", [])], dtype=np.int64)
    return ts[keep], np.maximum(duration[keep], 0.0), which[keep], sent[keep], addresses, number


def _utc(ts: float, span: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    if span < 20:  # a short capture: ticks a second apart would all read alike
        return moment.strftime("%H:%M:%S.%f")[:-4]
    return moment.strftime("%H:%M:%S" if span < 86400 else "%m-%d %H:%M")


def timeline_svg(data: Mapping[str, Any], flows: Mapping[str, Sequence]) -> str:
    """The timeline as one inline ``<svg>`` string."""
    start, end, shown, series, others, number = _stacked(data, flows, TOP_N, BUCKETS)
    if not series:
        return ('<svg xmlns="http://www.w3.org/2000/svg" class="figure timeline" role="img" viewBox="0 0 1000 40" '
                'width="100%" aria-label="Bytes sent over time, UTC"><text x="500" y="25" text-anchor="middle" '
                'font-size="13" fill="#57606a" font-family="system-ui, sans-serif">'
                'No bytes sent to any destination in this capture.</text></svg>')
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="figure timeline" role="img" '
           f'viewBox="0 0 {num(WIDTH)} {num(HEIGHT)}" width="100%" aria-label="Bytes sent over time, UTC">',
           '<rect width="100%" height="100%" fill="#fff"/>']
    if not series:
        out.append(f'<text x="{num(WIDTH / 2)}" y="{num(HEIGHT / 2)}" text-anchor="middle" font-size="13" '
                   'fill="#57606a" font-family="system-ui, sans-serif">No bytes sent to any destination in this capture.</text>')
        out.append("</svg>")
        return "\n".join(out)
    destinations = data.get("destinations", [])
    names = {}
    for ip in series:
        destination = destinations[number[ip]]  # the last destination of an address, as before
        names[ip] = destination["names"][0]["name"] if destination.get("names") else ip
    stacks = [(ip if names.get(ip, ip) == ip else f"{names[ip]} ({ip})", series[ip]) for ip in shown]
    if others is not None:
        stacks.append((f"{OTHERS} ({others[0]} destination{'' if others[0] == 1 else 's'})", others[1]))
    totals = [sum(values[i] for _, values in stacks) for i in range(BUCKETS)]
    peak = max(max(totals), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar_w = plot_w / BUCKETS
    span = end - start
    # Axes, with ticks in UTC.
    out.append(f'<line x1="{num(LEFT)}" y1="{num(TOP + plot_h)}" x2="{num(LEFT + plot_w)}" y2="{num(TOP + plot_h)}" stroke="#57606a"/>')
    out.append(f'<line x1="{num(LEFT)}" y1="{num(TOP)}" x2="{num(LEFT)}" y2="{num(TOP + plot_h)}" stroke="#57606a"/>')
    font = 'font-size="11" fill="#57606a" font-family="system-ui, sans-serif"'
    for tick in range(5):
        x = LEFT + plot_w * tick / 4
        out.append(f'<text x="{num(x)}" y="{num(TOP + plot_h + 15)}" text-anchor="middle" {font}>'
                   f'{_utc(start + span * tick / 4, span)}</text>')
    out.append(f'<text x="{num(LEFT + plot_w / 2)}" y="{num(HEIGHT - 6)}" text-anchor="middle" {font}>time (UTC)</text>')
    out.append(f'<text x="{num(LEFT - 6)}" y="{num(TOP + 8)}" text-anchor="end" {font}>{_human(peak)}</text>')
    out.append(f'<text x="{num(LEFT - 6)}" y="{num(TOP + plot_h)}" text-anchor="end" {font}>0</text>')
    # Stacked bars.
    for index in range(BUCKETS):
        base = 0
        for colour, (_, values) in zip(PALETTE, stacks):
            if values[index]:
                height = plot_h * values[index] / peak
                y = TOP + plot_h - plot_h * base / peak - height
                out.append(f'<rect x="{num(LEFT + index * bar_w)}" y="{num(y)}" width="{num(bar_w * 0.9)}" '
                           f'height="{num(height)}" fill="{colour}"/>')
            base += values[index]
    # Calls: start and end.
    for call in data.get("calls", []):
        for edge, ts in (("start", call.get("first_ts")), ("end", call.get("last_ts"))):
            if ts is None or not start <= ts <= end:
                continue
            x = LEFT + plot_w * (ts - start) / max(span, 1e-6)
            out.append(f'<line class="call-{edge}" x1="{num(x)}" y1="{num(TOP)}" x2="{num(x)}" y2="{num(TOP + plot_h)}" '
                       f'stroke="#1f2328" stroke-dasharray="{"4 2" if edge == "start" else "1 2"}">'
                       f'<title>call {text(call.get("call_id", ""))} {edge} {_utc(ts, 0)} UTC</title></line>')
    # Legend.
    for index, (label, values) in enumerate(stacks):
        y = TOP + index * 18
        out.append(f'<rect x="{num(WIDTH - RIGHT + 12)}" y="{num(y)}" width="10" height="10" fill="{PALETTE[index]}"/>')
        out.append(f'<text x="{num(WIDTH - RIGHT + 28)}" y="{num(y + 9)}" {font}>{text(label, 30)}</text>')
    if data.get("calls"):
        y = TOP + len(stacks) * 18 + 6
        out.append(f'<text x="{num(WIDTH - RIGHT + 12)}" y="{num(y + 9)}" {font}>dashed: call start / end</text>')
    out.append("</svg>")
    return "\n".join(out)


def _human(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000:
            return f"{count} {unit}"
        count //= 1000
    return f"{count} TB"
