"""report.pdf: report.html's content, paginated, for an auditor's file.

Typst (the ``typst`` wheel carries the compiler) typesets ``templates/report.typ``.  The report
goes in as JSON through ``sys.inputs``, never as Typst markup: the template reads strings and
places them as text, so a name such as ``#set page(width: 1pt)`` is printed, not obeyed.  Before
that, every string shows its invisible characters as ``<U+XXXX>`` and is cut to a sane length.

The same report gives the same bytes: the document date is SOURCE_DATE_EPOCH or the capture's
first packet (never the clock), and only the fonts inside the wheel are used, not the machine's.
Past grouping.SUMMARISE_ABOVE destinations it summarises as report.html does.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracecheck.report.formats.html import HEADLINES, NOTHING_JUDGED, place, thousands, utc, visible
from tracecheck.report.grouping import SUMMARY_VERDICTS, page_data, summarised
from tracecheck.report.interface import Columns, ReportFormat
from tracecheck.vocabulary import BASIS_LABEL, date_label

if TYPE_CHECKING:
    from tracecheck.report.model import Report

TEMPLATE = Path(__file__).parents[1] / "templates" / "report.typ"
MAX_TEXT = 2000
"""Characters of any one value: a reason quoting its evidence fits, a megabyte name does not fill pages."""
PDF_STANDARD = "a-2b"
"""PDF/A-2b: archival, opens in any reader, fonts embedded."""


def _clean(value: Any) -> Any:
    """Every string shown as text and bounded; lists and dicts walked."""
    if isinstance(value, str):
        value = visible(value)
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


_BREAKS_AFTER = ".:/-_@"
_UNBROKEN = re.compile(f"[^{re.escape(_BREAKS_AFTER)}]{{20}}(?=[^{re.escape(_BREAKS_AFTER)}])")
"""Twenty characters with no break after any of them, and more to come: a DNS label of 32 hex
digits is one word to the typesetter, and ran over the next column."""


def _breakable(text: str) -> str:
    """A zero-width space after dots, colons, slashes, dashes, underscores and at signs, and every
    twenty characters of a run with none of them, so that long names wrap in a cell."""
    text = _UNBROKEN.sub("\\g<0>\u200b", text)
    return "".join(ch + "\u200b" if ch in _BREAKS_AFTER else ch for ch in text)


def _digest(hex_digest: str) -> str:
    """A sha256 that may wrap every 32 characters in a narrow column."""
    return "\u200b".join(hex_digest[i:i + 32] for i in range(0, len(hex_digest), 32))


def _destination(d: dict) -> dict:
    names = list(dict.fromkeys(n["name"] for n in d["names"]))
    verdict = d["verdict"]
    return {
        "ip": _breakable(d["ip"]),
        "via": _breakable(", ".join(d.get("via", []))),
        "names": [_breakable(n) for n in names[:5]] + ([f"+{len(names) - 5} more"] if len(names) > 5 else []),
        "category": _breakable(d.get("category") or "—"),  # crm_integration overran its column
        "place": place(d),
        "basis": "—" if verdict == "not_assessed" else BASIS_LABEL.get(d.get("basis", ""), d.get("basis", "")) or "—",
        "verdict": verdict,
        "verdict_label": verdict.replace("_", " ") + (f" (exception {d['exception']})" if d.get("exception") else ""),
        "rule": d.get("rule") or "",
        "reasons": d["reasons"],
        "evidence": [{"source": e["source"], "claim": e["claim"], "detail": e.get("detail", "")} for e in d["evidence"]],
        "flags": d.get("flags", []),
        "traffic": f"{d['flows']} flow{'s' if d['flows'] != 1 else ''}, {thousands(d['orig_bytes'])} B out, "
                   f"{thousands(d['resp_bytes'])} B in, {utc(d.get('first_ts'))} to {utc(d.get('last_ts'))}"
                   + (f"; through TURN relay {', '.join(d['via'])}" if d.get("via") else ""),
    }


def _figures(data: dict, flows: Columns) -> dict[str, str]:
    """The world map and the timeline as SVG; a figure that fails is left out, not the report."""
    from tracecheck.report import figures

    found = {}
    for key, draw in (("map", lambda: figures.world_map_svg(data)), ("timeline", lambda: figures.timeline_svg(data, flows))):
        try:
            found[key] = draw()
        except Exception:  # noqa: BLE001 -- a figure that cannot be drawn leaves the page without it
            continue
    return found


def pdf_data(report: Report, flows: Columns | None = None) -> dict:
    """What the template reads: the report's text, already worded, every string from the report
    cleaned first (then made breakable: the cleaning would show the zero-width spaces)."""
    from tracecheck.report.policy_in_force import policy_in_force
    from tracecheck.report.vantage import vantage_points
    from tracecheck.report.verdict_line import verdict_sentence

    plain = page_data(report.with_generated_from_environment())
    listing, digest = summarised(plain["destinations"])
    if digest is None:
        data = _clean(plain)
    else:  # only the destinations listed are cleaned and shown; the digest counts the rest
        data = _clean({key: value for key, value in plain.items() if key != "destinations"})
        data["destinations"] = [_clean(d) for _, _, rows in listing for d in rows]
    s = data["summary"]
    destinations = [_destination(d) for d in data["destinations"]]
    called = {ip for c in data["calls"] for ip in (*c.get("signalling_to", []), *c.get("media_to", []))}
    place_of = {d["ip"]: place(_clean(d)) for d in plain["destinations"] if d["ip"] in called}
    local = [d for d, raw in zip(destinations, data["destinations"])
             if raw.get("basis") == "local" and raw["verdict"] != "not_assessed"]
    ignored = [d for d in destinations if d["verdict"] == "not_assessed"]
    judged = [d for d in destinations if d not in local and d not in ignored]
    shown = {
        "verdict": s["verdict"],
        "headline": NOTHING_JUDGED if s.get("judged") == 0 else HEADLINES[s["verdict"]],
        "sentence": _clean(verdict_sentence(report)),
        "generated": data.get("generated") or "",
        "version": data["tool"]["version"],
        "inputs": [{"path": i["path"], "sha256": i["sha256"], "format": i["format"], "packets": thousands(i["packets"]),
                    "first": utc(i["first_ts"]), "last": utc(i["last_ts"])} for i in data["inputs"]],
        "accounting": {"records": thousands(data["accounting"]["records"]),
                       "decoded": thousands(data["accounting"]["decoded"]),
                       "skipped": [f"{k}: {thousands(v)}" for k, v in data["accounting"]["skipped"].items()]},
        "groups": [{"title": t, "rows": rows} for t, rows in (
            ("Judged" if digest is None else listing[0][1] if listing else "Judged", judged), ("Not assessed (the policy ignores them)", ignored), ("Local network", local))],
        "explained": [d for d in judged if d["reasons"] or d["evidence"]],
        "policy": {"name": data["policy"]["name"], "path": data["policy"]["path"], "sha256": data["policy"]["sha256"],
                   **policy_in_force(data)},
        "calls": [{"call_id": _breakable(c["call_id"]), "first": utc(c["first_ts"]), "last": utc(c["last_ts"]),
                   "signalling": _flows(len(c["signalling"])), "media": _flows(len(c["media"])),
                   "signalling_to": _went_to(c.get("signalling_to", []), place_of),
                   "media_to": _went_to(c.get("media_to", []), place_of)} for c in data["calls"]],
        "sources": [{"name": x["name"], "kind": x["kind"], "version": _breakable(x["version"]), "sha256": _digest(x["sha256"]),
                     "date": date_label(x["date"], x.get("date_basis", "content")), "stale": x.get("stale", False)}
                    for x in data["sources"]],
        "vantage": [{"path": _breakable(path), "rows": [[label, value] for label, value in rows]}
                    for path, rows in vantage_points(data)],
        "observability": data.get("observability", []),
        "warnings": data.get("warnings", []),
        "caveats": s.get("caveats", []),
    }
    shown["digest"] = _digest_shown(digest)
    shown["figures"] = _figures(data if digest is None else {**data, "destinations": plain["destinations"]}, flows or {})
    return shown


def _digest_shown(digest) -> dict | None:
    """The counts a summarised report stands on, as the template prints them (grouping.Digest)."""
    if digest is None:
        return None
    def tally(rows: list[dict]) -> list[dict]:
        return [{"label": _clean(row["label"]), **{k: thousands(row[k]) for k in ("total", *SUMMARY_VERDICTS)}}
                for row in rows]
    return {"total": thousands(digest.total), "note": digest.note,
            "by_verdict": [{"verdict": row["verdict"], "label": row["verdict"].replace("_", " "),
                            "count": thousands(row["count"]), "listed": thousands(row["listed"])}
                           for row in digest.by_verdict],
            "by_place": tally(digest.by_place), "by_provider": tally(digest.by_provider)}


def _flows(count: int) -> str:
    return f"{count} flow" if count == 1 else f"{count} flows"


def _went_to(addresses: list[str], place_of: dict[str, str]) -> list[str]:
    """Each address a call's flows reached, with its place as the destination table says it."""
    return [f"{ip} ({place_of[ip]})" if place_of.get(ip) else ip for ip in sorted(set(addresses))]


def document_time(report: Report) -> datetime:
    """SOURCE_DATE_EPOCH, else the capture's first packet, else the epoch: never the clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    first = [i.first_ts for i in report.inputs if i.first_ts is not None]
    return datetime.fromtimestamp(int(min(first)) if first else 0, UTC)


def render_pdf(report: Report, flows: Columns | None = None) -> bytes:
    try:
        import typst
    except ImportError:
        from tracecheck.errors import UserError

        raise UserError("--format pdf needs the typst package (pip install typst)") from None

    data = json.dumps(pdf_data(report, flows), ensure_ascii=False, sort_keys=True)
    return typst.compile(str(TEMPLATE), root=str(TEMPLATE.parent), sys_inputs={"report": data},
                         ignore_system_fonts=True, font_paths=[], timestamp=document_time(report),
                         pdf_standards=[PDF_STANDARD])


class Pdf(ReportFormat):
    name = "pdf"
    file_name = "report.pdf"
    page = True
    summary = "report.html's content paginated, PDF/A, for an audit file"

    def render(self, report: Report, flows: Columns) -> bytes:
        return render_pdf(report, flows)


FORMAT = Pdf()
