"""How the report's pages group and summarise destinations: judged ones first (worst first),
local addresses and not-assessed ones in groups of their own, one short reason per row; past SUMMARISE_ABOVE destinations, counts by verdict, place and provider
instead of a row for each, and the violations and indeterminates listed.  Shared by the HTML, PDF
and Markdown formats and the terminal table so they read alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SHORT_REASON = 110
"""Characters of the first reason shown in the table; the full evidence is behind a fold."""

GROUPS = (
    ("judged", "Judged destinations"),
    ("local", "Local addresses"),
    ("not_assessed", "Not assessed (the policy ignores them)"),
)


def group_of(destination: dict[str, Any]) -> str:
    if destination.get("verdict") == "not_assessed":
        return "not_assessed"
    if destination.get("basis") == "local":
        return "local"
    return "judged"


def grouped(destinations: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """[(key, title, rows)] for the groups that have rows, in GROUPS order; rows keep their order
    (report.json's: worst verdict first)."""
    by_group: dict[str, list[dict[str, Any]]] = {key: [] for key, _ in GROUPS}
    for destination in destinations:
        by_group[group_of(destination)].append(destination)
    return [(key, title, by_group[key]) for key, title in GROUPS if by_group[key]]


def short_reason(destination: dict[str, Any], limit: int = SHORT_REASON) -> str:
    """The first reason's first sentence, cut at a word to ``limit`` characters."""
    reasons = destination.get("reasons") or []
    if not reasons:
        return ""
    reason = str(reasons[0])
    # Its whitespace made single spaces: already so when it is printable (every whitespace
    # character but the space is not), with no two spaces together and none at either end.
    if not reason.isprintable() or "  " in reason or reason[:1] == " " or reason[-1:] == " ":
        reason = " ".join(reason.split())
    sentence_end = reason.find(". ")
    if 0 < sentence_end < limit:
        reason = reason[: sentence_end + 1]
    if len(reason) > limit:
        reason = reason[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return reason


# --------------------------------------------------------------------------- many destinations

SUMMARISE_ABOVE = 500
"""Destinations above which report.html, report.pdf and the terminal table summarise instead of
listing every one: a port scan or a peer-to-peer client in a capture of a few megabytes has a
hundred thousand destinations, and a page listing each is neither readable nor cheap to write.
report.json and flows.csv always list all."""
LISTED_AT_MOST = 1000
"""Violations, and indeterminates, that a summarised page still lists one by one with their
evidence (up to this many of each, in report.json's order); any beyond are counted by place and
provider like the rest, and report.json lists them."""
PLACES_SHOWN = 50
"""Rows of the by-place and by-provider tables (most destinations first), the last adding up the rest."""
SUMMARY_VERDICTS = ("violation", "indeterminate", "compliant", "not_assessed")
LISTED_VERDICTS = ("violation", "indeterminate")


@dataclass(frozen=True)
class Digest:
    """How a summarised page stands for the destinations it does not list."""

    total: int
    by_verdict: list[dict[str, Any]]
    """``{verdict, count, listed}`` per verdict, in SUMMARY_VERDICTS order."""
    by_place: list[dict[str, Any]]
    """``{label, total, <verdict>: count ...}`` by place, most destinations (then violations) first,
    at most PLACES_SHOWN rows, the last adding up the rest."""
    by_provider: list[dict[str, Any]]
    """The same by provider (``no provider named`` for GeoIP-only and unplaced addresses)."""
    listed: int
    note: str
    """What is summarised and where it is listed: said on the page, beside the tables."""


def page_data(report) -> dict[str, Any]:
    """What report.html and report.pdf read: report.json's plain form (``model.canonical_dict``),
    except past SUMMARISE_ABOVE destinations.  Then only those a page lists (the first
    LISTED_AT_MOST violations and as many indeterminates, the ones ``summarised`` picks) are in
    full; the others are light (``rows.light_destination``): a page of a hundred thousand
    destinations never holds them all in full."""
    from tracecheck.report import model
    from tracecheck.report.rows import light_destination

    if len(report.destinations) <= SUMMARISE_ABOVE:
        return model.canonical_dict(report)
    data = model.canonical_head(report)
    ordered = model.sorted_destinations(report)
    rows = [light_destination(d) for d in ordered]
    listed = _listed([row["verdict"] for row in rows], LISTED_AT_MOST)  # the rows just made, not the models again
    for index, full in zip(listed, model.plain_destinations([ordered[i] for i in listed]), strict=True):
        rows[index] = full
    data["destinations"] = rows
    return data


def summarised(destinations: list[dict[str, Any]], above: int | None = None, at_most: int | None = None
               ) -> tuple[list[tuple[str, str, list[dict[str, Any]]]], Digest | None]:
    """(the groups a page lists, its digest): every destination in ``grouped`` groups and no
    digest up to ``above`` (SUMMARISE_ABOVE) destinations; past it, only violations and
    indeterminates (the first ``at_most``, LISTED_AT_MOST, of each) and a digest of all."""
    above = SUMMARISE_ABOVE if above is None else above
    at_most = LISTED_AT_MOST if at_most is None else at_most
    if len(destinations) <= above:
        return grouped(destinations), None
    verdicts = [d.get("verdict", "not_assessed") for d in destinations]
    counts = {v: verdicts.count(v) for v in SUMMARY_VERDICTS}
    listed = [destinations[i] for i in _listed(verdicts, at_most)]
    listed_counts = {v: sum(1 for d in listed if d["verdict"] == v) for v in SUMMARY_VERDICTS}
    groups = [("judged", "Violations and indeterminate destinations, listed", listed)] if listed else []
    digest = Digest(
        total=len(destinations),
        by_verdict=[{"verdict": v, "count": counts[v], "listed": listed_counts[v]} for v in SUMMARY_VERDICTS],
        **_tallies(destinations, verdicts, PLACES_SHOWN),
        listed=len(listed),
        note=_summary_note(counts, listed_counts),
    )
    return groups, digest


def _listed(verdicts: list[str], at_most: int) -> list[int]:
    """Where the first ``at_most`` violations and the first ``at_most`` indeterminates are."""
    taken = dict.fromkeys(LISTED_VERDICTS, 0)
    chosen = []
    for index, verdict in enumerate(verdicts):
        if verdict in taken and taken[verdict] < at_most:
            taken[verdict] += 1
            chosen.append(index)
    return chosen


def place_of(destination: dict[str, Any]) -> str:
    """Country and provider region (``US``, ``IE eu-west-1``), ``anycast`` or ``no country established``."""
    if destination.get("basis") == "local":
        return "local network"
    country = destination.get("country")
    if not country:
        return "anycast" if destination.get("anycast") else "no country established"
    return f"{country} {destination['region']}" if destination.get("region") else country


def _tallies(destinations: list[dict[str, Any]], verdicts: list[str], shown: int) -> dict[str, list[dict[str, Any]]]:
    """``by_place`` and ``by_provider``: the destinations counted by place (``place_of``), by provider
    and by verdict in one pass: a page of a hundred thousand destinations reads each once, not twice."""
    by_place: dict[str, dict[str, Any]] = {}
    by_provider: dict[str, dict[str, Any]] = {}
    for d, verdict in zip(destinations, verdicts, strict=True):
        _count(by_place, place_of(d), verdict)
        _count(by_provider, d.get("provider") or "no provider named", verdict)
    return {"by_place": _ranked(by_place, shown), "by_provider": _ranked(by_provider, shown)}


def _count(rows: dict[str, dict[str, Any]], label: str, verdict: str) -> None:
    row = rows.get(label)
    if row is None:
        row = rows[label] = {"label": label, "total": 0, **dict.fromkeys(SUMMARY_VERDICTS, 0)}
    row["total"] += 1
    row[verdict] += 1


def _ranked(rows: dict[str, dict[str, Any]], shown: int) -> list[dict[str, Any]]:
    """The rows by destinations, violations and indeterminates (most first), then label; at most
    ``shown``, the last adding up the rest."""
    ordered = sorted(rows.values(), key=lambda r: (-r["total"], -r["violation"], -r["indeterminate"], r["label"]))
    if len(ordered) <= shown:
        return ordered
    rest = {"label": f"{len(ordered) - shown + 1} others", "total": 0, **dict.fromkeys(SUMMARY_VERDICTS, 0)}
    for row in ordered[shown - 1:]:
        for column in ("total", *SUMMARY_VERDICTS):
            rest[column] += row[column]
    return ordered[:shown - 1] + [rest]


def _summary_note(counts: dict[str, int], listed: dict[str, int]) -> str:
    left = [f"{counts[v] - listed[v]:,} {v.replace('_', ' ')}" for v in SUMMARY_VERDICTS if counts[v] > listed[v]]
    if not left:
        return "every destination is listed below; report.json and flows.csv list them too."
    said = ", ".join(left[:-1]) + (" and " if len(left) > 1 else "") + left[-1]
    return (f"{said} destination{'s' if sum(counts.values()) - sum(listed.values()) != 1 else ''} "
            f"summarised here, not listed; report.json and flows.csv list all.")
