"""report.json as pydantic models: the CONTRACT.md schema, field for field, in the contract's order.

The models validate what the contract promises (``records == decoded + sum(skipped)``, summary
counts that agree with the destinations, a verdict that follows from them) so that a report which
contradicts itself is refused when it is built, not discovered by an auditor.

``canonical_dict`` turns a report into plain JSON values the same way every time: the contract's
field order, mapping keys sorted, destinations by (verdict severity, address), floats rounded to
microseconds, text made encodable.  Extensions beyond the contract (``accounting.notes``,
``observability``, ``warnings``, ``destinations[].fails``, ``generated``) come after the contract's
fields; the optional ones are left out when unset so that a report without them reads like the
contract's example.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from tracecheck.report.rows import (drop_unset, finished, ip_sort_key, plain, severity_key, shared_fields_set,
                                    shared_list, trusted)
from tracecheck.vocabulary import Verdict

SCHEMA_VERSION = "1"



class _Model(BaseModel):
    # Unknown fields are errors: a misspelt field would silently vanish from the evidence.
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    def model_post_init(self, context: Any, /) -> None:
        # pydantic keeps, per instance, the set of fields its caller gave: 2 KB for a destination,
        # half of what it costs.  Instances given the same fields share one set (a copy made by
        # model_copy gets a set of its own before it changes it).
        object.__setattr__(self, "__pydantic_fields_set__", shared_fields_set(type(self), self.__pydantic_fields_set__))


class Tool(_Model):
    name: str = "tracecheck"
    version: str


class CaptureInterface(_Model):
    """Extension: one interface the capture file describes (vocabulary.CaptureInterface)."""

    name: str = ""
    description: str = ""
    linktype: int
    snaplen: int = 0
    filter: str = ""
    """The capture filter in force: traffic it excluded was never seen."""
    os: str = ""


class VantagePoint(_Model):
    """Extension: where and how the capture was taken, as the pcapng file records it
    (vocabulary.VantagePoint; ``tracecheck capture`` writes all of it).  Text from the file: shown,
    never trusted."""

    site: str = ""
    note: str = ""
    test_call_id: str = ""
    host: str = ""
    os: str = ""
    hardware: str = ""
    application: str = ""
    """The program that wrote the file."""
    interfaces: list[CaptureInterface] = []
    start_ts: float | None = None
    stop_ts: float | None = None
    received: int | None = None
    dropped_by_interface: int | None = None
    dropped_by_os: int | None = None
    """Packets lost before the capture program read them: a limit of the evidence (``warnings``)."""
    comments: list[str] = []

    @classmethod
    def of(cls, seen) -> VantagePoint:
        """From ``vocabulary.VantagePoint``."""
        return cls(site=seen.site, note=seen.note, test_call_id=seen.test_call_id, host=seen.host, os=seen.os,
                   hardware=seen.hardware, application=seen.application,
                   interfaces=[CaptureInterface(name=i.name, description=i.description, linktype=i.linktype,
                                                snaplen=i.snaplen, filter=i.filter, os=i.os) for i in seen.interfaces],
                   start_ts=seen.start_ts, stop_ts=seen.stop_ts, received=seen.received,
                   dropped_by_interface=seen.dropped_by_interface, dropped_by_os=seen.dropped_by_os,
                   comments=list(seen.comments))

    @property
    def dropped(self) -> int:
        return (self.dropped_by_interface or 0) + (self.dropped_by_os or 0)


class Input(_Model):
    """One capture file as read (vocabulary.CaptureInfo)."""

    path: str
    sha256: str
    format: str
    linktypes: list[int]
    packets: int
    first_ts: float | None
    last_ts: float | None
    vantage_point: VantagePoint | None = None
    """Extension: how it was captured, when the file says (pcapng); left out otherwise."""


class Accounting(_Model):
    """Where every record went."""

    records: int
    decoded: int
    skipped: dict[str, int] = {}
    notes: dict[str, int] = {}
    """Extension: things worth knowing that lost no record (vocabulary.Accounting.notes)."""

    @model_validator(mode="after")
    def _every_record_counted(self) -> Accounting:
        skipped = sum(self.skipped.values())
        if self.records != self.decoded + skipped:
            raise ValueError(f"accounting does not add up: records {self.records} != decoded "
                             f"{self.decoded} + skipped {skipped}")
        return self


class Source(_Model):
    """A data source the answers came from (vocabulary.SourceInfo without its prefix count)."""

    name: str
    kind: str
    version: str
    date: str
    sha256: str
    age_days: int | None = None
    stale: bool = False
    date_basis: str = "content"
    """Extension: where ``date`` came from: ``content`` (the source's own), ``filename``, or a file
    time (``mtime``, ``http-last-modified``, ``download-time``): then the date says nothing of the
    content's age."""


class ExceptionUse(_Model):
    """Extension: one exception of the policy and what it did in this capture."""

    id: str
    expires: str
    active: bool
    """Unexpired on the day the capture is judged."""
    matched: list[str] = []
    """Destinations its selector (and places) cover: empty means it matched nothing here."""
    applied: list[str] = []
    """Destinations it made compliant (the others were compliant without it)."""
    selector: dict[str, str] = {}
    """Extension: what it covers (``vendor``, ``service``, ``host``, ``ip``, ``category``), as the policy says."""
    places: list[str] = []
    """Extension: where it covers (jurisdictions, countries, regions); empty: anywhere."""
    justification: str = ""
    reference: str = ""
    """Extension: the legal instrument (SCC module and date, a TIA id, a DPA clause)."""


class PolicyRule(_Model):
    """Extension: one category or vendor rule of the policy, as it stands after the policy's defaults."""

    entry: str
    """``categories.transcription``, ``vendors.Genesys``."""
    action: str
    authorized: list[str] = []
    """Where this category or vendor may go; the policy-wide list when the rule gives none."""
    indeterminate: str = ""
    reason: str = ""


class PolicyRef(_Model):
    path: str
    sha256: str
    name: str
    authorized: list[str]
    """Jurisdictions, countries and regions data may go to, as the policy lists them."""
    exceptions: list[ExceptionUse] = []
    """Extension: every exception of the policy, in the policy's order."""
    rules: list[PolicyRule] = []
    """Extension: the policy's category and vendor rules, in the policy's order."""
    indeterminate: str = ""
    """Extension: what an unknown or anycast destination does to the run (``fail`` or ``warn``)."""


class Summary(_Model):
    verdict: Verdict
    destinations: int
    compliant: int
    violations: int
    indeterminate: int
    not_assessed: int = 0
    judged: int | None = None
    """Extension: destinations beyond the local network judged compliant or a violation on
    evidence; 0 means the run proves nothing (its verdict is then ``indeterminate``)."""
    violations_geoip_only: int = 0
    """Extension: violations whose deciding evidence is a GeoIP database alone."""
    caveats: list[str] = []
    """Extension: what must be read with the verdict (nothing judged, a damaged capture)."""


class SiteRef(_Model):
    """Extension: where the capture was taken, as ``--site`` (or the policy's ``site``) gave it."""

    label: str
    latitude: float
    longitude: float
    radius_km: float = 0.0
    """How uncertain the position is (a country given as the site: its radius)."""
    source: Literal["--site", "capture", "policy"] = "--site"
    """``capture``: the capture file's own site (``tracecheck capture --site``)."""


class Name(_Model):
    name: str
    source: str


class EvidenceItem(_Model):
    source: str
    claim: str
    detail: str = ""
    kind: str = ""
    """Extension: the source's kind (``provider``, ``hostname``, ``geoip`` ...; vocabulary.SourceKind)."""


class Destination(_Model):
    """One destination address: where it is, who it is, what went there, and the verdict."""

    ip: str
    names: list[Name] = []
    """Strongest first, as the dissectors ranked them."""
    provider: str = ""
    service: str = ""
    region: str = ""
    country: str | None = None
    jurisdictions: list[str] = []
    vendor: str = ""
    category: str = ""
    flows: int = 0
    orig_bytes: int = 0
    resp_bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    verdict: Verdict
    reasons: list[str] = []
    evidence: list[EvidenceItem] = []
    """In the order of the sources' authority, disagreements kept."""
    fails: bool | None = None
    """Extension: whether this destination fails the run (a violation, or an indeterminate under a
    rule with ``indeterminate: fail``); None when the caller did not say."""
    basis: str = ""
    """Extension: how strong the deciding evidence is: ``provider`` (a provider's range file),
    ``hostname`` (the vendor's regional name), ``geofeed``, ``geoip`` (a GeoIP database alone),
    ``local``, or ``""`` (nothing placed it)."""
    exception: str = ""
    """Extension: the id of the exception that made it compliant, if one did."""
    flags: list[str] = []
    """Extension: contradictions that made the verdict no laxer (``rtt_implausible``, ``sources_disagree``)."""
    rule: str = ""
    """Extension: the policy entry it was judged (or ignored) by: ``categories.transcription``, ``ignore[0]``."""
    latitude: float | None = None
    """Extension: the place's coordinates when a source gives them (a provider region's city, a
    GeoIP city); None for a country alone, anycast or unknown."""
    longitude: float | None = None
    anycast: bool = False
    """Extension: a source says the address is anycast (or global): it has no one place."""
    via: list[str] = []
    """Extension: the TURN relays (RFC 8656) this destination was reached through: a peer in a
    relay's permissions, channel bindings or Send/Data indications (evidence source ``turn``).
    Left out when empty: the destination was reached directly."""

    @field_validator("jurisdictions")
    @classmethod
    def _sorted_jurisdictions(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("via")
    @classmethod
    def _sorted_relays(cls, value: list[str]) -> list[str]:
        return sorted(set(value), key=ip_sort_key)

    def severity_key(self) -> tuple:
        return severity_key(self)

    @classmethod
    def of_checked(cls, **fields: Any) -> Destination:
        """A destination from fields tracecheck made itself, each of the type the model declares
        (``analyze``), every field given: see ``trusted``. ``jurisdictions``, ``via`` and ``flags``
        come as tuples; the validators' normalisation is applied all the same."""
        fields["jurisdictions"] = shared_list(fields["jurisdictions"], sorted)
        fields["via"] = shared_list(fields["via"], _sorted_addresses)
        fields["flags"] = shared_list(fields["flags"], list)
        if not fields["names"]:
            fields["names"] = shared_list((), list)
        return trusted(cls, fields)


def _sorted_addresses(addresses: set[str]) -> list[str]:
    return sorted(addresses, key=ip_sort_key)




class Call(_Model):
    call_id: str
    first_ts: float | None
    last_ts: float | None
    signalling: list[str] = []
    media: list[str] = []
    signalling_to: list[str] = []
    """Extension: the destination addresses its signalling flows went to."""
    media_to: list[str] = []
    """Extension: the destination addresses its media flows went to, and the peers behind a TURN
    relay that one of them reached."""

    @field_validator("signalling", "media")
    @classmethod
    def _sorted_uids(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("signalling_to", "media_to")
    @classmethod
    def _sorted_addresses(cls, value: list[str]) -> list[str]:
        return sorted(set(value), key=ip_sort_key)


class Report(_Model):
    """report.json.  Build it with lists in any order; serialisation sorts what has no meaning."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    tool: Tool
    inputs: list[Input]
    """In the order the user gave them."""
    accounting: Accounting
    sources: list[Source] = []
    policy: PolicyRef
    summary: Summary
    destinations: list[Destination] = []
    calls: list[Call] = []
    observability: list[str] = []
    """Extension: what this vantage point cannot show, and which names were hidden (ECH, DoH)."""
    warnings: list[str] = []
    """Extension: anything that weakens the evidence (stale sources, truncated captures ...)."""
    site: SiteRef | None = None
    """Extension: the capture site, when ``--site`` or the policy gives one."""
    generated: str | None = Field(default=None)
    """Extension: ISO 8601 time of writing -- only from SOURCE_DATE_EPOCH, never the wall clock."""

    @model_validator(mode="after")
    def _summary_agrees(self) -> Report:
        count = {verdict: 0 for verdict in Verdict}
        for destination in self.destinations:
            count[Verdict(destination.verdict)] += 1
        s = self.summary
        found = (len(self.destinations), count[Verdict.COMPLIANT], count[Verdict.VIOLATION],
                 count[Verdict.INDETERMINATE], count[Verdict.NOT_ASSESSED])
        claimed = (s.destinations, s.compliant, s.violations, s.indeterminate, s.not_assessed)
        if found != claimed:
            raise ValueError(f"summary counts (destinations, compliant, violations, indeterminate, not_assessed) "
                             f"{claimed} disagree with the destinations {found}")
        verdict = Verdict(s.verdict)
        if verdict is Verdict.NOT_ASSESSED:
            raise ValueError("summary.verdict is never 'not_assessed': a run that judged nothing is 'indeterminate'")
        if (verdict is Verdict.VIOLATION) != bool(s.violations):
            raise ValueError("summary.verdict must be 'violation' exactly when a destination is a violation")
        if verdict is Verdict.INDETERMINATE and not s.indeterminate and s.judged != 0:
            raise ValueError("summary.verdict is 'indeterminate' but no destination is and something was judged")
        if verdict is Verdict.COMPLIANT and s.judged == 0:
            raise ValueError("summary.verdict is 'compliant' but nothing was judged: nothing is compliant without evidence")
        return self

    def with_generated_from_environment(self) -> Report:
        """This report with ``generated`` set from SOURCE_DATE_EPOCH, if that is set."""
        stamp = source_date_stamp()
        return self.model_copy(update={"generated": stamp}) if stamp and not self.generated else self


# --------------------------------------------------------------------------- canonical form


def source_date_stamp() -> str | None:
    """SOURCE_DATE_EPOCH as ISO 8601 UTC, or None when it is unset or not a whole number."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch.isdigit():
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_CANONICAL: list[tuple[Report, dict[str, Any]]] = []
"""The last few reports made plain, and their plain form: report.json, report.html and the other
formats each ask for the same report's, and it costs as much as writing report.json itself."""
_CANONICAL_KEPT = 2  # the report, and its copy with ``generated`` set from SOURCE_DATE_EPOCH


def canonical_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON values, the same for the same report every time.

    The result is shared between callers (it is cached): read it, never change it."""
    for known, data in _CANONICAL:
        # A copy made by model_copy shares its lists, so comparing it with the original is quick.
        if known is report or known == report:
            return data
    data = _canonical_dict(report)
    _CANONICAL.insert(0, (report, data))
    del _CANONICAL[_CANONICAL_KEPT:]
    return data


def _canonical_dict(report: Report) -> dict[str, Any]:
    data = canonical_head(report)
    data["destinations"] = plain_destinations(sorted_destinations(report))  # the key keeps its place
    return data


def sorted_destinations(report: Report) -> list[Destination]:
    """The destinations in report.json's order: worst verdict first, then by address.

    report.json and the pages each ask; the last order is kept for the same list of
    destinations (a report's copy with ``generated`` set shares it)."""
    given = report.destinations
    if _SORTED and _SORTED[0] is given and len(_SORTED[1]) == len(given):
        return _SORTED[1]
    ordered = sorted(given, key=severity_key)
    _SORTED[:] = [given, ordered]
    return ordered


_SORTED: list = []


def canonical_head(report: Report) -> dict[str, Any]:
    """``canonical_dict`` with ``destinations`` left empty: what a writer that makes the
    destinations plain a slice at a time (report.json, the summarised pages) starts from."""
    data = report.model_dump(mode="json", exclude={"sources", "destinations", "calls"})
    data["accounting"]["skipped"] = dict(sorted(data["accounting"]["skipped"].items()))
    data["accounting"]["notes"] = dict(sorted(data["accounting"]["notes"].items()))
    data["sources"] = [s.model_dump(mode="json") for s in sorted(report.sources, key=lambda s: (s.kind, s.name))]
    data["calls"] = [c.model_dump(mode="json")
                     for c in sorted(report.calls, key=lambda c: (_none_first(c.first_ts), c.call_id))]
    data["destinations"] = []  # made plain apart: they are nearly all of a large report
    for capture in data["inputs"]:
        drop_unset(capture)
    data = {name: data[name] for name in type(report).model_fields if name in data}  # the fields' order
    drop_unset(data)
    return plain(data)


def plain_destinations(destinations: list[Destination]) -> list[dict[str, Any]]:
    """``plain`` of each destination's ``model_dump(mode="json")``, unset extensions dropped.

    pydantic dumps the list as JSON's values, compiled, and only the floats are then rounded: a
    hundred thousand destinations take half a second, not ten.  orjson then checks that the text
    is UTF-8 (no lone surrogate from a capture's undecodable bytes) and every integer fits 64
    bits.  Where it is not, the list takes the way it took before: pydantic writes it as JSON
    text and orjson reads it back (an integer past 64 bits comes back a float), and text that
    cannot be UTF-8 makes pydantic refuse; those lists take the careful way, value by value."""
    import orjson
    from pydantic_core import PydanticSerializationError

    try:
        dumped = _DESTINATION_LIST.dump_python(destinations, mode="json")
        orjson.dumps(dumped)  # refuses what JSON text read back would not give as is
    except (PydanticSerializationError, TypeError):  # orjson.JSONEncodeError is a TypeError
        try:
            dumped = orjson.loads(_DESTINATION_LIST.dump_json(destinations))
        except PydanticSerializationError:
            dumped = [plain(d.model_dump(mode="json")) for d in destinations]
    return finished(dumped, DESTINATION_FLOATS)


_DESTINATION_LIST = TypeAdapter(list[Destination])
DESTINATION_FLOATS = tuple(name for name, field in Destination.model_fields.items() if "float" in str(field.annotation))
"""The fields of a destination that hold floats (times, coordinates): its names and evidence hold
text only (a test holds it to that)."""


def _none_first(value: float | None) -> float:
    return -math.inf if value is None else value


