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
import importlib
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracecheck.report.atomic import write_parts_atomically
from tracecheck.report.interface import Columns, ReportFormat

if TYPE_CHECKING:
    from collections.abc import Iterator

    import jinja2

    from tracecheck.report.model import Report
from markupsafe import escape as _escape

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
    if not isinstance(value, str) or value.isprintable():  # none of the categories below is printable
        return value
    return "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) in _INVISIBLE_CATEGORIES else ch
                   for ch in value)


def host_name(value: str) -> Any:
    """A host name that wraps after its dots and dashes, not mid-label (but for a long one)."""
    import markupsafe

    return markupsafe.Markup(_host_breaks(_cell(value)))


def wrap_after(value: Any, characters: str) -> Any:
    """``value``, escaped, that may wrap after each of ``characters`` (``_wrappable_after``)."""
    import markupsafe

    return markupsafe.Markup(_wrappable_after(_cell(value), characters))


_LONG_LABEL = re.compile(r"(?:&(?:amp|lt|gt|#39|#34);|[^.\-&]){20}(?=[^.\-])")
"""Twenty characters of an escaped name (an entity is one) with no dot or dash among them, and
more to come: a DNS label of 32 hex digits, one word, set the name column's least width."""


def _host_breaks(escaped: str) -> str:
    """An escaped host name with ``<wbr>`` after its dots and dashes and inside labels over 20 characters."""
    if len(escaped) > 20:
        escaped = _LONG_LABEL.sub("\\g<0><wbr>", escaped)
    return _wrappable_after(escaped, ".-")


def _wrappable_after(escaped: str, characters: str) -> str:
    """Escaped text with ``<wbr>`` after each of ``characters`` (escaping makes none of them).

    A word's length is a table column's least width: a reason's IPv6 address, a jurisdiction's
    ``EU_ADEQUATE_CONDITIONAL``, each one word, made report.html wider than the window."""
    for character in characters:
        escaped = escaped.replace(character, character + "<wbr>")
    return escaped


def utc(ts: float | None) -> str:
    """Seconds since the epoch as ``2026-11-27 08:00:00.123456 UTC``; computed, not the clock."""
    if ts is None:
        return "—"
    moment = datetime.fromtimestamp(ts, UTC)
    if moment.year >= 1000:  # the same text, in a third of strftime's time; %Y does not pad a year before 1000
        return moment.isoformat(" ")[:-len("+00:00")] + " UTC"
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


# --------------------------------------------------------------------------- the destination rows
# A page lists up to two thousand destinations (grouping.LISTED_AT_MOST of each verdict listed),
# and Jinja2's steps for each of their cells (attribute look-ups, ``finalize``, ``escape``, one
# generator step per piece) were most of the page's time: the rows are written here instead, the
# rest of the page stays in report.html.j2.  Each ``{{ value }}`` of the row the template had is
# ``_cell(value)`` here, the same ``visible`` and the same escape; only numbers we format
# (``thousands``, ``utc``, counts, the row's index) are written without, being digits and
# punctuation of our own.  tests/test_report_html_rows.py holds these rows to that template's.


def _cell(value: Any) -> str:
    """What the template's ``{{ value }}`` writes: ``visible`` (invisible characters shown), then
    escaped as autoescape does; None writes nothing."""
    if value.__class__ is str:
        if value.isprintable():  # visible would change nothing
            if "&" in value or "<" in value or ">" in value or "'" in value or '"' in value:
                # markupsafe's escape of a str, without the Markup it is wrapped in (made in Python)
                return (value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
                        .replace("'", "&#39;").replace('"', "&#34;"))
            return value  # nothing to escape
    elif value.__class__ is int:
        return str(value)
    return str(_escape(visible(value)))


def destination_rows(rows: list[dict[str, Any]], basis: dict[str, str] | None = None) -> Any:
    """The ``<tr>`` of each destination in ``rows`` (report.json's form), the table body of one
    group, as markup: one line ``</tr>`` ends per row, the last without its newline (the
    template's line gives it)."""
    from markupsafe import Markup

    return Markup("".join(_rows_texts(rows, BASIS_LABEL if basis is None else basis)))


ROWS_AT_A_TIME = 100
"""Destination rows made into text at a time (``_rows_texts``)."""


def _rows_texts(rows: list[dict[str, Any]], basis: dict[str, str]) -> Iterator[str]:
    """``destination_rows``'s text, ROWS_AT_A_TIME rows at a time."""
    from tracecheck.report.grouping import short_reason

    for start in range(0, len(rows), ROWS_AT_A_TIME):
        some = rows[start:start + ROWS_AT_A_TIME]
        yield ("\n" if start else "") + "\n".join([_row(d, index, basis, short_reason)
                                                   for index, d in enumerate(some, start)])


def _row(d: dict[str, Any], index: int, basis: dict[str, str], short_reason) -> str:
    verdict = d["verdict"]
    shown_verdict = _cell(verdict)
    out = [f'<tr class="{shown_verdict}">\n<td data-value="{index}"><span class="badge {shown_verdict}">'
           f'{_cell(_replaced(verdict))}</span>\n']
    if d.get("anycast"):
        out.append('<br><span class="muted">anycast</span>')
    if d.get("exception"):
        out.append(f'<br><span class="muted">exception {_cell(d["exception"])}</span>')
    for flag in d.get("flags", []):
        out.append(f'<br><span class="muted">{_cell(_replaced(flag))}</span>')
    out.append(f'</td>\n<td class="ip"><code>{_cell(d["ip"])}</code>')
    if d.get("via"):
        relays = ", ".join([f"<code>{_cell(relay)}</code>" for relay in d["via"]])
        out.append(f'<br><span class="muted via">via {relays} (TURN)</span>')
    out.append('</td>\n<td class="name">')
    names = d["names"]
    if names:
        first = _host_breaks(_cell(names[0]["name"]))  # host_name, without its Markup
        out.append(f'<code>{first}</code> <span class="muted">({_cell(names[0]["source"])})</span>')
        if len(names) > 1:
            out.append(f'<br><span class="muted">+{len(names) - 1} more</span>')
    else:
        out.append('<span class="muted">no name seen</span>')
    out.append(f'</td>\n<td>{_cell(d["vendor"] or "unknown vendor")}<br><span class="muted">'
               f'{_cell(d["category"] or "uncategorised")}</span></td>\n<td>{_cell(place(d))}')
    if d["jurisdictions"]:
        jurisdictions = _wrappable_after(_cell(", ".join(map(str, d["jurisdictions"]))), "_")
        out.append(f'<br><span class="muted jurisdictions">{jurisdictions}</span>')
    evidence = d["evidence"]
    sent = thousands(d["orig_bytes"])
    out.append(f'</td>\n<td class="num" data-value="{_cell(d["orig_bytes"])}">{sent} B</td>\n'
               f'<td><span class="reason">{_wrappable_after(_cell(short_reason(d)), ":")}</span>\n'
               f'<details><summary>full evidence{f" ({len(evidence)})" if evidence else ""}</summary>\n')
    if d["reasons"]:
        out.append(f'<ul class="tight">{"".join([f"<li>{_cell(reason)}</li>" for reason in d["reasons"]])}</ul>')
    if len(names) > 1:
        listed = ", ".join([f'<code>{_cell(n["name"])}</code> <span class="muted">({_cell(n["source"])})</span>'
                            for n in names])
        out.append(f"<p>Names: {listed}</p>")
    flows = d["flows"]
    out.append(f'<p>{_cell(flows)} flow{"" if flows == 1 else "s"}, sent {sent} B, '
               f'received {thousands(d["resp_bytes"])} B, {utc(d["first_ts"])} to {utc(d["last_ts"])}')
    if verdict != "not_assessed":
        out.append(f'; basis: {_cell(basis.get(d.get("basis", ""), d.get("basis", "")))}')
    if d.get("rule"):
        out.append(f'; rule {_cell(d["rule"])}')
    out.append("</p>\n")
    if evidence:
        out.append('<table><thead><tr><th>source</th><th>claim</th><th>detail</th></tr></thead><tbody>\n')
        out.extend([f'<tr><td>{_cell(e["source"])}</td><td>{_cell(e["claim"])}</td><td>{_cell(e["detail"])}</td></tr>'
                    for e in evidence])
        out.append("</tbody></table>")
    out.append("</details></td>\n</tr>")
    return "".join(out)


def _replaced(value: Any) -> str:
    """The template's ``value | replace("_", " ")`` (autoescaped: plain text stays plain text)."""
    return (value if isinstance(value, str) else str(value)).replace("_", " ")


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
    env.filters["wrap_after"] = wrap_after
    env.bytecode_cache = template_cache(env)  # compiled once per template version, not per run
    return env


CSP_PLACEHOLDER = "__CSP_HASHES__"


def _csp(page: str) -> str:
    """The Content-Security-Policy of ``page``: its own inline style and script, by their SHA-256."""
    def digest(body: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"

    none = "'none'"
    styles = " ".join(digest(body) for body in _bodies(page, "style")) or none
    scripts = " ".join(digest(body) for body in _bodies(page, "script")) or none
    return (f"default-src 'none'; style-src {styles}; script-src {scripts}; "
            "img-src data:; base-uri 'none'; form-action 'none'")


def _bodies(page: str, tag: str) -> list[str]:
    """What ``re.findall(f"<{tag}>(.*?)</{tag}>", page, re.DOTALL)`` finds, found by ``str.find``:
    the regex steps through a page of megabytes character by character."""
    opening, closing = f"<{tag}>", f"</{tag}>"
    found = []
    start = page.find(opening)
    while start >= 0:
        end = page.find(closing, start + len(opening))
        if end < 0:  # nor is there one after any later opening
            break
        found.append(page[start + len(opening):end])
        start = page.find(opening, end + len(closing))
    return found


def render_html(report: Report, flows: Columns | None = None) -> str:
    """The page, from the same canonical data as report.json (same order, same rounding)."""
    return "".join(_page_texts(report, flows))


def html_parts(report: Report, flows: Columns | None = None) -> Iterator[bytes]:
    """``render_html``'s page as UTF-8, a piece at a time (``_page_texts``)."""
    for text in _page_texts(report, flows):
        yield text.encode("utf-8")


_ROWS = "\x00rows\x00"
"""Where the template's page holds a table's destination rows (``_page_texts`` puts them in): a
NUL is in nothing else of the page (``visible`` shows a capture's as ``<U+0000>``)."""


def _page_texts(report: Report, flows: Columns | None) -> Iterator[str]:
    """The page in pieces: the template's, the CSP put in, and between them each table's rows,
    ROWS_AT_A_TIME at a time.

    A summarised page's rows are nearly all of it, megabytes of text (two bytes a character, once
    one is past Latin-1: a "…"), and a forked writer's every fresh page of memory is a fault: the
    rows are never joined whole, nor copied into a Markup, the page, its copy with the CSP and its
    encoding (twenty megabytes, 5,000 faults for the 1M corpus).

    The CSP is read from the template's page: the rows hold no ``<style>`` or ``<script>`` (their
    markup is ours, their text escaped), so the page's inline style and script are the same.  Its
    placeholder is the first, in the page's head, before any rows."""
    tables: list[tuple[list[dict[str, Any]], dict[str, str]]] = []

    def rows_later(rows: list[dict[str, Any]], basis: dict[str, str]) -> Any:
        from markupsafe import Markup

        tables.append((rows, basis))
        return Markup(_ROWS)

    page = _page(report, flows, rows_later)
    texts = page.split(_ROWS)
    texts[0] = texts[0].replace(CSP_PLACEHOLDER, _csp(page), 1)
    yield texts[0]
    for (rows, basis), text in zip(tables, texts[1:], strict=True):
        yield from _rows_texts(rows, basis)
        yield text


def _page(report: Report, flows: Columns | None, rows=destination_rows) -> str:
    """The page with the CSP's placeholder (``_csp`` fills it) and each table's ``rows(rows, basis)``."""
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
    return template.render(
        csp=CSP_PLACEHOLDER,
        pif=policy_in_force(data),
        vantage=vantage_points(data),
        place_of={d["ip"]: f"({place(d)}; {d['verdict'].replace('_', ' ')})" for d in data["destinations"]
                  if d["ip"] in called} if called else {},  # no calls: 100k destinations not read for none
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
        destination_rows=rows,
    )


class Html(ReportFormat):
    name = "html"
    file_name = FILE_NAME
    page = True
    summary = "one self-contained page a reviewer reads offline"
    always = True
    order = 1

    def prepare(self) -> None:
        """jinja2 above all: a tenth of a large page's time, were the forked writer to import it."""
        for module in ("jinja2", "tracecheck.report.figures", "tracecheck.report.grouping",
                       "tracecheck.report.policy_in_force", "tracecheck.report.vantage"):
            importlib.import_module(module)

    def render(self, report: Report, flows: Columns) -> bytes:
        return b"".join(html_parts(report, flows))

    def write(self, report: Report, flows: Columns, out_dir: Path) -> Path:
        """Written a part at a time (``html_parts``), atomically like the others."""
        return write_parts_atomically(Path(out_dir) / FILE_NAME, html_parts(report, flows))


FORMAT = Html()
