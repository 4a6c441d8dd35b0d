"""report.html: one self-contained page a reviewer can read offline, with no fetches.

Everything in a report that came from a capture (names, Call-IDs, even reasons that quote them)
is hostile.  Jinja2's autoescape turns markup into text; ``visible`` goes further and shows
invisible and direction-changing characters (U+202E and friends) as ``<U+202E>`` so that a name
cannot pretend to be another.  The page's Content-Security-Policy forbids every load, so a
mistake in escaping still could not fetch anything.  The page's one inline script (sorting and
filtering the table; the page reads the same without it) and its style are allowed by their
SHA-256 in that policy, computed at render, so no injected script or style could run.

Past grouping.SUMMARISE_ABOVE destinations the page counts them by verdict, place and provider
and lists only the violations and indeterminates (``grouping.summarised``): it stays a few
megabytes that a browser opens at once, whatever the capture holds.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracecheck.report.interface import Columns, ReportFormat

if TYPE_CHECKING:
    import jinja2

    from tracecheck.report.model import Report
from tracecheck.usercache import template_cache
from tracecheck.vocabulary import BASIS_LABEL, date_label

FILE_NAME = "report.html"
TEMPLATE = "report.html.j2"

HEADLINES = {
    "violation": "personal data went to at least one destination outside the authorized area.",
    "indeterminate": "where some data went cannot be established, and the policy treats that as a failure.",
    "compliant": "no destination assessed is outside the authorized area.",
}
NOTHING_JUDGED = "no destination was judged, so this report shows nothing about where the data went"



_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


def visible(value: Any) -> Any:
    """Text with control, format (bidi, zero-width) and unassigned characters shown as ``<U+XXXX>``.

    Applied to every ``{{ }}`` before escaping (Jinja2's ``finalize``); None shows as nothing."""
    if value is None:
        return ""
    if hasattr(value, "__html__"):
        return value  # our own markup (the figures), escaped where it was built
    if not isinstance(value, str) or value.isascii() and value.isprintable():
        return value
    return "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) in _INVISIBLE_CATEGORIES else ch
                   for ch in value)


def host_name(value: str) -> Any:
    """A host name that wraps after its dots and dashes, not mid-label: escaped (and its invisible
    characters shown) first, then ``<wbr>`` put in."""
    import markupsafe

    escaped = str(markupsafe.escape(visible(value)))
    return markupsafe.Markup(re.sub(r"([.\-])", r"\1<wbr>", escaped))


def utc(ts: float | None) -> str:
    """Seconds since the epoch as ``2026-11-27 08:00:00.123456 UTC``; computed, not the clock."""
    if ts is None:
        return "—"
    moment = datetime.fromtimestamp(ts, UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + (f".{moment.microsecond:06d}" if moment.microsecond else "") + " UTC"


def thousands(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def place(destination: dict) -> str:
    """``aws EC2 · eu-west-1 · IE``, or a plain statement that the place is unknown."""
    parts = [" ".join(p for p in (destination["provider"], destination["service"]) if p),
             destination["region"], destination["country"] or ""]
    text = " · ".join(p for p in parts if p)
    if destination["country"] is None:
        text = (text + " · " if text else "") + "no country established"
    return text


def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parents[1] / "templates"),
        autoescape=True,  # every template, whatever its name: capture content is hostile
        undefined=jinja2.StrictUndefined,
        finalize=visible,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["utc"] = utc
    env.filters["bytes"] = thousands
    env.filters["host_name"] = host_name
    env.bytecode_cache = template_cache(env)  # compiled once per template version, not per run
    return env


CSP_PLACEHOLDER = "__CSP_HASHES__"


def _with_csp_hashes(page: str) -> str:
    """Allow exactly the page's own inline style and script, by their SHA-256, and nothing else."""
    def digest(body: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"

    none = "'none'"
    styles = " ".join(digest(body) for body in re.findall(r"<style>(.*?)</style>", page, re.DOTALL)) or none
    scripts = " ".join(digest(body) for body in re.findall(r"<script>(.*?)</script>", page, re.DOTALL)) or none
    policy = (f"default-src 'none'; style-src {styles}; script-src {scripts}; "
              "img-src data:; base-uri 'none'; form-action 'none'")
    return page.replace(CSP_PLACEHOLDER, policy, 1)


def render_html(report: Report, flows: Columns | None = None) -> str:
    """The page, from the same canonical data as report.json (same order, same rounding)."""
    from markupsafe import Markup

    from tracecheck.report.figures import timeline_svg, world_map_svg
    from tracecheck.report.grouping import page_data, short_reason, summarised
    from tracecheck.report.policy_in_force import policy_in_force
    from tracecheck.report.vantage import vantage_points

    data = page_data(report.with_generated_from_environment())
    template = _environment().get_template(TEMPLATE)
    nothing_judged = data["summary"].get("judged") == 0
    groups, digest = summarised(data["destinations"])
    called = {ip for c in data["calls"] for ip in (*c.get("signalling_to", []), *c.get("media_to", []))}
    return _with_csp_hashes(template.render(
        csp=CSP_PLACEHOLDER,
        pif=policy_in_force(data),
        vantage=vantage_points(data),
        place_of={d["ip"]: f"({place(d)}; {d['verdict'].replace('_', ' ')})" for d in data["destinations"]
                  if d["ip"] in called},
        groups=groups,
        digest=digest,
        short_reason=short_reason,
        map_svg=Markup(world_map_svg(data)),
        timeline=Markup(timeline_svg(data, flows)) if flows is not None else None,
        r=data,
        headline=NOTHING_JUDGED if nothing_judged else HEADLINES[data["summary"]["verdict"]],
        basis=BASIS_LABEL,
        date_label=date_label,
        skipped_total=sum(data["accounting"]["skipped"].values()),
        place=place,
    ))


class Html(ReportFormat):
    name = "html"
    file_name = FILE_NAME
    summary = "one self-contained page a reviewer reads offline"
    always = True
    order = 1

    def render(self, report: Report, flows: Columns) -> bytes:
        return render_html(report, flows).encode("utf-8")


FORMAT = Html()
