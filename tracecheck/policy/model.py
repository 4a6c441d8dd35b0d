"""The residency policy: what a YAML policy file may say, validated, with errors that name the line.

A policy says where personal data may go (``authorized``), how particular kinds of service or
vendors differ (``categories``, ``vendors``), which known departures are accepted and until when
(``exceptions``), what an unknown or anycast destination means (``indeterminate``), how much the
location sources may disagree before we refuse to decide (``tolerate_disagreement``), which
traffic counts (``scope``, ``ignore``), and where the capture was taken (``site``, for the RTT
bound).  The templates in ``policy/templates/`` show every field with comments.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from tracecheck.classify.catalog import compile_host_glob, normalize_host
from tracecheck.policy import geo_facts
from tracecheck.vocabulary import Category
from tracecheck.yamlfile import YamlDocument, parse_yaml, read_yaml, validate

_COUNTRY = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt "authorised" silently ignored would authorize nothing.
    model_config = ConfigDict(extra="forbid")


def _null_is_empty(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """A key with nothing under it (YAML null: ``exceptions:`` above commented examples, as the
    templates write it) is its empty default, not an error."""
    if value is None:
        return cls.model_fields[info.field_name].get_default(call_default_factory=True)
    return value


class Authorized(_Strict):
    """Where data may go: a place is authorized if it matches any entry of any list."""

    jurisdictions: list[str] = []
    """Named groups from geo_db/jurisdictions.yaml (``EU``, ``EEA``, ``UK``, ``US-CA`` ...)."""
    countries: list[str] = []
    """ISO 3166-1 alpha-2 countries (``CH``) or ISO 3166-2 subdivisions (``US-CA``)."""
    regions: list[str] = []
    """Provider regions, optionally qualified: ``eu-west-1``, ``aws:eu-west-1``, ``azure:westeurope``."""

    _empty = field_validator("jurisdictions", "countries", "regions", mode="before")(_null_is_empty)

    @field_validator("countries")
    @classmethod
    def _iso_codes(cls, value: list[str]) -> list[str]:
        codes = [str(code).strip().upper() for code in value]
        for code in codes:
            if not _COUNTRY.match(code):
                raise ValueError(f"'{code}' is not an ISO 3166 country (IE) or subdivision (US-CA)")
        return codes

    @field_validator("jurisdictions")
    @classmethod
    def _known_groups(cls, value: list[str]) -> list[str]:
        groups = [str(group).strip() for group in value]
        if geo_facts.catalog_available():
            for group in groups:
                if geo_facts.group_members(group) is None:
                    raise ValueError(f"'{group}' is not a jurisdiction group in geo_db/jurisdictions.yaml")
        return groups

    @field_validator("regions")
    @classmethod
    def _region_codes(cls, value: list[str]) -> list[str]:
        return [str(region).strip().lower() for region in value]

    def is_empty(self) -> bool:
        return not (self.jurisdictions or self.countries or self.regions)

    def describe(self) -> str:
        """``{EU, EEA, CH, aws:eu-west-1}`` -- how reasons name the authorized set."""
        return "{" + ", ".join(self.jurisdictions + self.countries + self.regions) + "}"


class Rule(_Strict):
    """How one category or vendor is treated; unset fields fall back to the policy's."""

    action: Literal["check", "ignore"] = "check"
    authorized: Authorized | None = None
    """Replaces the policy-wide ``authorized`` for this category or vendor."""
    indeterminate: Literal["fail", "warn"] | None = None
    reason: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # ``telemetry: ignore`` reads better than ``telemetry: {action: ignore}``.
        if isinstance(value, str):
            if value not in ("check", "ignore"):
                raise ValueError(f"'{value}' is not a rule; write 'ignore', 'check' or a mapping with authorized:")
            return {"action": value}
        return value


class Selector(_Strict):
    """Which destinations an exception or ignore entry is about: every field given must match."""

    vendor: str | None = None
    """The vendor as the service catalog names it (``AWS``, ``Genesys``)."""
    service: str | None = None
    """The service as the catalog names it, with or without its vendor (``AWS Transcribe``,
    ``Transcribe``, ``Genesys Cloud``)."""
    host: str | None = None
    """A hostname or glob (``*.deepgram.com``) matched against every name of the destination."""
    ip: str | None = None
    """An address or a network (``203.0.113.0/24``)."""
    category: Category | None = None

    @field_validator("host")
    @classmethod
    def _glob(cls, value: str | None) -> str | None:
        if value is None:
            return value
        value = normalize_host(value)
        if not re.fullmatch(r"[a-z0-9_.*-]+", value):
            raise ValueError(f"host '{value}' may hold only letters, digits, '.', '-', '_' and '*'")
        return value

    @field_validator("ip")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return str(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f"ip '{value}' is not an address or network (203.0.113.7, 203.0.113.0/24)") from None

    @model_validator(mode="after")
    def _says_something(self) -> Selector:
        if not (self.vendor or self.service or self.host or self.ip or self.category):
            raise ValueError("give at least one of vendor, service, host, ip or category")
        return self

    def matches(self, ip: str, names: tuple[str, ...], vendor: str, category: Category | None,
                service: str = "") -> bool:
        """``service``: the catalog's service name (``Transcribe``) of the destination, if any."""
        if self.vendor and self.vendor.casefold() != (vendor or "").casefold():
            return False
        if self.service and self.service.casefold() not in service_names(vendor, service):
            return False
        if self.category and self.category != category:
            return False
        if self.ip:
            try:
                if ipaddress.ip_address(ip) not in ipaddress.ip_network(self.ip):
                    return False
            except ValueError:
                return False
        if self.host:
            regex = re.compile(compile_host_glob(self.host)[0])
            if not any(regex.fullmatch(normalize_host(name)) for name in names):
                return False
        return True

    def describe(self) -> str:
        parts = [f"{key} {getattr(self, key).value if key == 'category' else getattr(self, key)}"
                 for key in ("vendor", "service", "category", "host", "ip") if getattr(self, key)]
        return ", ".join(parts)


def service_names(vendor: str, service: str) -> set[str]:
    """Every way a policy may name a catalog service, folded: ``aws transcribe``, ``transcribe``."""
    if not service:
        return set()
    full = service if service.casefold().startswith((vendor or "").casefold()) else f"{vendor} {service}"
    return {service.casefold(), full.strip().casefold()}


class PolicyException(Selector):
    """An accepted departure from the policy, on a legal basis, until a date -- and, if bounded,
    only where it says (``regions``, ``countries``, ``jurisdictions``): "AWS transcription" need not
    mean every AWS region in the world."""

    id: str
    justification: str
    reference: str
    """The legal instrument: SCC module and date, a TIA id, a DPA clause."""
    expires: date
    """The last day the exception applies; from the day after, the destination is judged again."""
    regions: list[str] = []
    """Provider regions it covers (``us-east-1``, ``aws:us-east-1``); with ``countries`` and
    ``jurisdictions``: the destination must be placed in one of them.  None given: anywhere."""
    countries: list[str] = []
    jurisdictions: list[str] = []

    @field_validator("countries")
    @classmethod
    def _iso_codes(cls, value: list[str]) -> list[str]:
        return Authorized._iso_codes(value)

    @field_validator("jurisdictions")
    @classmethod
    def _known_groups(cls, value: list[str]) -> list[str]:
        return Authorized._known_groups(value)

    @field_validator("regions")
    @classmethod
    def _region_codes(cls, value: list[str]) -> list[str]:
        return Authorized._region_codes(value)

    @property
    def bounded(self) -> bool:
        return bool(self.regions or self.countries or self.jurisdictions)

    def places(self) -> str:
        """``{US, aws:us-east-1}``: where a bounded exception applies."""
        return "{" + ", ".join(self.jurisdictions + self.countries + self.regions) + "}"

    def active_on(self, today: date) -> bool:
        return today <= self.expires


class IgnoreRule(Selector):
    """Traffic the review does not cover (a monitoring probe, the capture host's own updates)."""

    reason: str = ""


class Scope(_Strict):
    """Which flows the review covers; a flow outside the scope is not judged at all."""

    start: datetime | None = None
    end: datetime | None = None
    clients: list[str] = []
    """Originator addresses or networks: only flows they opened count."""
    sip_calls_only: bool = False
    """Only flows that overlap a SIP call's time span (plus ``call_padding_seconds``)."""
    call_padding_seconds: float = Field(default=5.0, ge=0)

    _empty = field_validator("clients", mode="before")(_null_is_empty)

    @property
    def covers_everything(self) -> bool:
        """Nothing bounds it: every flow is in scope (the default)."""
        return not (self.start or self.end or self.clients or self.sip_calls_only)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # A time without a zone is read as UTC, the zone captures are stamped in.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("clients")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        networks = []
        for item in value:
            try:
                networks.append(str(ipaddress.ip_network(str(item).strip(), strict=False)))
            except ValueError:
                raise ValueError(f"'{item}' is not an address or network") from None
        return networks

    @model_validator(mode="after")
    def _ordered(self) -> Scope:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("scope.end must be after scope.start")
        return self


class Policy(_Strict):
    """A residency policy as written in YAML (see the templates for a commented example)."""

    name: str
    description: str = ""
    authorized: Authorized
    categories: dict[Category, Rule] = {}
    vendors: dict[str, Rule] = {}
    """Keyed by vendor (``Genesys``) or vendor and service name (``AWS Transcribe``), any case."""
    exceptions: list[PolicyException] = []
    ignore: list[IgnoreRule] = []
    indeterminate: Literal["fail", "warn"] = "warn"
    """``fail``: an unknown or anycast destination fails the run (exit 1); ``warn``: it is reported."""
    tolerate_disagreement: Literal["none", "weaker_sources", "any"] = "weaker_sources"
    """none: any two location sources disagreeing makes the destination indeterminate;
    weaker_sources: only sources as authoritative as the deciding one can, and only if their
    answer would change the verdict; any: the most authoritative source decides, disagreement is
    only reported."""
    scope: Scope = Scope()
    site: str | None = None
    """Where the capture was taken, for the RTT bound: region code, city, country or ``lat,lon``."""

    _empty = field_validator("categories", "vendors", "exceptions", "ignore", "scope", mode="before")(_null_is_empty)

    _path: str = PrivateAttr(default="")
    _sha256: str = PrivateAttr(default="")
    _doc: YamlDocument | None = PrivateAttr(default=None)

    @field_validator("authorized")
    @classmethod
    def _authorizes_something(cls, value: Authorized) -> Authorized:
        if value.is_empty():
            raise ValueError("name at least one jurisdiction, country or region data may go to")
        return value

    @field_validator("exceptions")
    @classmethod
    def _unique_ids(cls, value: list[PolicyException]) -> list[PolicyException]:
        seen: set[str] = set()
        for exception in value:
            if exception.id in seen:
                raise ValueError(f"exception id '{exception.id}' is used twice")
            seen.add(exception.id)
        return value

    @field_validator("site")
    @classmethod
    def _site_parses(cls, value: str | None) -> str | None:
        if value is not None and geo_facts.catalog_module() is not None:
            from tracecheck.policy.physics import parse_site

            parse_site(value)  # raises SiteError (a ValueError) saying what it accepts
        return value

    @property
    def path(self) -> str:
        return self._path

    @property
    def sha256(self) -> str:
        return self._sha256

    def line_of(self, *path: Any) -> int | None:
        return self._doc.line_of(path) if self._doc else None

    def authorized_summary(self) -> list[str]:
        """What report.json's ``policy.authorized`` lists."""
        a = self.authorized
        return a.jurisdictions + a.countries + a.regions


def parse_policy(raw: bytes | str, label: str = "<policy>") -> Policy:
    """Validate a policy given as text; a problem is a UserError ``LABEL:LINE: where: what``."""
    return _from_document(parse_yaml(raw, label))


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    return _from_document(read_yaml(path))


def _from_document(doc: YamlDocument) -> Policy:
    if not isinstance(doc.data, dict):
        from tracecheck.errors import UserError

        raise UserError(f"{doc.label}:1: a policy is a YAML mapping (name:, authorized:, ...)")
    policy: Policy = validate(Policy, doc)
    policy._path = doc.label
    policy._sha256 = hashlib.sha256(doc.raw).hexdigest()
    policy._doc = doc
    return policy
