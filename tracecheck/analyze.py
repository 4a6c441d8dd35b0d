"""`analyze`: capture files in, a report directory and an exit code out -- the stages wired together.

    flows + names + calls  (flows.pipeline)   every record read and accounted for
    destinations           (destinations)     one record per remote address
    places                 (geo.lookup)       once per address, names as hostname evidence
    services               (classify)         call media take the category of their call
    verdicts               (policy)           with reasons; local addresses never violate
    report                 (report.writer)    report.json, report.html, flows.csv, manifest

Nothing here decides anything a stage already decides; it only hands each stage what the one
before it produced.  Dates (exception expiry, the age of data sources) are judged as of the
capture's last packet -- or SOURCE_DATE_EPOCH -- never the wall clock, so that the same inputs
give the same report.json, byte for byte, on any day.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from tracecheck import __version__
from tracecheck.classify import classify, classify_media, load_catalog
from tracecheck.classify.catalog import Catalog, normalize_host
from tracecheck.collector import collector_paused, give_back_freed_memory
from tracecheck.destinations import DestinationTraffic, gather, local_addresses
from tracecheck.errors import UserError
from tracecheck.flows.pipeline import FlowResult, build_named_flows
from tracecheck.observability import observability_notes
from tracecheck.geo.hostnames import HostnameHint, catalog_hint
from tracecheck.policy import (
    Assessment,
    Policy,
    assess,
    exit_code,
    flow_in_scope,
    overall_verdict,
    parse_policy,
    policy_warnings,
)
from tracecheck.policy import Destination as PolicyDestination
from tracecheck.policy import judged as judged_count
from tracecheck.policy.evaluate import RTT_IMPLAUSIBLE, exception_matches, policy_site, today_utc
from tracecheck.policy.physics import Site, SiteError, parse_site
from tracecheck.report import model
from tracecheck.vocabulary import (
    Call, Category, Evidence, Place, Service, SourceInfo, SourceKind, Verdict, date_label,
)
from tracecheck.yamlfile import read_yaml

DEFAULT_TEMPLATE = "gdpr-eu"
"""The policy judged against when none is given: EU/EEA only, the strictest common case."""

# Categories that say only "this is part of the call platform": a media flow's own name in one
# of these does not outweigh the category of the call it carries.
_GENERIC_CATEGORIES = {None, Category.PLATFORM, Category.MEDIA, Category.OTHER, Category.CDN}


@dataclass(frozen=True, slots=True)
class Judged:
    """One destination as the report shows it (its verdict, fails, basis, exception and flags are
    the assessment's), and what the run's warnings need beyond it.  The assessment itself is not
    kept: a hundred thousand of them cost 18 MB at the run's peak."""

    destination: model.Destination
    covers: tuple[str, ...]
    """Ids of the policy's exceptions whose selector (and places) cover this destination."""
    rtt_checked: bool
    """The RTT bound was checked against its place (the policy's or --site's site, a handshake RTT)."""


@dataclass(frozen=True)
class AnalysisResult:
    """What ``analyze`` produced: the report as written, and what the CLI needs to print."""

    report: model.Report
    exit_code: int
    """CONTRACT.md: 0 nothing fails, 1 a violation (or an indeterminate under ``indeterminate: fail``)."""
    out_dir: Path
    files: tuple[Path, ...]
    default_policy: bool
    """True when no policy was given and the ``gdpr-eu`` template was used."""
    reading: FlowResult
    """The flow stage's result (record accounting, capture warnings)."""


@dataclass(frozen=True)
class AnalyzeRequest:
    """Everything ``analyze`` needs, resolved by the caller (the CLI's ``analyze`` and
    ``capture --analyze``): no stage reads the command line's settings."""

    captures: tuple[Path, ...]
    """pcap or pcapng files (optionally gzip-compressed), read in order."""
    db_dir: Path
    """The data directory of imported sources (the CLI resolves ``--db`` and TRACECHECK_DB)."""
    policy: Path | None = None
    """The residency policy; None: the ``gdpr-eu`` template."""
    out_dir: Path | None = None
    """The report directory; None: ``reports/<first capture's name>``."""
    formats: tuple[str, ...] = ()
    """Report formats beyond the ones always written (``sarif``, ``pdf`` ...)."""
    site: str | None = None
    """Where the capture was taken; None: the capture file's own site, else the policy's."""
    catalogs: tuple[Path, ...] = ()
    """Extra service catalogs."""
    rdap: bool = False
    """Also ask RDAP registries (uses the network)."""
    sign_key: Path | None = None
    """Ed25519 private key to sign the manifest with."""
    force: bool = False
    """Write into a directory holding files tracecheck did not write (``report.writer``)."""
    sensor: str = ""
    """Judge sensor logs instead of captures: ``zeek``, ``eve`` or ``flows`` (a flow dataset)."""
    logs: tuple[str, ...] = ()
    """The sensor's log files, directories or globs (``sensor``); ``captures`` is then empty."""
    scheduler: str | None = None
    """Where the logs are aggregated: None locally, ``tcp://HOST:PORT`` a dask.distributed cluster."""


@dataclass(frozen=True)
class _Checked:
    """A request's inputs, read and checked before any capture is."""

    policy: Policy
    default_policy: bool
    policy_bytes: bytes
    site: Site | None
    catalog: Catalog
    catalog_copies: dict
    formats: set[str]
    out: Path


def check(request: AnalyzeRequest) -> _Checked:
    """Every input a user can get wrong (policy, site, catalog, formats, signing key, the report
    directory), checked before the captures are read -- or, for ``capture --analyze``, before
    capturing: a mistake costs a second, not a long read or a second test call."""
    from tracecheck.report.manifest import load_signing_key
    from tracecheck.report.writer import check_formats, check_out_dir, read_copies

    if request.sensor and request.captures:
        raise UserError("give either capture files or sensor logs (--zeek, --eve, --flows), not both: "
                        "judge them in two runs")
    if request.sensor and not request.logs:
        raise UserError(f"--{request.sensor} needs at least one path")
    if not request.captures and not request.sensor:
        raise UserError("analyze needs at least one capture file (pcap, pcapng, optionally .gz), "
                        "or sensor logs (--zeek, --eve, --flows)")
    if request.scheduler and not request.sensor:
        raise UserError("--scheduler aggregates sensor logs (--zeek, --eve, --flows); captures are read locally")
    formats = {f.strip().lower() for f in request.formats if f.strip()}
    check_formats(formats)
    if request.sign_key is not None:
        load_signing_key(Path(request.sign_key))
    policy, default_policy, policy_bytes = _load_policy(request.policy)
    site = parse_site(request.site) if request.site else None
    catalog = load_catalog(extra=[Path(p) for p in request.catalogs])
    catalog_copies = read_copies(request.catalogs)
    out = Path(request.out_dir) if request.out_dir is not None else default_out_dir((request.captures or request.logs)[0])
    check_out_dir(out, request.force)
    return _Checked(policy, default_policy, policy_bytes, site, catalog, catalog_copies, formats, out)


def analyze(request: AnalyzeRequest, progress: Callable[[str, int, int], None] | None = None) -> AnalysisResult:
    """Run the whole pipeline over the request's captures and write the report into its ``out_dir``.

    The cyclic collector is paused throughout: every stage makes a few lasting objects per
    destination and no cycles, and with a hundred thousand destinations the collections it would
    start cost a fifth of the run and free nothing (``tracecheck.collector``)."""
    with collector_paused():
        return _analyze(request, progress)


@dataclass
class _JudgeInput:
    """What the judging loop needs, from captures (``_read_captures``) or from sensor logs
    (``sensors.judge_input.read_logs``, which gives the same fields)."""

    reading: FlowResult
    """The flow stage's result, or the logs' (``sensors.judge_input.LogReading``, its shape)."""
    traffic: dict[str, DestinationTraffic]
    local: set[str]
    observability: list[str]
    outside_scope: int
    calls: list[Call] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Report warnings of the input kind (what sensor logs cannot show)."""


def _analyze(request: AnalyzeRequest, progress: Callable[[str, int, int], None] | None) -> AnalysisResult:
    checked = check(request)
    if request.sensor:
        from tracecheck.sensors.judge_input import read_logs

        logs = read_logs(request.sensor, request.logs, checked.policy, request.scheduler, progress)
        read = _JudgeInput(logs.reading, logs.traffic, logs.local, logs.observability, logs.outside_scope,
                           notes=logs.notes)
    else:
        read = _read_captures(request, checked.policy, progress)
    return _judge_and_write(request, checked, read)


def _read_captures(request: AnalyzeRequest, policy: Policy,
                   progress: Callable[[str, int, int], None] | None) -> _JudgeInput:
    """The captures' flows, names and calls, per destination."""
    named = build_named_flows([str(p) for p in request.captures], hash_files=True, progress=progress)
    reading, calls, names, relayed, turn_flows = (named.result, named.calls, named.names, named.relayed,
                                                  named.turn_flows)
    del named  # the dissectors' per-flow state goes with it: a few hundred bytes a destination
    reading.builder = None  # the builder's raw columns and open-flow index: the table has what follows needs
    give_back_freed_memory()
    spans = [(call.first_ts, call.last_ts) for call in calls]
    in_scope = (list(reading.flows) if policy.scope.covers_everything
                else [flow for flow in reading.flows if flow_in_scope(flow, policy, spans)])
    outside_scope = len(reading.flows) - len(in_scope)
    local = local_addresses([ip for flow in in_scope for ip in (flow.orig_h, flow.resp_h)]
                            + [peer.ip for peer in relayed])
    traffic = gather(in_scope, names, calls, relayed, local)
    del names
    observability = observability_notes(traffic, local, outside_scope) + _hidden_relay_peers(relayed, turn_flows,
                                                                                             in_scope)
    return _JudgeInput(reading, traffic, local, observability, outside_scope, calls)


def _judge_and_write(request: AnalyzeRequest, checked: _Checked, read: _JudgeInput) -> AnalysisResult:
    from tracecheck.report.writer import write_report

    policy, catalog, out = checked.policy, checked.catalog, checked.out
    default_policy = checked.default_policy
    reading, traffic, calls, outside_scope = read.reading, read.traffic, read.calls, read.outside_scope
    site, site_source, site_notes = _choose_site(checked.site, reading, policy)
    on = reference_date(reading)

    from tracecheck.geo.lookup import Resolver

    resolver = Resolver.from_settings(Path(request.db_dir), rdap=request.rdap, today=on)
    services = {ip: _classify(t, catalog) for ip, t in traffic.items()}
    # Names place an address only if the client asked for them or a resolver gave them: a STUN
    # REALM or a server's greeting says who runs it, never where (CLASSIFY_ONLY_SOURCES).
    places = resolver.resolve(sorted(traffic), names={ip: placing for ip, t in traffic.items() if (placing := t.placing_names)},
                              vendor_hints=_vendor_hints(services, resolver))
    call_category = _call_categories(calls, traffic, services)
    signalling_uids = {uid for call in calls for uid in call.signalling}
    signalling = {ip for ip, t in traffic.items() for flow in t.flows if flow.uid in signalling_uids}

    uid_to_ip = {flow.uid: ip for ip, t in traffic.items() for flow in t.flows}
    # What reads the traffic but not the verdicts comes first, so that each destination's traffic
    # (and the flows as objects) can go once it is judged: the run's peak is the end of judging.
    relaying = [(ip, frozenset(peer.uid for peer in t.relayed)) for ip, t in traffic.items() if t.relayed]
    report_calls = [_call(call, uid_to_ip, relaying) for call in calls]
    observability = read.observability
    del uid_to_ip
    reading.flows.forget_rows()
    give_back_freed_memory()
    evidence_items = _EvidenceItems()
    # Each destination's traffic and place go as it is judged: the report has what follows needs.
    judged = [_judge(traffic.pop(ip), places.pop(ip), services[ip], call_category, ip in signalling, policy, on, site,
                     evidence_items) for ip in sorted(traffic)]
    del evidence_items, traffic, places
    destinations = [j.destination for j in judged]
    sources = resolver.sources()
    reading.hash_captures()
    report = model.Report(
        tool=model.Tool(version=__version__),
        inputs=[model.Input(path=c.path, sha256=c.sha256, format=c.format, linktypes=list(c.linktypes),
                            packets=c.packets, first_ts=c.first_ts, last_ts=c.last_ts,
                            vantage_point=model.VantagePoint.of(c.vantage) if c.vantage else None)
                for c in reading.captures],
        accounting=model.Accounting(records=reading.accounting.records, decoded=reading.accounting.decoded,
                                    skipped=dict(reading.accounting.skipped), notes=dict(reading.accounting.notes)),
        sources=[_source(info) for info in sources] + _catalog_sources(catalog),
        policy=model.PolicyRef(path=policy.path, sha256=policy.sha256, name=policy.name,
                               authorized=policy.authorized_summary(),
                               exceptions=_exception_uses(policy, on, judged), rules=_policy_rules(policy),
                               indeterminate=policy.indeterminate),
        summary=_summary(destinations, _caveats(reading, judged, outside_scope)),
        destinations=destinations,
        calls=report_calls,
        observability=observability,
        warnings=(_warnings(reading, policy, default_policy, catalog, sources, on, judged, outside_scope)
                  + read.notes + site_notes),
        site=_site(site, site_source),
    )
    code = exit_code(destinations)
    # What only judging needed goes before the report is written: the services and the resolver.
    del judged, destinations, services, signalling, resolver
    files = write_report(report, out, reading.flows.columns, checked.formats, request.sign_key,
                         force=request.force, policy=checked.policy_bytes, catalogs=checked.catalog_copies)
    return AnalysisResult(report=report, exit_code=code, out_dir=out, files=tuple(files),
                          default_policy=default_policy, reading=reading)


# --------------------------------------------------------------------------- inputs


def _load_policy(policy_path: str | Path | None) -> tuple[Policy, bool, bytes]:
    """The policy, whether it is the default template, and the bytes it was parsed and hashed from
    (the report directory keeps them as policy.yaml)."""
    if policy_path is not None:
        raw = read_yaml(policy_path).raw  # read once: the copy is what was judged by, even from a pipe
        return parse_policy(raw, label=str(policy_path)), False, raw
    from tracecheck.policy.templates import template_text

    raw = template_text(DEFAULT_TEMPLATE).encode("utf-8")
    return parse_policy(raw, label=f"template:{DEFAULT_TEMPLATE}"), True, raw


def default_out_dir(first_capture: str | Path) -> Path:
    """``reports/<capture name without its extensions>``: beside the others, never over the input."""
    name = Path(first_capture).name
    for suffix in (".gz", ".pcapng", ".pcap", ".cap"):
        name = name.removesuffix(suffix)
    return Path("reports") / (name or "capture")


def reference_date(reading: FlowResult) -> date:
    """The day exceptions and data ages are judged on: SOURCE_DATE_EPOCH's, else the capture's
    last packet's (the day the data moved), else -- a capture without packets -- today."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip().isdigit():
        return today_utc()
    stamps = [c.last_ts for c in reading.captures if c.last_ts is not None]
    if stamps:
        return datetime.fromtimestamp(max(stamps), UTC).date()
    return today_utc()


# --------------------------------------------------------------------------- services and verdicts


def _classify(traffic: DestinationTraffic, catalog: Catalog) -> Service | None:
    """The catalog's service for a destination's names; a region the catalog reads from a name
    that cannot place the address (a STUN REALM, a greeting) is dropped, so that neither geo
    (``_vendor_hints``) nor the report (``_known_region``) places the address by it."""
    service = classify(traffic.name_list, catalog)
    if service is None or not service.region:
        return service
    matched_host = service.matched.partition(" <- ")[2]
    if matched_host in {normalize_host(name) for name in traffic.placing_names}:
        return service
    return replace(service, region="")


def _vendor_hints(services: dict[str, Service | None], resolver) -> dict[str, list[HostnameHint]]:
    """The regions the service catalog gives for each destination's names, for geo to rank with
    its own hostname hints (one ranking, in geo): only codes the region catalog can place."""
    hints: dict[str, list[HostnameHint]] = {}
    for ip, service in services.items():
        if service is None or not service.region:
            continue
        pattern, _, host = service.matched.partition(" <- ")
        hint = catalog_hint(host or pattern, service.region, pattern, resolver.find_region)
        if hint is not None:
            hints[ip] = [hint]
    return hints


def _call_categories(calls: list[Call], traffic: dict[str, DestinationTraffic],
                     services: dict[str, Service | None]) -> dict[str, Category]:
    """Each call's category: that of the service its SIP signalling went to, and a telephony
    carrier's when the catalog does not name that peer (whoever carries a call's signalling is,
    for the review, the call's carrier)."""
    ip_of_flow = {flow.uid: ip for ip, t in traffic.items() for flow in t.flows}
    categories: dict[str, Category] = {}
    for call in calls:
        found = [services.get(ip_of_flow[uid]) for uid in call.signalling if uid in ip_of_flow]
        categories[call.call_id] = next((s.category for s in found if s is not None), Category.TELEPHONY_CARRIER)
    return categories


def _service_of(traffic: DestinationTraffic, own: Service | None, call_category: dict[str, Category],
                signals_a_call: bool) -> tuple[Service | None, Category | None, list[Evidence]]:
    """The service to judge a destination as, a category override, and why."""
    if traffic.calls and (own is None or own.category in _GENERIC_CATEGORIES):
        # Media of a SIP call carries the conversation: it is judged as what the call is for.
        category = next((call_category.get(c) for c in sorted(traffic.calls) if call_category.get(c)), None)
        service = classify_media(category, own)
        evidence = []
        for call_id in sorted(traffic.calls):
            signalled = call_category.get(call_id)
            evidence.append(Evidence("sip", f"media of call {call_id}",
                                     f"category from the call's signalling: {signalled.value if signalled else 'unknown'}",
                                     SourceKind.NAME))
        return service, service.category, evidence
    if own is None and signals_a_call:
        return None, Category.TELEPHONY_CARRIER, [Evidence(
            "sip", "a SIP call's signalling peer", "the catalog does not name it; a call's signalling peer is judged "
            "as its telephony carrier", SourceKind.NAME)]
    if (traffic.relayed or traffic.relays) and (own is None or own.category in _GENERIC_CATEGORIES):
        # A TURN relay and the peers behind it carry the call's audio: judged as media (RFC 8656).
        return own, Category.MEDIA, []
    if own is None and traffic.media_only:
        # RTP, STUN/TURN or DTLS with no SIP call to tie it to (WebRTC): call media all the same.
        apps = ", ".join(sorted({flow.app for flow in traffic.flows}))
        return None, Category.MEDIA, [Evidence("tracecheck", "call media", f"every flow is {apps}; no SIP call announced it")]
    return own, None, []


def _judge(traffic: DestinationTraffic, place: Place, own: Service | None, call_category: dict[str, Category],
           signals_a_call: bool, policy: Policy, on: date, site: Site | None,
           evidence_items: _EvidenceItems) -> Judged:
    service, category, call_evidence = _service_of(traffic, own, call_category, signals_a_call)
    wanted = PolicyDestination(ip=traffic.ip, names=tuple(traffic.name_list), name_sources=tuple(traffic.name_sources),
                               category=category, handshake_rtt_ms=traffic.smallest_rtt_ms)
    assessment = assess(wanted, place, service, policy, on, site)
    category = category or (service.category if service else None)
    own = _name_evidence(traffic) + _relay_evidence(traffic) + _service_evidence(service) + call_evidence
    if own or assessment.evidence:
        items = evidence_items.of(own + list(place.evidence) + list(assessment.evidence))
    else:  # the place's evidence alone, as most destinations of a large capture: one list per place
        items = evidence_items.of_place(place.evidence)
    # Built unvalidated (model.trusted): every value below is tracecheck's own and
    # made the type the model declares here, so validating 130k destinations would only cost.
    destination = model.Destination.of_checked(
        ip=traffic.ip,
        names=[model.trusted(model.Name, {"name": seen.name, "source": seen.source}) for seen in traffic.names],
        provider=place.provider, service=place.service, region=place.region or _known_region(service),
        country=place.country, jurisdictions=tuple(place.jurisdictions),
        vendor=service.vendor if service else "", category=category.value if category else "",
        flows=int(traffic.flow_count), orig_bytes=int(traffic.sent_bytes), resp_bytes=int(traffic.received_bytes),
        first_ts=_float(traffic.first_ts), last_ts=_float(traffic.last_ts),
        verdict=Verdict(assessment.verdict), reasons=_relayed_reasons(traffic, assessment) + list(assessment.reasons),
        evidence=items,
        fails=assessment.fails, basis=assessment.basis, exception=assessment.exception,
        flags=tuple(assessment.flags), rule=assessment.rule,
        latitude=_float(place.latitude) if place.country else None,
        longitude=_float(place.longitude) if place.country else None,
        anycast=bool(place.anycast), via=tuple(traffic.via),
    )
    covered = tuple(e.id for e in policy.exceptions if exception_matches(e, wanted, place, service))
    return Judged(destination, covered, any(e.kind is SourceKind.RTT_BOUND for e in assessment.evidence))


class _EvidenceItems:
    """The report's evidence items, one per distinct piece of evidence, shared by the destinations
    that cite it (a GeoIP prefix's, a provider range's): report models are frozen, so sharing is
    safe, and it saves most of the time and memory a large report's evidence would take."""

    def __init__(self) -> None:
        self._items: dict[Evidence, model.EvidenceItem] = {}
        self._lists: dict[int, tuple[tuple[Evidence, ...], list[model.EvidenceItem]]] = {}

    def of(self, evidence: list[Evidence]) -> list[model.EvidenceItem]:
        """The items of ``evidence``, in order, repeats left out."""
        return [self._item(e) for e in dict.fromkeys(evidence)]

    def of_place(self, evidence: tuple[Evidence, ...]) -> list[model.EvidenceItem]:
        """``of`` a place's evidence: one list for every place made with the same tuple (geo makes
        one per combination of answers). Keyed by identity, the tuple kept so its id stays its own."""
        found = self._lists.get(id(evidence))
        if found is None or found[0] is not evidence:
            found = self._lists[id(evidence)] = (evidence, self.of(list(evidence)))
        return found[1]

    def _item(self, evidence: Evidence) -> model.EvidenceItem:
        item = self._items.get(evidence)
        if item is None:
            item = self._items[evidence] = model.trusted(model.EvidenceItem, {
                "source": evidence.source, "claim": evidence.claim, "detail": evidence.detail,
                "kind": evidence.kind.value})
        return item


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _hidden_relay_peers(relayed, turn_flows, in_scope) -> list[str]:
    """TURN relays that show no peer: the media's next hop is not in the capture."""
    judged = {flow.uid for flow in in_scope}
    with_peers = {peer.uid for peer in relayed if peer.ip != turn_flows.get(peer.uid)}
    hidden = sorted({(relay, uid) for uid, relay in turn_flows.items() if uid in judged and uid not in with_peers},
                    key=lambda item: (model.ip_sort_key(item[0]), item[1]))
    if not hidden:
        return []
    listed = ", ".join(f"{relay} (flow {uid})" for relay, uid in hidden[:8]) + (f" and {len(hidden) - 8} more"
                                                                               if len(hidden) > 8 else "")
    return [f"TURN relays with no peer in view: {listed} spoke TURN but named no peer beyond the relay itself "
            f"(no permission, channel binding or Send indication seen -- a proprietary relay, or the exchange fell "
            f"outside the capture -- or only another client's allocation on the same relay), so where the media "
            f"went after the relay is not known; the relay is judged alone."]


def _relayed_reasons(traffic: DestinationTraffic, assessment: Assessment) -> list[str]:
    """A private peer behind a relay is not on this site's network: said before the policy's reason."""
    if not traffic.relayed or assessment.basis != "local":
        return []
    return [f"a private address reached through TURN relay {', '.join(traffic.via)}: it is on the relay's side, "
            f"not this site's, and no place beyond the relay's can be established; the relay is judged on its own."]


def _known_region(service: Service | None) -> str:
    """The region the hostname implies, when it is a provider region (not ``EMEA`` or ``eu``)."""
    if service is None or not service.region:
        return ""
    from tracecheck.geo.catalog import find_region

    return service.region if find_region(service.region) is not None else ""


def _name_evidence(traffic: DestinationTraffic) -> list[Evidence]:
    evidence = []
    for seen in traffic.names:
        detail = f"flow {seen.uid}" if seen.uid else ""
        if seen.detail:
            detail = f"{detail}; {seen.detail}" if detail else seen.detail
        evidence.append(Evidence(seen.source, f"name {seen.name}", detail, SourceKind.NAME))
    asked = {s.name for s in traffic.names if s.source in ("sni", "quic_sni", "http_host", "sip")}
    answered = {s.name for s in traffic.names if s.source in ("dns", "dns_cname")}
    if asked and answered and not asked & answered:
        # The client asked for one name at an address DNS gave for another: shared hosting, a CDN,
        # ECH's outer name, or a pinned address. Both are kept; the reviewer should know they differ.
        evidence.append(Evidence("tracecheck", "names disagree",
                                 f"the client asked for {', '.join(sorted(asked))}; DNS gave this address "
                                 f"for {', '.join(sorted(answered))}"))
    return evidence


def _relay_evidence(traffic: DestinationTraffic) -> list[Evidence]:
    """What the TURN messages said: the relays this address was reached through, with the bytes
    relayed to it, or -- for a relay -- the peers it relayed to."""
    evidence = []
    private = bool(traffic.relayed) and bool(local_addresses([traffic.ip]))
    for peer in traffic.relayed:
        detail = (f"peer port {peer.port}; learned from {', '.join(peer.learned_from)}; {peer.sent_packets} packets "
                  f"({peer.sent_bytes} IP bytes) to the peer, {peer.received_packets} ({peer.received_bytes}) back")
        if private:
            detail += ("; a private address: the relay's other side is a local network (or the far client's own "
                       "host address)")
        evidence.append(Evidence("turn", f"media relayed through {peer.relay} to {peer.ip} on flow {peer.uid}, "
                                         f"{peer.sent_bytes} bytes", detail, SourceKind.NAME))
    for uid in sorted({peer.uid for peer in traffic.relays}):
        peers = sorted({peer.ip if peer.ip != traffic.ip else f"{peer.ip} (itself: another client's allocation)"
                        for peer in traffic.relays if peer.uid == uid}, key=model.ip_sort_key)
        shown = ", ".join(peers[:8]) + (f" and {len(peers) - 8} more" if len(peers) > 8 else "")
        evidence.append(Evidence("turn", f"TURN relay on flow {uid}",
                                 f"relays media to {len(peers)} peer{'s' if len(peers) != 1 else ''}: {shown}",
                                 SourceKind.NAME))
    return evidence


def _service_evidence(service: Service | None) -> list[Evidence]:
    if service is None or not service.matched or service.matched.startswith("media of a SIP call"):
        return []
    label = service.name if service.name.lower().startswith(service.vendor.lower()) else f"{service.vendor} {service.name}"
    region = f", region {service.region}" if service.region else ""
    return [Evidence("service-catalog", f"{label.strip()} ({service.category.value}{region})", service.matched,
                     SourceKind.CATALOG)]


def _summary(destinations: list[model.Destination], caveats: list[str]) -> model.Summary:
    count = {verdict: sum(1 for d in destinations if d.verdict is verdict) for verdict in Verdict}
    return model.Summary(verdict=overall_verdict(destinations), destinations=len(destinations),
                         compliant=count[Verdict.COMPLIANT], violations=count[Verdict.VIOLATION],
                         indeterminate=count[Verdict.INDETERMINATE], not_assessed=count[Verdict.NOT_ASSESSED],
                         judged=judged_count(destinations),
                         violations_geoip_only=sum(1 for d in destinations
                                                   if d.verdict is Verdict.VIOLATION and d.basis == "geoip"),
                         caveats=caveats)


def _exception_uses(policy: Policy, on: date, judged: list[Judged]) -> list[model.ExceptionUse]:
    """Every exception of the policy: the destinations of this capture it covers, and those it
    allowed (a destination compliant anyway is covered, not allowed)."""
    uses = []
    for exception in policy.exceptions:
        matched = sorted((j.destination.ip for j in judged if exception.id in j.covers), key=model.ip_sort_key)
        applied = sorted((j.destination.ip for j in judged if j.destination.exception == exception.id),
                         key=model.ip_sort_key)
        selector = {key: str(getattr(value, "value", value)) for key in ("vendor", "service", "host", "ip", "category")
                    if (value := getattr(exception, key)) is not None}
        uses.append(model.ExceptionUse(id=exception.id, expires=exception.expires.isoformat(),
                                       active=exception.active_on(on), matched=matched, applied=applied,
                                       selector=selector,
                                       places=exception.jurisdictions + exception.countries + exception.regions,
                                       justification=exception.justification, reference=exception.reference))
    return uses


def _policy_rules(policy: Policy) -> list[model.PolicyRule]:
    """The category and vendor rules, each with the places it authorizes spelled out."""
    rules = []
    for section, entries in (("categories", policy.categories), ("vendors", policy.vendors)):
        for key, rule in entries.items():
            places = (rule.authorized.jurisdictions + rule.authorized.countries + rule.authorized.regions
                      if rule.authorized is not None else policy.authorized_summary())
            rules.append(model.PolicyRule(entry=f"{section}.{getattr(key, 'value', key)}", action=rule.action,
                                          authorized=places if rule.action == "check" else [],
                                          indeterminate=rule.indeterminate or policy.indeterminate,
                                          reason=rule.reason))
    return rules


# --------------------------------------------------------------------------- report parts


def _source(info: SourceInfo) -> model.Source:
    return model.Source(name=info.name, kind=info.kind, version=info.version, date=info.date, sha256=info.sha256,
                        age_days=info.age_days, stale=info.stale, date_basis=info.date_basis)


def _catalog_sources(catalog: Catalog) -> list[model.Source]:
    """The service catalogs that named the services: an auditor needs their exact bytes too."""
    return [model.Source(name=source.path, kind="service-catalog",
                         version=f"{source.services} services, {source.patterns} patterns", date="",
                         sha256=source.sha256) for source in catalog.sources]


def _choose_site(given: Site | None, reading: FlowResult, policy: Policy) -> tuple[Site | None, str, list[str]]:
    """The capture site and where it came from: ``--site``, else the first capture file that
    records one (``tracecheck capture --site``), else the policy's ``site``.  A file's site that
    names no known place is said, not fatal: the file is not the user's typing."""
    if given is not None:
        return given, "--site", []
    notes = []
    for capture in reading.captures:
        label = capture.vantage.site if capture.vantage is not None else ""
        if not label:
            continue
        try:
            return parse_site(label), "capture", notes
        except SiteError:
            notes.append(f"{capture.path}: the capture's site '{label}' is not a region code, a city in the region "
                         "catalog, an ISO country or 'lat,lon'; no RTT bound from it (give --site)")
    return policy_site(policy), "policy", notes


def _site(site: Site | None, source: str) -> model.SiteRef | None:
    if site is None:
        return None
    return model.SiteRef(label=site.label, latitude=site.latitude, longitude=site.longitude,
                         radius_km=site.radius_km, source=source)


def _call(call: Call, uid_to_ip: dict[str, str], relaying: list[tuple[str, frozenset[str]]]) -> model.Call:
    """``relaying``: each destination reached through TURN, with the uids of the flows that did."""
    media = set(call.media)
    relayed_to = [ip for ip, uids in relaying if not uids.isdisjoint(media)]
    return model.Call(call_id=call.call_id, first_ts=call.first_ts, last_ts=call.last_ts,
                      signalling=list(call.signalling), media=list(call.media),
                      signalling_to=[uid_to_ip[uid] for uid in call.signalling if uid in uid_to_ip],
                      media_to=[uid_to_ip[uid] for uid in call.media if uid in uid_to_ip] + relayed_to)


def _nothing_judged(reading: FlowResult, judged: list[Judged], outside_scope: int) -> tuple[str, str] | None:
    """When no destination beyond the site was judged: what there was instead, and what to check."""
    destinations = [j.destination for j in judged]
    if judged_count(destinations):
        return None
    remote = sum(1 for d in destinations if d.basis != "local")
    ignored = sum(1 for d in destinations if d.verdict is Verdict.NOT_ASSESSED)
    unknown = sum(1 for d in destinations if d.verdict is Verdict.INDETERMINATE)
    parts = [f"{reading.accounting.records:,} records", f"{remote} remote destination{'s' if remote != 1 else ''}"]
    if ignored:
        parts.append(f"{'all ' if ignored == remote > 1 else ''}{ignored} not assessed (ignored by the policy)")
    if unknown:
        parts.append(f"{'all ' if unknown == remote > 1 else ''}{unknown} indeterminate (no single place established)")
    if outside_scope:
        parts.append(f"{outside_scope:,} flow{'s' if outside_scope != 1 else ''} outside the policy's scope")
    if ignored or outside_scope:
        hint = "check the policy's scope and ignore rules"
    elif unknown:
        hint = "import the providers' range files or a GeoIP database (`tracecheck db import`), or capture the names"
    else:
        hint = "wrong interface or filter?"
    return ", ".join(parts), hint


def _caveats(reading: FlowResult, judged: list[Judged], outside_scope: int) -> list[str]:
    """What must be read with the verdict itself (the summary line, the report's headline):
    that nothing was judged, or that a capture is damaged."""
    caveats = []
    nothing = _nothing_judged(reading, judged, outside_scope)
    if nothing is not None:
        caveats.append(f"nothing judged: {nothing[0]} \N{EM DASH} {nothing[1]}")
    elif outside_scope:
        caveats.append(f"{outside_scope:,} flow{'s' if outside_scope != 1 else ''} outside the policy's scope, not judged")
    if reading.warnings:
        more = len(reading.warnings) - 1
        caveats.append(f"capture damaged: {reading.warnings[0]}" + (f" (and {more} more)" if more else ""))
    for limit in reading.limits:
        caveats.append(f"capture incomplete: {limit}")
    return caveats


MIDDLEBOX = ("Most handshake RTTs ({implausible} of {checked} destinations) are far shorter than their claimed places "
             "allow: a middlebox (a TLS-intercepting proxy, an SBC or a TURN relay) probably terminates TCP near the "
             "capture point, and the RTT bounds measure it, not the servers. They make no verdict laxer.")


def _warnings(reading: FlowResult, policy: Policy, default_policy: bool, catalog: Catalog,
              sources: list[SourceInfo], on: date, judged: list[Judged], outside_scope: int) -> list[str]:
    from tracecheck.geo.store import EXPECTED_KINDS

    warnings = list(reading.warnings) + list(reading.limits)
    nothing = _nothing_judged(reading, judged, outside_scope)
    if nothing is not None:
        # "Compliant" over nothing proves nothing: said with the verdict too (summary.caveats).
        warnings.append(f"No destination beyond the local network was judged ({nothing[0]}), so this run shows "
                        f"nothing about where the data went: {nothing[1]}")
    checked = sum(1 for j in judged if j.rtt_checked)
    implausible = sum(1 for j in judged if RTT_IMPLAUSIBLE in j.destination.flags)
    if implausible and implausible * 2 > checked:
        warnings.append(MIDDLEBOX.format(implausible=implausible, checked=checked))
    if default_policy:
        warnings.append(f"No --policy given: judged against the built-in '{DEFAULT_TEMPLATE}' template "
                        f"(authorized: {policy.authorized.describe()}); write your own with "
                        f"`tracecheck policy init --template {DEFAULT_TEMPLATE} -o policy.yaml`.")
    warnings += policy_warnings(policy, on, catalog)
    for exception in policy.exceptions:
        if not any(exception.id in j.covers for j in judged):
            warnings.append(f"Exception {exception.id} matched no destination in this capture "
                            f"({exception.describe()}{' in ' + exception.places() if exception.bounded else ''}).")
    for info in sources:
        if info.stale:
            age = f"is {info.age_days} days old" if info.age_days is not None else "has no age that can be trusted"
            warnings.append(f"Data source {info.name} ({info.kind}, {date_label(info.date, info.date_basis)}) {age} on "
                            f"{on.isoformat()} and counts as stale; refresh it with `tracecheck db update` or `db import`.")
    present = {info.kind for info in sources}
    missing = [kind for kind in EXPECTED_KINDS if kind not in present]
    if len(missing) == len(EXPECTED_KINDS):
        # The data directory itself is left out: it names the user's home, and is not evidence.
        warnings.append("No provider range files imported: addresses are placed by the embedded GeoIP default "
                        "and hostnames alone, so cloud regions come only from names. Import the providers' "
                        "files with `tracecheck db import FILE --source KIND` (or `db update`).")
    elif missing:
        warnings.append(f"Provider range files not imported: {', '.join(missing)}; addresses of those providers are "
                        f"placed by GeoIP and hostnames alone.")
    return warnings
