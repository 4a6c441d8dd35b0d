"""The curated facts tracecheck ships: where cloud regions are, and which laws cover a place.

``geo_db/regions.yaml`` places every region code of AWS (with its Local and Wavelength Zones),
Azure, Google Cloud and Oracle Cloud in a country, subdivision, city and coordinates.
``geo_db/jurisdictions.yaml`` names the legal areas a policy can authorize (``EU``, ``EEA``,
``EU_ADEQUATE``, ``UK``, ``US-CA`` ...) and the adequacy decisions behind them.

Both files are read once, validated strictly and served from memory: a wrong country is a wrong
legal verdict, so a malformed entry stops tracecheck with a ``UserError`` naming the file, the
line and the problem rather than being skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from tracecheck.errors import UserError
from tracecheck.resources import geo_db_dir
from tracecheck.usercache import load_parsed, parser_kind, store_parsed
from tracecheck.yamlfile import SAFE_LOADER

PROVIDERS = ("aws", "azure", "gcp", "oracle")
T = TypeVar("T")

# ISO 3166-1 alpha-2, officially assigned codes (249).
ISO_COUNTRIES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())
# Codes people write that ISO spells otherwise.
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}

_SUBDIVISION = re.compile(r"^([A-Z]{2})-[A-Z0-9]{1,3}$")
_REGION_CODE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_GROUP_NAME = re.compile(r"^[A-Z][A-Z0-9_-]*$")
# Zone names that narrow a region: AWS ``eu-west-1a`` / ``us-west-2-lax-1a``, GCP ``europe-west1-b``.
_ZONE_SUFFIX = {"aws": re.compile(r"^(.+-\d+)[a-z]$"), "gcp": re.compile(r"^(.+\d)-[a-z]$")}


def _country(value: str) -> str:
    if value not in ISO_COUNTRIES:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code")
    return value


def _place(value: str) -> str:
    """A country (``DE``) or an ISO 3166-2 subdivision of one (``US-CA``)."""
    match = _SUBDIVISION.match(value)
    if match:
        _country(match.group(1))
        return value
    return _country(value)


def _region_code(value: str) -> str:
    if value and not _REGION_CODE.match(value):
        raise ValueError(f"'{value}' is not a region code (lower-case letters, digits, hyphens)")
    return value


def _https(value: str) -> str:
    if value and not value.startswith("https://"):
        raise ValueError(f"'{value}' is not an https:// URL")
    return value


def _group_name(value: str) -> str:
    if not _GROUP_NAME.match(value):
        raise ValueError(f"group name '{value}' must be upper-case letters, digits, '_' or '-'")
    return value


Country = Annotated[str, AfterValidator(_country)]
Place = Annotated[str, AfterValidator(_place)]
RegionCode = Annotated[str, AfterValidator(_region_code)]
HttpsUrl = Annotated[str, AfterValidator(_https)]


# --------------------------------------------------------------------------- regions


class Region(BaseModel):
    """Where one provider region (or AWS Local / Wavelength Zone) is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["aws", "azure", "gcp", "oracle"]
    code: RegionCode
    """The provider's own code (``eu-west-1``, ``westeurope``, ``europe-west1``, ``eu-frankfurt-1``)."""
    name: str
    """The provider's display name."""
    country: Country
    """ISO 3166-1 alpha-2."""
    subdivision: str = ""
    """ISO 3166-2 where law cares (every placed US region has its state)."""
    city: str = ""
    """City or metro the provider names; empty when only a state or country is public."""
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    source: HttpsUrl = Field(min_length=1)
    """The provider's public page listing the region."""
    parent: RegionCode = ""
    """For Local and Wavelength Zones: the region whose control plane they use."""
    kind: Literal["region", "local_zone", "wavelength_zone"] = "region"
    aliases: tuple[RegionCode, ...] = ()
    """Other spellings of the code (Azure Service Tags abbreviate: ``germanywc``)."""
    precision: Literal["city", "region", "country"] = "city"
    """What the coordinates mean: the city, a point in the state, or only a point in the country
    (then they must not feed distance or RTT bounds)."""
    operator: str = ""
    """Who runs the region where it is not the provider (China partners, carriers)."""
    inferred: bool = False
    """True when the provider has not published the location and ``note`` says how we placed it."""
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Region:
        if self.subdivision:
            match = _SUBDIVISION.match(self.subdivision)
            if not match or match.group(1) != self.country:
                raise ValueError(f"subdivision '{self.subdivision}' is not an ISO 3166-2 code of {self.country}")
        if self.country == "US" and not self.subdivision and self.precision != "country":
            raise ValueError("a US region needs its state as subdivision (or precision: country)")
        if self.precision == "city" and not self.city:
            raise ValueError("precision 'city' needs a city")
        if (self.kind == "region") == bool(self.parent):
            raise ValueError("local and wavelength zones need a parent; regions must not have one")
        if self.inferred and not self.note:
            raise ValueError("an inferred location needs a note saying how it was placed")
        return self


def _default_regions_path() -> Path:
    return geo_db_dir() / "regions.yaml"


def _default_jurisdictions_path() -> Path:
    return geo_db_dir() / "jurisdictions.yaml"


@lru_cache(maxsize=8)
def _region_index(path: Path) -> dict[tuple[str, str], Region]:
    return _with_lines(_build_region_index, path)


def _build_region_index(path: Path, data: Any, lines: dict[int, int]) -> dict[tuple[str, str], Region]:
    label = str(path)
    if not isinstance(data, dict) or data.get("schema") != 1 or not isinstance(data.get("providers"), dict):
        raise UserError(f"{label}: not a tracecheck region catalog (expected 'schema: 1' and a 'providers' mapping)")
    index: dict[tuple[str, str], Region] = {}
    problems: list[str] = []
    for provider, block in data["providers"].items():
        if not isinstance(block, dict) or not isinstance(block.get("regions"), list):
            problems.append(f"{label}:{lines.get(id(block), 1)}: providers.{provider}: needs 'source' and a 'regions' list")
            continue
        for position, entry in enumerate(block["regions"]):
            where = f"{label}:{lines.get(id(entry), 1)}: providers.{provider}.regions[{position}]"
            if not isinstance(entry, dict):
                problems.append(f"{where}: expected a mapping")
                continue
            try:
                region = Region.model_validate({"provider": provider, "source": block.get("source", ""), **entry})
            except ValidationError as err:
                problems.append(f"{where} ({entry.get('code', '?')}): {_first_error(err)}")
                continue
            for key in (region.code, *region.aliases):
                if (provider, key) in index:
                    problems.append(f"{where}: {provider} code '{key}' is listed twice")
                index[(provider, key)] = region
    for (provider, key), region in index.items():
        parent = index.get((provider, region.parent)) if region.parent else None
        if region.parent and key == region.code and (parent is None or parent.kind != "region"):
            problems.append(f"{label}: {provider} {region.code}: parent '{region.parent}' is not a region in the catalog")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(f"{problems[0]}{more}")
    return index


def load_regions(path: Path | None = None) -> dict[tuple[str, str], Region]:
    """Every region, keyed by ``(provider, code)``; aliases are keys too (same ``Region``).

    Iterate ``all_regions()`` to see each region once.
    """
    return dict(_region_index(Path(path) if path else _default_regions_path()))


def all_regions(path: Path | None = None) -> tuple[Region, ...]:
    """Each region once, in catalog order."""
    unique = {id(region): region for region in _region_index(Path(path) if path else _default_regions_path()).values()}
    return tuple(unique.values())


def find_region(code: str, provider: str | None = None) -> Region | None:
    """The region ``code`` names: exact code or alias first, then the region of an AWS
    availability / local zone (``eu-west-1a``) or GCP zone (``europe-west1-b``).

    Without ``provider`` every provider is searched and an answer is given only when exactly one
    provider knows the code.  Azure display names (``West Europe``) are accepted.
    """
    index = _region_index(_default_regions_path())
    wanted = code.strip().lower()
    providers = (provider.strip().lower(),) if provider else PROVIDERS
    found: dict[int, Region] = {}
    for candidate in providers:
        region = _lookup(index, candidate, wanted)
        if region is not None:
            found[id(region)] = region
    return next(iter(found.values())) if len(found) == 1 else None


def _lookup(index: dict[tuple[str, str], Region], provider: str, code: str) -> Region | None:
    if provider == "azure":
        code = code.replace(" ", "")
    region = index.get((provider, code))
    zone = _ZONE_SUFFIX.get(provider)
    if region is None and zone is not None and (match := zone.match(code)):
        region = index.get((provider, match.group(1)))
    return region


# --------------------------------------------------------------------------- jurisdictions


class Adequacy(BaseModel):
    """A decision that a third country protects personal data adequately."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by: Literal["EU", "UK"]
    """Who decided: the European Commission (GDPR Art. 45) or the UK (UK GDPR Art. 45)."""
    country: Country
    name: str
    instrument: str
    """The legal act (``Commission Implementing Decision (EU) 2023/1795``)."""
    adopted: dt.date
    scope: str
    url: HttpsUrl = ""
    conditional: bool = False
    """True when only recipients meeting ``condition`` are covered (EU-US DPF)."""
    condition: str = ""
    partial: bool = False
    """True when the decision covers only part of the country's processing (see ``scope``)."""
    renewed: dt.date | None = None
    expires: dt.date | None = None

    @model_validator(mode="after")
    def _condition_stated(self) -> Adequacy:
        if self.conditional != bool(self.condition):
            raise ValueError("a conditional decision needs its condition, and only a conditional one has one")
        return self


class AdequacySelector(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    by: Literal["EU", "UK"]
    conditional: bool


class Group(BaseModel):
    """A named legal area a policy can authorize."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_group_name)]
    title: str
    description: str = ""
    law: str = ""
    """The data-protection law that governs the area."""
    effective: dt.date | None = None
    source: str
    """Citation of the legal source."""
    url: HttpsUrl = ""
    members: tuple[Place, ...] = ()
    territories: tuple[Place, ...] = ()
    """Parts of member states with their own ISO code (Aland, French outermost regions)."""
    includes: tuple[str, ...] = ()
    adequacy: AdequacySelector | None = None
    """Also every country of the matching adequacy decisions."""


class UnknownGroup(UserError, KeyError):
    """A jurisdiction group name that the catalog does not define."""

    __str__ = Exception.__str__


class Jurisdictions:
    """The jurisdiction catalog: groups, their resolved members, and the adequacy decisions."""

    def __init__(self, groups: dict[str, Group], decisions: tuple[Adequacy, ...], reviewed: dt.date | None,
                 label: str = "jurisdictions"):
        self.groups = groups
        self.decisions = decisions
        self.reviewed = reviewed
        """The date the catalog was last checked against the law."""
        self._label = label
        self._members = {name: self._resolve(name, ()) for name in groups}

    def _resolve(self, name: str, chain: tuple[str, ...]) -> frozenset[str]:
        if name in chain:
            raise UserError(f"{self._label}: group '{name}' includes itself ({' -> '.join((*chain, name))})")
        group = self.groups[name]
        places = set(group.members) | set(group.territories)
        for included in group.includes:
            places |= self._resolve(included, (*chain, name))
        if group.adequacy is not None:
            places |= {decision.country for decision in self.decisions
                       if decision.by == group.adequacy.by and decision.conditional == group.adequacy.conditional}
        return frozenset(places)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.groups))

    def group(self, name: str) -> Group:
        try:
            return self.groups[name]
        except KeyError:
            raise UnknownGroup(f"unknown jurisdiction group '{name}'; known groups: {', '.join(self.names())}") from None

    def members(self, group: str) -> frozenset[str]:
        """Every country and subdivision in ``group``, its includes and adequacy decisions."""
        self.group(group)
        return self._members[group]

    def jurisdictions_for(self, country: str | None, subdivision: str = "") -> tuple[str, ...]:
        """Every group the place belongs to, sorted: ``("EEA", "EU", "EU_ADEQUATE", "UK_ADEQUATE")``
        for IE; ``US-CA`` adds the California group to the US ones.  No country, no groups."""
        if not country:
            return ()
        country = _COUNTRY_ALIASES.get(country.upper(), country.upper())
        subdivision = subdivision.upper()
        if subdivision and not subdivision.startswith(country + "-"):
            raise ValueError(f"subdivision '{subdivision}' is not in country '{country}'")
        return tuple(sorted(name for name, places in self._members.items()
                            if country in places or (subdivision and subdivision in places)))

    def adequacy(self, country: str, by: str = "EU") -> Adequacy | None:
        """The decision by ``by`` (``EU`` or ``UK``) for ``country``, if any."""
        country = _COUNTRY_ALIASES.get(country.upper(), country.upper())
        return next((d for d in self.decisions if d.by == by and d.country == country), None)

    def describe(self, group: str) -> str:
        """One paragraph a report can print: what the group is, its law and source, its members."""
        info = self.group(group)
        parts = [f"{info.name}: {info.title}."]
        if info.law:
            parts.append(f"Law: {info.law}" + (f", in force {info.effective.isoformat()}." if info.effective else "."))
        if info.description:
            parts.append(info.description)
        parts.append(f"Members: {', '.join(sorted(self.members(group)))}.")
        parts.append(f"Source: {info.source}" + (f" <{info.url}>" if info.url else ""))
        return " ".join(parts)


@lru_cache(maxsize=8)
def _jurisdictions(path: Path) -> Jurisdictions:
    return _with_lines(_build_jurisdictions, path)


def _build_jurisdictions(path: Path, data: Any, lines: dict[int, int]) -> Jurisdictions:
    label = str(path)
    if not isinstance(data, dict) or data.get("schema") != 1 or not isinstance(data.get("groups"), dict):
        raise UserError(f"{label}: not a tracecheck jurisdiction catalog (expected 'schema: 1' and a 'groups' mapping)")
    groups: dict[str, Group] = {}
    for name, entry in data["groups"].items():
        where = f"{label}:{lines.get(id(entry), 1)}: groups.{name}"
        if not isinstance(entry, dict):
            raise UserError(f"{where}: expected a mapping")
        try:
            groups[str(name)] = Group.model_validate({"name": str(name), **entry})
        except ValidationError as err:
            raise UserError(f"{where}: {_first_error(err)}") from None
    decisions: list[Adequacy] = []
    for position, entry in enumerate(data.get("adequacy") or []):
        where = f"{label}:{lines.get(id(entry), 1)}: adequacy[{position}]"
        try:
            decision = Adequacy.model_validate(entry)
        except ValidationError as err:
            raise UserError(f"{where}: {_first_error(err)}") from None
        if any(d.by == decision.by and d.country == decision.country for d in decisions):
            raise UserError(f"{where}: a second {decision.by} decision for {decision.country}")
        decisions.append(decision)
    for group in groups.values():
        for included in group.includes:
            if included not in groups:
                raise UserError(f"{label}: groups.{group.name} includes unknown group '{included}'")
    reviewed = data.get("reviewed")
    return Jurisdictions(groups, tuple(decisions), reviewed if isinstance(reviewed, dt.date) else None, label)


def load_jurisdictions(path: Path | None = None) -> Jurisdictions:
    """The jurisdiction catalog (``geo_db/jurisdictions.yaml`` unless ``path`` is given), cached."""
    return _jurisdictions(Path(path) if path else _default_jurisdictions_path())


# --------------------------------------------------------------------------- YAML with line numbers


class _LineLoader(SAFE_LOADER):
    """SafeLoader that remembers each mapping's line and refuses duplicate keys."""


def _read_yaml(path: Path, fresh: bool = False) -> tuple[Any, dict[int, int]]:
    """The file's data and, by ``id()`` of each mapping in it, the line it starts on.

    Data once parsed from the same bytes comes from the user's cache (``tracecheck.usercache``)
    without lines; a caller that finds a problem in it asks again with ``fresh`` for the lines."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read the catalog: {err.strerror or err}; reinstall tracecheck") from None
    kind = parser_kind("geo-catalog", __file__, yaml.__version__, SAFE_LOADER.__name__)
    if not fresh and (data := load_parsed(raw, kind)) is not None:
        return data, {}
    lines: dict[int, int] = {}

    def construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise UserError(f"{path}:{key_node.start_mark.line + 1}: duplicate key '{key}'")
            seen.add(key)
        mapping = loader.construct_mapping(node, deep=True)
        lines[id(mapping)] = node.start_mark.line + 1
        return mapping

    loader_class = type("_Loader", (_LineLoader,), {})
    loader_class.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; reinstall tracecheck") from None
    try:
        data = yaml.load(text, Loader=loader_class)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise UserError(f"{path}:{mark.line + 1 if mark else 1}: YAML syntax: {err.problem or err.context}") from None
    store_parsed(raw, kind, data)
    return data, lines


def _with_lines(build: Callable[[Path, Any, dict[int, int]], T], path: Path) -> T:
    """``build(path, data, lines)``; when cached data (no lines) has a problem, build again from
    the parsed file so that the error names its line."""
    data, lines = _read_yaml(path)
    try:
        return build(path, data, lines)
    except UserError:
        if lines:
            raise
        return build(path, *_read_yaml(path, fresh=True))


def _first_error(err: ValidationError) -> str:
    problem = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in problem["loc"])
    message = problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "missing":
        message = "required field is missing"
    elif problem["type"] == "extra_forbidden":
        message = "unknown field"
    return f"{where}: {message}" if where else message
