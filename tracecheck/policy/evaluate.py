"""A verdict per destination -- compliant, violation, indeterminate or not assessed -- with reasons
a reviewer reads.

The one rule: **evidence may make a verdict stricter, never laxer; nothing is compliant without
evidence.**  The order of the questions is the order of their authority:

1. A local address (private, loopback, link-local, documentation) never leaves the site: compliant.
2. Ignored traffic (``ignore:`` entries, ``action: ignore`` rules) is not judged: ``not_assessed``,
   with the rule that ignores it -- never counted or shown as compliant.
3. Anycast, or no place at all: indeterminate.  Unknown is never silently compliant.
4. The place geo decided against the authorized set of the most specific rule (vendor and
   service, vendor, then category, then the policy).  A source that disagrees, and that
   ``tolerate_disagreement`` does not tolerate, turns a compliant place into indeterminate; a
   violation stays a violation, flagged ``sources_disagree``.
5. The RTT bound (when a site and a handshake RTT are known): a compliant place farther than light
   can go becomes indeterminate.  A violation stays a violation, flagged ``rtt_implausible``: a
   TLS-intercepting proxy, an SBC or a TURN relay near the capture point makes every RTT short.
6. An unexpired exception that matches (vendor, service, category, host, ip, and, if it is bounded
   to places, the destination's place) turns a violation or an indeterminate into compliant, and
   says so (``exception: ID``); an expired one is reported and changes nothing.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import groupby

from tracecheck.policy import claims as claimlib
from tracecheck.policy.model import Authorized, Policy, PolicyException, Rule
from tracecheck.policy.physics import Site, check_place
from tracecheck.vocabulary import (
    Assessment,
    Category,
    Destination,
    Evidence,
    Flow,
    Place,
    Service,
    Verdict,
    basis_of,
)

_NAME_SOURCE_LABEL = {"sni": "SNI", "quic_sni": "QUIC SNI", "http_host": "HTTP Host", "sip": "SIP",
                      "dns": "DNS", "dns_cname": "DNS CNAME", "stun_realm": "STUN REALM", "banner": "server greeting"}

RTT_IMPLAUSIBLE = "rtt_implausible"
SOURCES_DISAGREE = "sources_disagree"


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
    service_name = service.name if service else ""
    subject = _subject(category, service)
    names = destination.selectable_names
    expired = [f"Exception {exc.id} expired on {exc.expires.isoformat()}; it no longer applies."
               for exc in policy.exceptions
               if not exc.active_on(today) and exc.matches(destination.ip, names, vendor, category, service_name)]

    if place.local:
        sentence = (f"{subject} at {destination.ip}: a local address (private, loopback, link-local or "
                    f"documentation); traffic to it does not leave the site.")
        return Assessment(Verdict.COMPLIANT, (sentence,), fails=False, basis="local")

    for index, rule in enumerate(policy.ignore):
        if rule.matches(destination.ip, names, vendor, category, service_name):
            why = f": {rule.reason}" if rule.reason else ""
            sentence = (f"not assessed: {subject} at {destination.ip} is ignored by the policy "
                        f"(ignore[{index}]: {rule.describe()}{why}).")
            return Assessment(Verdict.NOT_ASSESSED, (sentence,), fails=False, rule=f"ignore[{index}]")

    rule, rule_name = _rule_for(policy, service, category)
    if rule is not None and rule.action == "ignore":
        why = f": {rule.reason}" if rule.reason else ""
        sentence = f"not assessed: {subject} at {destination.ip}; {rule_name} is ignored by the policy{why}."
        return Assessment(Verdict.NOT_ASSESSED, (sentence,), fails=False, rule=rule_name)
    authorized = (rule.authorized if rule is not None and rule.authorized else None) or policy.authorized
    mode = (rule.indeterminate if rule is not None and rule.indeterminate else None) or policy.indeterminate
    rule_note = f" (rule {rule_name})" if rule is not None and rule.authorized else ""

    read = _read_place(place)
    located = _locate(destination, place, read, service, policy, authorized, subject, rule_note)
    verdict, reasons, flags = located.verdict, located.reasons, located.flags
    evidence_text = _evidence_text(destination, read, service)
    reasons[0] = f"{reasons[0]} Evidence: {evidence_text}." if evidence_text else reasons[0]

    extra: list[Evidence] = []
    site = site or policy_site(policy)
    if site is not None and destination.handshake_rtt_ms is not None:
        check = check_place(site, destination.handshake_rtt_ms, place)
        if check is not None:
            extra.append(check.evidence())
            if check.outcome == "implausible":
                flags.append(RTT_IMPLAUSIBLE)
                if verdict is Verdict.COMPLIANT:
                    verdict = Verdict.INDETERMINATE
                    reasons.insert(0, f"{subject} at {destination.ip}: the claimed place is physically implausible: "
                                      f"{check.sentence()}.")
                else:  # a middlebox near the capture point gives this picture: it clears nothing
                    reasons.append(f"The handshake RTT contradicts the claimed place ({check.sentence()}); a "
                                   f"TLS-intercepting proxy, an SBC or a TURN relay near the capture point gives "
                                   f"this picture, so the {verdict.value} stands.")
            elif check.outcome == "corroborated":
                reasons.append(f"Physics corroborates the place: {check.sentence()}.")

    allowed_by = ""
    if verdict is not Verdict.COMPLIANT:
        exception = _exception_for(policy, today, destination, vendor, category, service_name, located.claim)
        if exception is not None:
            bound = f" in {exception.places()}" if exception.bounded else ""
            reasons = [f"exception: {exception.id} -- allowed{bound} until {exception.expires.isoformat()}: "
                       f"{exception.justification} (reference: {exception.reference}). Without it the destination "
                       f"would be {verdict.value}: " + reasons[0]] + reasons[1:]
            verdict, allowed_by = Verdict.COMPLIANT, exception.id

    if verdict is Verdict.INDETERMINATE:
        reasons.append(f"The policy says an indeterminate destination {'fails' if mode == 'fail' else 'warns'} "
                       f"(indeterminate: {mode}).")
    fails = verdict is Verdict.VIOLATION or (verdict is Verdict.INDETERMINATE and mode == "fail")
    return Assessment(verdict, tuple(reasons + expired), fails=fails, exception=allowed_by, evidence=tuple(extra),
                      basis=basis_of(located.claim.kind) if located.claim is not None else "",
                      flags=tuple(dict.fromkeys(flags)), rule=rule_name)


class _Located:
    """Steps 3 and 4: the verdict from the place alone, its reasons, flags and deciding claim."""

    def __init__(self, verdict: Verdict, reasons: list[str], claim: claimlib.Claim | None, flags: list[str] | None = None):
        self.verdict, self.reasons, self.claim, self.flags = verdict, reasons, claim, flags or []


def _locate(destination: Destination, place: Place, read: _PlaceRead, service: Service | None, policy: Policy,
            authorized: Authorized, subject: str, rule_note: str) -> _Located:
    hinted = f"; the hostname implies {service.region}" if service and service.region else ""
    primary, others = read.primary, read.others
    if primary is None:
        sentence = (f"{subject} at {destination.ip}: no source places this address (no provider range, "
                    f"vendor hostname, geofeed or GeoIP answer){hinted}.")
        return _Located(Verdict.INDETERMINATE, [sentence], None)
    if primary.where.anycast:
        sentence = (f"{subject} at {destination.ip}: an anycast or global address ({primary.source} says so), "
                    f"announced from many places; no single country can be claimed{hinted}.")
        return _Located(Verdict.INDETERMINATE, [sentence], primary)

    decision = claimlib.authorize(primary, authorized)
    at = f"{subject} at {_where(primary, destination.ip)}"
    verdict = {None: Verdict.INDETERMINATE, True: Verdict.COMPLIANT, False: Verdict.VIOLATION}[decision.allowed]
    sentence = f"{at}: {decision.because}{rule_note}."
    notes: list[str] = []
    flags: list[str] = []
    if service and service.region and place.region and service.region != place.region:
        notes.append(f"The hostname implies region {service.region}; the address ranges say {place.region}.")
    if others:
        flags.append(SOURCES_DISAGREE)
        said = "; ".join([f"{primary.source} says {primary.label()}"] + [f"{c.source} says {c.label()}" for c in others])
        blocking = _blocking(others, primary, decision.allowed, authorized, policy.tolerate_disagreement)
        if blocking and verdict is Verdict.COMPLIANT:
            verdict = Verdict.INDETERMINATE
            sentence = (f"{at}: sources disagree beyond what the policy tolerates "
                        f"(tolerate_disagreement: {policy.tolerate_disagreement}): {blocking}. "
                        f"Taken alone, {decision.because}.")
        elif blocking:  # evidence makes a verdict stricter, never laxer: the violation stands
            notes.append(f"Sources disagree: {said}. The {verdict.value} stands: the most authoritative source "
                         f"decides, and a disagreeing one never clears it.")
        else:
            notes.append(f"Sources disagree: {said}. The policy tolerates it.")
    return _Located(verdict, [sentence] + notes, primary, flags)


@dataclass(frozen=True)
class _PlaceRead:
    """What the reasons make of a place: the claim of the place geo decided (None: nothing placed
    it), the other sources' claims that place the address elsewhere (each source and place once),
    and how its evidence is cited."""

    evidence: tuple[Evidence, ...]
    """The tuple read (kept, so that its id, the cache's key, stays its own)."""
    primary: claimlib.Claim | None
    others: list[claimlib.Claim]
    cited: list[str]


def _read_place(place: Place) -> _PlaceRead:
    """``_PlaceRead`` of ``place``.  Asked per destination, and the same for every address geo
    answered alike: geo gives those one evidence tuple (and the same decided fields), so it is kept
    for the last few thousand tuples, keyed by the tuple's identity and every field the claims
    are made of."""
    key = (id(place.evidence), place.country, place.subdivision, place.region, place.provider, place.city,
           place.anycast, place.basis, place.jurisdictions)
    found = _PLACES_READ.get(key)
    if found is not None and found.evidence is place.evidence:
        return found
    primary = claimlib.claim_from_place(place)
    others = [] if primary is None else _unique([claim for claim in claimlib.claims_from_evidence(place.evidence)
                                                 if not claim.same_place(primary)])
    # Claims a source made in one answer (a GeoIP prefix's country and AS name) share their
    # detail: said once, after the last of them.
    cited = [f"{source} {', '.join(item.claim for item in items)}" + (f" ({detail})" if detail else "")
             for (source, detail), items in groupby(place.evidence, key=lambda item: (item.source, item.detail))]
    if len(_PLACES_READ) >= _PLACES_KEPT:
        _PLACES_READ.clear()
    found = _PLACES_READ[key] = _PlaceRead(place.evidence, primary, others, cited)
    return found


_PLACES_READ: dict[tuple, _PlaceRead] = {}
_PLACES_KEPT = 4096


def _blocking(others: list[claimlib.Claim], primary: claimlib.Claim, allowed: bool | None,
              authorized: Authorized, tolerance: str) -> str:
    """Why the disagreement prevents a verdict, or "" if the policy tolerates it."""
    if tolerance == "any":
        return ""
    for claim in others:
        if tolerance == "none":
            if claim.where.anycast or claim.where.country != primary.where.country or authorized.regions:
                return f"{claim.source} says {claim.label()}, not {primary.label()}"
        elif tolerance == "weaker_sources" and claim.rank <= primary.rank:
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


def _exception_for(policy: Policy, today: date, destination: Destination, vendor: str, category: Category | None,
                   service_name: str, claim: claimlib.Claim | None) -> PolicyException | None:
    """The first unexpired exception that covers the destination, and its place if it is bounded."""
    for exception in policy.exceptions:
        if not exception.active_on(today):
            continue
        if not exception.matches(destination.ip, destination.selectable_names, vendor, category, service_name):
            continue
        if exception.bounded and not claimlib.in_places(claim, exception.regions, exception.countries,
                                                        exception.jurisdictions):
            continue
        return exception
    return None


def exception_matches(exception: PolicyException, destination: Destination, place: Place,
                      service: Service | None) -> bool:
    """Whether ``exception`` (active or not) covers this destination, place bounds included: what
    the report lists as the exception's matches."""
    category = destination.category or (service.category if service else None)
    if not exception.matches(destination.ip, destination.selectable_names, service.vendor if service else "", category,
                             service.name if service else ""):
        return False
    return not exception.bounded or claimlib.in_places(claimlib.claim_from_place(place), exception.regions,
                                                       exception.countries, exception.jurisdictions)


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


def policy_site(policy: Policy) -> Site | None:
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
    detail = ", ".join(part for part in (claim.where.country, claim.where.city or claim.where.subdivision) if part)
    return f"{claim.where.region or ip} ({detail})" if detail else (claim.where.region or ip)


def _evidence_text(destination: Destination, read: _PlaceRead, service: Service | None) -> str:
    parts = []
    for index, name in enumerate(destination.names[:3]):
        source = destination.name_sources[index] if index < len(destination.name_sources) else ""
        parts.append(f"{_NAME_SOURCE_LABEL.get(source, source)} {name}".strip())
    parts += read.cited
    if service is not None and service.matched:
        parts.append(f"catalog {service.matched}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- the run as a whole


# judged, overall_verdict and exit_code read only ``verdict``, ``fails`` and ``basis``: they take
# assessments or the report's destinations, which carry the same three.


def judged(assessments: Iterable[Assessment]) -> int:
    """Destinations beyond the local network that got a verdict on evidence: compliant or a
    violation.  An indeterminate one could not be judged; a ``not_assessed`` one was not asked."""
    return sum(1 for a in assessments if a.verdict in (Verdict.COMPLIANT, Verdict.VIOLATION) and a.basis != "local")


def overall_verdict(assessments: Iterable[Assessment]) -> Verdict:
    """CONTRACT.md's ``summary.verdict``: violation if any; else indeterminate if no destination was
    judged at all (nothing is compliant without evidence: an empty, thin, fully ignored or wholly
    unplaceable capture) or an indeterminate destination fails under its policy rule; else compliant."""
    assessments = list(assessments)
    if any(a.verdict is Verdict.VIOLATION for a in assessments):
        return Verdict.VIOLATION
    if not judged(assessments) or any(a.verdict is Verdict.INDETERMINATE and a.fails for a in assessments):
        return Verdict.INDETERMINATE
    return Verdict.COMPLIANT


def exit_code(assessments: Iterable[Assessment]) -> int:
    """0 when nothing fails; 1 when a violation or a failing indeterminate was found, or when no
    destination was judged at all (an empty, fully ignored or scoped-away capture proves nothing)."""
    assessments = list(assessments)
    return 1 if any(a.fails for a in assessments) or not judged(assessments) else 0


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
