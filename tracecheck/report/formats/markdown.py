"""report.md: the verdict sentence and the destination table, to paste into a ticket.  Past
grouping.SUMMARISE_ABOVE destinations, counts by verdict, place and provider and the violations
and indeterminates listed, as report.html.

Whatever came from a capture is shown, never interpreted: names sit in code spans whose backtick
fence is longer than any run of backticks inside them (so a name cannot close its span), a ``|``
is escaped so it cannot split a table cell, invisible and direction-changing characters are shown
as ``<U+XXXX>``, and long values are cut.  The verdict sentence, which quotes the policy and the
caveats, is a fenced code block: nothing in it can become a link, a tag or a heading.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tracecheck.report.formats.html import place, visible
from tracecheck.report.interface import Columns, ReportFormat
from tracecheck.vocabulary import BASIS_LABEL

if TYPE_CHECKING:
    from tracecheck.report.model import Report

MAX_CELL = 120
"""Characters of one value in a cell: a name of kilobytes would make the table unreadable."""


def _bounded(text: str, limit: int = MAX_CELL) -> str:
    text = visible(str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str, limit: int = MAX_CELL) -> str:
    """``text`` as an inline code span that shows it literally, inside a table cell."""
    text = _bounded(text, limit)
    if not text:
        return "—"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A space keeps a leading or trailing backtick from joining the fence; CommonMark strips one.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def code_block(text: str) -> str:
    """``text`` as a fenced block: shown verbatim by every CommonMark renderer."""
    text = visible(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _row(destination: dict) -> str:
    names = list(dict.fromkeys(n["name"] for n in destination["names"]))
    name = code(names[0]) + (f" (+{len(names) - 1})" if len(names) > 1 else "") if names else "—"
    verdict = destination["verdict"].replace("_", " ")
    if destination.get("exception"):
        verdict += " (exception " + code(destination["exception"]) + ")"
    basis = destination.get("basis") or ""
    evidence = "—" if destination["verdict"] == "not_assessed" else BASIS_LABEL.get(basis, basis) or "—"
    reason = code(destination["reasons"][0], 200) if destination["reasons"] else "—"
    where = code(destination["ip"])
    if destination.get("via"):
        where += " via " + ", ".join(code(relay) for relay in destination["via"])
    return " | ".join(["", verdict, where, name, code(place(destination)),
                       code(evidence), reason, ""]).strip()


def render_markdown(report: Report) -> str:
    from tracecheck.report.grouping import page_data, summarised
    from tracecheck.report.vantage import vantage_points
    from tracecheck.report.verdict_line import verdict_sentence

    data = page_data(report)
    listing, digest = summarised(data["destinations"])
    verdict = data["summary"]["verdict"].upper()
    lines = [f"## tracecheck: {verdict}", "", code_block(verdict_sentence(report)), ""]
    inputs = ", ".join(code(i["path"].rsplit("/", 1)[-1]) + f" (sha256 `{i['sha256'][:16]}…`)"
                       for i in data["inputs"])
    if inputs:
        lines += [f"Capture: {inputs}", ""]
    for path, rows in vantage_points(data):
        lines += [f"### Vantage point of {code(path)}", "", "| | |", "| --- | --- |"]
        lines += [f"| {label} | {code(value, 300)} |" for label, value in rows]
        lines.append("")
    if digest is not None:  # past grouping.SUMMARISE_ABOVE: counts, then the violations and indeterminates
        lines += _digest_lines(digest)
        data = {**data, "destinations": [d for _, _, rows in listing for d in rows]}
    groups = [
        ("Judged" if digest is None else "Violations and indeterminate destinations, listed",
         [d for d in data["destinations"] if d["verdict"] != "not_assessed" and d.get("basis") != "local"]),
        ("Not assessed (the policy ignores them)", [d for d in data["destinations"] if d["verdict"] == "not_assessed"]),
        ("Local network", [d for d in data["destinations"] if d.get("basis") == "local"
                           and d["verdict"] != "not_assessed"]),
    ]
    for title, rows in groups:
        if not rows:
            continue
        lines += [f"### {title} ({len(rows)})", "",
                  "| verdict | destination | name | place | evidence | reason |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [_row(d) for d in rows]
        lines.append("")
    if not data["destinations"] and digest is None:
        lines += ["No destination was seen in the capture.", ""]
    lines.append("The full evidence is in report.html and report.json beside this file.")
    return "\n".join(lines) + "\n"


def _digest_lines(digest) -> list[str]:
    """The counts a summarised report.md stands on (grouping.Digest), as tables."""
    lines = [f"**{digest.total:,} destinations**, too many to list one by one: {digest.note}", "",
             "| verdict | destinations | listed below |", "| --- | ---: | ---: |"]
    lines += [f"| {row['verdict'].replace('_', ' ')} | {row['count']:,} | {row['listed']:,} |" for row in digest.by_verdict]
    for title, rows in (("place", digest.by_place), ("provider", digest.by_provider)):
        lines += ["", f"| {title} | destinations | violations | indeterminate | compliant | not assessed |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {code(row['label'])} | {row['total']:,} | {row['violation']:,} | {row['indeterminate']:,} | "
                  f"{row['compliant']:,} | {row['not_assessed']:,} |" for row in rows]
    return lines + [""]


class Markdown(ReportFormat):
    name = "md"
    file_name = "report.md"
    summary = "the verdict and the destination table, to paste into a ticket"

    def render(self, report: Report, flows: Columns) -> bytes:
        return render_markdown(report).encode("utf-8")


FORMAT = Markdown()
