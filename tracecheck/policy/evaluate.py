"""A verdict per destination -- compliant, violation or indeterminate -- with reasons a reviewer reads.

The order of the questions is the order of their authority:

1. A local address (private, loopback, link-local, documentation) never leaves the site: compliant.
2. Ignored traffic (``ignore:`` entries, ``action: ignore`` rules) is not judged: compliant, and
   the first reason says "not assessed".
3. Anycast, or no place at all: indeterminate.  Unknown is never silently compliant.
4. The place against the authorized set of the most specific rule (vendor, then category, then
   the policy); sources that disagree beyond ``tolerate_disagreement`` make it indeterminate.
5. The RTT bound (when a site and a handshake RTT are known): a place farther than light can go
   makes the destination indeterminate.
6. An unexpired exception that matches turns a violation or an indeterminate into compliant;
   an expired one is reported ("exception X expired on D") and changes nothing.

``Destination`` is what the caller knows of an address besides its place and service.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from tracecheck.policy import claims as claimlib
from tracecheck.policy.model import Authorized, Policy, Rule
from tracecheck.policy.physics import Site, check_place
from tracecheck.vocabulary import Category, Evidence, Flow, Place, Service, Verdict

_NAME_SOURCE_LABEL = {"sni": "SNI", "quic_sni": "QUIC SNI", "http_host": "HTTP Host", "sip": "SIP",
                      "dns": "DNS", "dns_cname": "DNS CNAME"}


@dataclass(frozen=True)
class Destination:
    """One destination address as the policy sees it."""

    ip: str
    names: tuple[str, ...] = ()
    """Names seen for the address, strongest first (SNI, then DNS answers, then CNAME chain)."""
    name_sources: tuple[str, ...] = ()
    """How each of ``names`` was learned (``sni``, ``dns`` ...), in the same order; may be shorter."""
    category: Category | None = None
    """Overrides the service's category: set it for media flows from the call (``classify_media``)."""
    handshake_rtt_ms: float | None = None
    """The smallest handshake RTT over the destination's flows: the tightest distance bound."""


@dataclass(frozen=True)
class Assessment:
    """A verdict with everything the report needs to explain it."""

    verdict: Verdict
    reasons: tuple[str, ...]
    fails: bool
    """True when this destination makes the run fail: a violation, or an indeterminate under a
    rule whose ``indeterminate`` is ``fail``."""
    ignored: bool = False
    exception: str = ""
    """The id of the exception that made it compliant, if one did."""
    evidence: tuple[Evidence, ...] = field(default=())
    """Evidence the policy stage adds (the RTT bound); geo's own evidence stays on the Place."""


def evaluate(destination: Destination, place: Place, service: Service | None, policy: Policy,
             today: date, site: Site | None = None) -> tuple[Verdict, list[str]]:
    """The verdict for one destination and the sentences that justify it (see ``assess``)."""
    result = assess(destination, place, service, policy, today, site)
    return result.verdict, list(result.reasons)


def assess(destination: Destination, place: Place, service: Service | None, policy: Policy,
           today: date, site: Site | None = None) -> Assessment:
    """Judge one destination. ``site`` (the CLI's ``--site``) overrides the policy's ``site``."""
    category = destination.category or (service.category if service else None)
    vendor = service.vendor if service else ""
    subject = _subject(category, service)
    evidence_text = _evidence_text(destination, place, service)
    names = destination.names
    expired = [f"Exception {exc.id} expired on {exc.expires.isoformat()}; it no longer applies."
               for exc in policy.exceptions
               if not exc.active_on(today) and exc.matches(destination.ip, names, vendor, category)]

    if place.local:
        sentence = (f"{subject} at {destination.ip}: a local address (private, loopback, link-local or "
                    f"documentation); traffic to it does not leave the site.")
        return Assessment(Verdict.COMPLIANT, (sentence,), fails=False)

    for index, rule in enumerate(policy.ignore):
        if rule.matches(destination.ip, names, vendor, category):
            why = f": {rule.reason}" if rule.reason else ""
            sentence = (f"{subject} at {destination.ip}: not assessed, ignored by the policy "
                        f"(ignore[{index}]: {rule.describe()}{why}).")
            return Assessment(Verdict.COMPLIANT, (sentence,), fails=False, ignored=True)

    rule, rule_name = _rule_for(policy, service, category)
    if rule is not None and rule.action == "ignore":
        why = f": {rule.reason}" if rule.reason else ""
        return Assessment(Verdict.COMPLIANT, (
            f"{subject} at {destination.ip}: not assessed, {rule_name} is ignored by the policy{why}.",),
                          fails=False, ignored=True)
    authorized = (rule.authorized if rule is not None and rule.authorized else None) or policy.authorized
    mode = (rule.indeterminate if rule is not None and rule.indeterminate else None) or policy.indeterminate
    rule_note = f" (rule {rule_name})" if rule is not None and rule.authorized else ""

    verdict, reasons = _locate(destination, place, service, policy, authorized, subject, rule_note)
    extra: list[Evidence] = []
    reasons[0] = f"{reasons[0]} Evidence: {evidence_text}." if evidence_text else reasons[0]

    site = site or _policy_site(policy)
    if site is not None and destination.handshake_rtt_ms is not None and verdict is not Verdict.INDETERMINATE:
        check = check_place(site, destination.handshake_rtt_ms, place)
        if check is not None:
            extra.append(check.evidence())
            if check.outcome == "implausible":
                verdict = Verdict.INDETERMINATE
                reasons.insert(0, f"{subject} at {destination.ip}: the claimed place is physically implausible: "
                                  f"{check.sentence()}.")
            elif check.outcome == "corroborated":
                reasons.append(f"Physics corroborates the place: {check.sentence()}.")

    allowed_by = ""
    if verdict is not Verdict.COMPLIANT:
        for exc in policy.exceptions:
            if exc.active_on(today) and exc.matches(destination.ip, names, vendor, category):
                reasons = [f"Allowed by exception {exc.id} until {exc.expires.isoformat()}: {exc.justification} "
                           f"(reference: {exc.reference}). Without it the destination would be {verdict.value}: "
                           + reasons[0]] + reasons[1:]
                verdict, allowed_by = Verdict.COMPLIANT, exc.id
                break

    if verdict is Verdict.INDETERMINATE:
        reasons.append(f"The policy says an indeterminate destination {'fails' if mode == 'fail' else 'warns'} "
                       f"(indeterminate: {mode}).")
    fails = verdict is Verdict.VIOLATION or (verdict is Verdict.INDETERMINATE and mode == "fail")
    return Assessment(verdict, tuple(reasons + expired), fails=fails, exception=allowed_by, evidence=tuple(extra))


def _locate(destination: Destination, place: Place, service: Service | None, policy: Policy,
            authorized: Authorized, subject: str, rule_note: str) -> tuple[Verdict, list[str]]:
    """Steps 3 and 4: anycast or unknown, then the place against the authorized set."""
    evidence_claims = claimlib.claims_from_evidence(place.evidence)
    hostname_claim = claimlib.claim_from_hostname(service)
    hinted = f"; the hostname implies {service.region}" if service and service.region else ""
    if place.anycast:
        sentence = (f"{subject} at {destination.ip}: an anycast or global address, announced from many places; "
                    f"no single country can be claimed{hinted}.")
        return Verdict.INDETERMINATE, [sentence]
    notes: list[str] = []
    if place.country:
        primary = claimlib.claim_from_place(place, evidence_claims + ([hostname_claim] if hostname_claim else []))
    elif hostname_claim is not None:
        primary = hostname_claim
        notes.append(f"No address source places {destination.ip}; the place comes from the hostname alone "
                     f"({service.matched if service else ''}).")
    else:
        sentence = (f"{subject} at {destination.ip}: no source places this address (no provider range, "
                    f"geofeed or GeoIP answer){hinted}.")
        return Verdict.INDETERMINATE, [sentence]

    decision = claimlib.authorize(primary, authorized)
    at = f"{subject} at {_where(primary, destination.ip)}"
    if decision.allowed is None:
        verdict, sentence = Verdict.INDETERMINATE, f"{at}: {decision.because}{rule_note}."
    elif decision.allowed:
        verdict, sentence = Verdict.COMPLIANT, f"{at}: {decision.because}{rule_note}."
    else:
        verdict, sentence = Verdict.VIOLATION, f"{at}: {decision.because}{rule_note}."

    others = [c for c in evidence_claims + ([hostname_claim] if hostname_claim else []) if not c.same_place(primary)]
    if service and service.region and place.region and service.region != place.region:
        notes.append(f"The hostname implies region {service.region}; the address ranges say {place.region}.")
    if others:
        disagreement = "Sources disagree: " + "; ".join(
            [f"{primary.source} says {primary.label()}"] + [f"{c.source} says {c.label()}" for c in _unique(others)]) + "."
        blocking = _blocking(others, primary, decision.allowed, authorized, policy.tolerate_disagreement)
        if blocking and verdict is not Verdict.INDETERMINATE:
            verdict = Verdict.INDETERMINATE
            sentence = (f"{at}: sources disagree beyond what the policy tolerates "
                        f"(tolerate_disagreement: {policy.tolerate_disagreement}): {blocking}. "
                        f"Taken alone, {decision.because}.")
        else:
            notes.append(disagreement + (" The policy tolerates it." if not blocking else ""))
    return verdict, [sentence] + notes


def _blocking(others: list[claimlib.Claim], primary: claimlib.Claim, allowed: bool | None,
              authorized: Authorized, tolerance: str) -> str:
    """Why the disagreement prevents a verdict, or "" if the policy tolerates it."""
    if tolerance == "any":
        return ""
    for claim in others:
        if tolerance == "none" and claim.rank > claimlib.RANK_NOT_A_LOCATION:
            if claim.country != primary.country or authorized.regions:
                return f"{claim.source} says {claim.label()}, not {primary.label()}"
        elif tolerance == "weaker_sources" and claim.rank >= primary.rank:
            if claimlib.authorize(claim, authorized).allowed != allowed:
                return (f"{claim.source} says {claim.label()}, as authoritative as the source that says "
                        f"{primary.label()}, and the answers lead to different verdicts")
    return ""


def _unique(claims: list[claimlib.Claim]) -> list[claimlib.Claim]:
    seen, kept = set(), []
    for claim in claims:
        key = (claim.source, claim.label())
        if key not in seen:
            seen.add(key)
            kept.append(claim)
    return kept


def _rule_for(policy: Policy, service: Service | None, category: Category | None) -> tuple[Rule | None, str]:
    """The most specific rule: vendor and service name, then vendor, then category."""
    if service is not None:
        by_key = {key.casefold(): (key, rule) for key, rule in policy.vendors.items()}
        for wanted in (f"{service.vendor} {service.name}", service.name, service.vendor):
            if wanted and wanted.casefold() in by_key:
                key, rule = by_key[wanted.casefold()]
                return rule, f"vendors.{key}"
    if category is not None and category in policy.categories:
        return policy.categories[category], f"categories.{category.value}"
    return None, ""


def _policy_site(policy: Policy) -> Site | None:
    if not policy.site:
        return None
    from tracecheck.policy.physics import parse_site

    return parse_site(policy.site)


def _subject(category: Category | None, service: Service | None) -> str:
    """``transcription, AWS Transcribe``: what kind of service and whose."""
    if service is None:
        return f"{category.value}, unclassified destination" if category else "unclassified destination"
    label = service.name if service.name.lower().startswith(service.vendor.lower()) else f"{service.vendor} {service.name}"
    return f"{(category or service.category).value}, {label.strip()}"


def _where(claim: claimlib.Claim, ip: str) -> str:
    """``us-east-1 (US, Ashburn)``."""
    detail = ", ".join(part for part in (claim.country, claim.city or claim.subdivision) if part)
    return f"{claim.region or ip} ({detail})" if detail else (claim.region or ip)


def _evidence_text(destination: Destination, place: Place, service: Service | None) -> str:
    parts = []
    for index, name in enumerate(destination.names[:3]):
        source = destination.name_sources[index] if index < len(destination.name_sources) else ""
        parts.append(f"{_NAME_SOURCE_LABEL.get(source, source)} {name}".strip())
    for item in place.evidence:
        parts.append(f"{item.source} {item.claim}" + (f" ({item.detail})" if item.detail else ""))
    if service is not None and service.matched:
        parts.append(f"catalog {service.matched}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- the run as a whole


def overall_verdict(assessments: Iterable[Assessment]) -> Verdict:
    """CONTRACT.md's ``summary.verdict``: violation if any; else indeterminate if an indeterminate
    destination fails under its policy rule; else compliant."""
    assessments = list(assessments)
    if any(a.verdict is Verdict.VIOLATION for a in assessments):
        return Verdict.VIOLATION
    if any(a.verdict is Verdict.INDETERMINATE and a.fails for a in assessments):
        return Verdict.INDETERMINATE
    return Verdict.COMPLIANT


def exit_code(assessments: Iterable[Assessment]) -> int:
    """0 when nothing fails, 1 when a violation or a failing indeterminate was found."""
    return 1 if any(a.fails for a in assessments) else 0


def flow_in_scope(flow: Flow, policy: Policy, call_spans: Iterable[tuple[float, float]] = ()) -> bool:
    """Whether the policy's ``scope`` covers ``flow``.  ``call_spans`` are the (first_ts, last_ts)
    of the capture's SIP calls; they matter only with ``sip_calls_only``."""
    scope = policy.scope
    first, last = flow.ts, flow.ts + max(flow.duration, 0.0)
    if scope.start and last < scope.start.timestamp():
        return False
    if scope.end and first > scope.end.timestamp():
        return False
    if scope.clients:
        try:
            client = ipaddress.ip_address(flow.orig_h)
        except ValueError:
            return False
        if not any(client in ipaddress.ip_network(net) for net in scope.clients):
            return False
    if scope.sip_calls_only:
        pad = scope.call_padding_seconds
        if not any(first <= end + pad and last >= start - pad for start, end in call_spans):
            return False
    return True


def today_utc() -> date:
    """The date exceptions are judged on: ``SOURCE_DATE_EPOCH`` when set (reproducible reports),
    else today in UTC.  A caller reviewing an old capture may pass the capture's date instead."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC).date()
    return datetime.now(UTC).date()
