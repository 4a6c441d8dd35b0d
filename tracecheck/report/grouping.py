"""How the report's pages group and summarise destinations: judged ones first (worst first),
local addresses and not-assessed ones in groups of their own, one short reason per row.  Shared by
the HTML, PDF and Markdown formats so they read alike."""

from __future__ import annotations

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
    reason = " ".join(str(reasons[0]).split())
    sentence_end = reason.find(". ")
    if 0 < sentence_end < limit:
        reason = reason[: sentence_end + 1]
    if len(reason) > limit:
        reason = reason[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return reason
