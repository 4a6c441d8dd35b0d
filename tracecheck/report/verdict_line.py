"""The one-line verdict sentence the CLI prints and report.md and report.pdf open with: the verdict,
the counts (or that nothing was judged), the policy, and what must be read with the verdict.

Built in one place so that the terminal, the ticket and the PDF never say different things."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracecheck.report.model import Report


def verdict_sentence(report: Report, default_policy: bool | None = None) -> str:
    """``VIOLATION: 1 violation, 0 indeterminate, 3 compliant of 4 destinations under policy eu
    [authorized: EU]``, followed by the caveats, each after a ``;``.

    ``default_policy`` unsaid: the report's policy path tells (``template:gdpr-eu`` when no
    ``--policy`` was given)."""
    if default_policy is None:
        default_policy = report.policy.path.startswith("template:")
    s = report.summary
    policy = f"policy {report.policy.name}" + (" (default template)" if default_policy else "")
    allowed = ", ".join(report.policy.authorized)
    caveats = list(s.caveats)
    if s.judged == 0 and caveats:
        counts = caveats.pop(0)
        head = f"{counts} ({policy} [authorized: {allowed}])"
    else:
        weak = f" ({s.violations_geoip_only} on GeoIP alone)" if s.violations_geoip_only else ""
        ignored = f", {s.not_assessed} not assessed" if s.not_assessed else ""
        counts = (f"{s.violations} violation{'s' if s.violations != 1 else ''}{weak}, {s.indeterminate} indeterminate, "
                  f"{s.compliant} compliant{ignored} of {s.destinations} destination{'s' if s.destinations != 1 else ''}")
        head = f"{counts} under {policy} [authorized: {allowed}]"
    tail = "".join(f"; {caveat}" for caveat in caveats)
    verdict = getattr(s.verdict, "value", s.verdict)
    return f"{str(verdict).upper()}: {head}{tail}"
