"""The service catalog: which vendor's service a hostname belongs to, and what region it implies.

The built-in catalog is ``geo_db/services.yaml``; users add their own files with the same schema
(``--catalog FILE``).  Every pattern of every file competes on specificity (see
``CatalogPattern.specificity``); on a tie, the file loaded last wins, so a user's catalog can
re-declare a built-in pattern, then the entry written first.

Pattern syntax, chosen so that a reviewer can read the catalog without knowing regular expressions:

- ``host: "*.mypurecloud.ie"`` -- a glob.  ``*`` as the whole first label means one or more
  labels (``api.mypurecloud.ie``, ``a.b.mypurecloud.ie``, but not ``mypurecloud.ie``); ``*``
  inside a label matches within that label only (``transcribe*.{region}.amazonaws.com``).
  ``{region}`` matches a run of ``[a-z0-9-]`` and is the region the name implies;
  ``{aws_region}`` matches only AWS-shaped codes (``eu-west-1``, ``us-gov-west-1``), so that a
  catch-all like ``*.{aws_region}.amazonaws.com`` does not read ``s3`` in ``b.s3.amazonaws.com``
  as a region.
- ``suffix: "zendesk.com"`` -- the name itself or any name under it.
- ``regex: "..."`` -- a full-match regular expression, only where the others cannot say it; a
  named group ``(?P<region>...)`` gives the region.
A region captured by ``{region}`` or the ``region`` group passes through ``region_map`` when given
(MuleSoft writes ``de-c1`` for AWS ``eu-central-1``); a fixed ``region`` applies otherwise.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from tracecheck.errors import UserError
from tracecheck.resources import geo_db_dir
from tracecheck.vocabulary import Category
from tracecheck.yamlfile import YamlDocument, read_yaml, read_yaml_cached, validate

_HOST_CHARS = re.compile(r"^[a-z0-9_.*{}-]+$")
_LABEL = r"[a-z0-9_-]"
_PLACEHOLDERS = {
    "{region}": r"(?P<region>[a-z0-9-]+)",
    "{aws_region}": r"(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2})",
}
_PLACEHOLDER_RE = re.compile(r"\{region\}|\{aws_region\}")
_WILDCARD_RE = re.compile(r"\{region\}|\{aws_region\}|\*")
_EXACT_BONUS = 1000
"""An exact hostname outranks every pattern, however long the pattern's fixed text."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatternSpec(_Strict):
    """One way of recognising a service's hostnames (exactly one of host, suffix, regex)."""

    host: str | None = None
    suffix: str | None = None
    regex: str | None = None
    region: str | None = None
    region_map: dict[str, str] | None = None
    category: Category | None = None
    """Overrides the entry's category (a platform's TURN hosts are ``media``)."""
    name: str | None = None
    specificity: int | None = None
    """Only for regex patterns whose estimated specificity ranks them wrongly."""

    @model_validator(mode="after")
    def _one_form(self) -> PatternSpec:
        given = [key for key in ("host", "suffix", "regex") if getattr(self, key)]
        if len(given) != 1:
            raise ValueError("give exactly one of host, suffix or regex")
        if self.host is not None:
            _check_host_glob(self.host)
        if self.suffix is not None:
            _check_host_glob(self.suffix)
            if "*" in self.suffix or "{" in self.suffix:
                raise ValueError(f"suffix '{self.suffix}' takes a plain domain; use host: for wildcards")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as err:
                raise ValueError(f"regex '{self.regex}' does not compile: {err}") from None
        return self


def _check_host_glob(text: str) -> None:
    if text != text.lower() or not _HOST_CHARS.match(text):
        raise ValueError(f"'{text}' may hold only lower-case letters, digits, '.', '-', '_', '*' and {{region}}")
    if _PLACEHOLDER_RE.sub("", text).count("{") or len(_PLACEHOLDER_RE.findall(text)) > 1:
        raise ValueError(f"'{text}': the only placeholders are one {{region}} or {{aws_region}}")
    if "" in text.split(".") or text.endswith("."):
        raise ValueError(f"'{text}' has an empty label")
    fixed_labels = [label for label in text.split(".") if "*" not in label and "{" not in label]
    if len(fixed_labels) < 2:
        raise ValueError(f"'{text}' is too broad: it needs at least two fixed labels (like 'vendor.com')")


class ServiceEntry(_Strict):
    """A vendor's service, its category, where the facts come from, and its hostnames."""

    vendor: str
    name: str
    category: Category
    source: str
    """A public URL documenting the hostnames (an auditor checks the catalog against it)."""
    patterns: list[PatternSpec]
    region: str | None = None
    region_map: dict[str, str] | None = None
    notes: str = ""

    @field_validator("patterns", mode="before")
    @classmethod
    def _plain_strings_are_globs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"host": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("patterns")
    @classmethod
    def _not_empty(cls, value: list) -> list:
        if not value:
            raise ValueError("a service needs at least one pattern")
        return value

    @field_validator("source")
    @classmethod
    def _is_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"source must be a public URL (http:// or https://), not '{value}'")
        return value


class CatalogFile(_Strict):
    """The whole file: ``version: 1`` and a list of ``services``."""

    version: int = 1
    services: list[ServiceEntry]


@dataclass(frozen=True)
class CatalogPattern:
    """A compiled pattern and the service it names."""

    text: str
    """The pattern as written (``host:transcribestreaming.{region}.amazonaws.com``): the evidence."""
    regex_text: str
    """The regular expression it compiles to; compiled at its first use (``regex``)."""
    literal_suffix: str
    """Fixed text every match must end with: a cheap test before the regex."""
    specificity: int
    vendor: str
    name: str
    category: Category
    region: str
    region_map: Mapping[str, str]
    origin: str
    """The catalog file the pattern came from."""
    file_rank: int
    """0 for the built-in catalog, 1.. for user catalogs in the order given."""
    order: int

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.regex_text)

    @property
    def sort_key(self) -> tuple[int, int, int]:
        return (-self.specificity, -self.file_rank, self.order)

    def region_for(self, host: str) -> str | None:
        """The region ``host`` implies ("" if none), or None when the pattern does not match."""
        if not host.endswith(self.literal_suffix):
            return None
        found = self.regex.fullmatch(host)
        if found is None:
            return None
        captured = found.groupdict().get("region")
        if captured:
            return self.region_map.get(captured, captured)
        return self.region


@dataclass(frozen=True)
class CatalogSource:
    path: str
    sha256: str
    services: int
    patterns: int


@dataclass(frozen=True)
class Catalog:
    """Every pattern of every loaded file, most specific first."""

    patterns: tuple[CatalogPattern, ...]
    sources: tuple[CatalogSource, ...] = field(default=())
    _by_suffix: dict[str, list[int]] = field(init=False, repr=False, compare=False)
    """Positions in ``patterns``, by each pattern's literal suffix."""

    def __post_init__(self) -> None:
        by_suffix: dict[str, list[int]] = {}
        for position, pattern in enumerate(self.patterns):
            by_suffix.setdefault(pattern.literal_suffix, []).append(position)
        object.__setattr__(self, "_by_suffix", by_suffix)

    def match(self, host: str) -> tuple[CatalogPattern, str] | None:
        """The most specific pattern matching ``host`` and the region it implies.

        Only patterns whose literal suffix ``host`` ends with can match; they are found by
        looking up each of the name's tails, not by trying the hundreds of patterns in turn,
        and are then tried in the same order (most specific first)."""
        host = normalize_host(host)
        candidates: list[int] = []
        for start in range(len(host) + 1):
            found = self._by_suffix.get(host[start:])
            if found:
                candidates.extend(found)
        for position in sorted(candidates):
            pattern = self.patterns[position]
            region = pattern.region_for(host)
            if region is not None:
                return pattern, region
        return None

    @property
    def vendors(self) -> frozenset[str]:
        return frozenset(pattern.vendor for pattern in self.patterns)


@cache
def _compiled(regex: str) -> re.Pattern[str]:
    """Compiled once per process, and only for patterns a name gets as far as: most of the
    catalog's hundreds are passed over by their literal suffix and never need compiling."""
    return re.compile(regex)


def normalize_host(name: str) -> str:
    return name.strip().lower().rstrip(".")


def compile_host_glob(text: str) -> tuple[str, str, int]:
    """A glob as (regex, fixed suffix, specificity); shared with the policy's host matching.

    The text between wildcards is escaped a run at a time (``re.escape`` escapes character by
    character, so the regex is the same): every run compiles the built-in catalog's 427 globs."""
    parts: list[str] = []
    index = 0
    if text.startswith("*."):
        parts.append(rf"(?:{_LABEL}+\.)+")
        index = 2
    wildcard_end = index
    for wildcard in _WILDCARD_RE.finditer(text, index):
        parts.append(re.escape(text[index:wildcard.start()]))
        parts.append(_PLACEHOLDERS.get(wildcard.group(), f"{_LABEL}*"))
        index = wildcard_end = wildcard.end()
    parts.append(re.escape(text[index:]))
    fixed = len(_PLACEHOLDER_RE.sub("", text).replace("*", ""))
    exact = fixed == len(text)
    return "".join(parts), text[wildcard_end:], fixed + (_EXACT_BONUS if exact else 0)


def _estimate_regex_specificity(regex: str) -> int:
    """Fixed characters of a regex, roughly: strip groups' syntax, classes and quantifiers."""
    text = re.sub(r"\[[^\]]*\]", "", regex)
    text = re.sub(r"\(\?P<\w+>|\(\?:|[()|^$+*?]|\{\d*,?\d*\}", "", text)
    text = text.replace("\\.", ".").replace("\\", "")
    return len(re.sub(r"[^a-z0-9.-]", "", text))


def _compile(spec: PatternSpec, entry: ServiceEntry, origin: str, file_rank: int, order: int) -> CatalogPattern:
    if spec.host is not None:
        regex, suffix, specificity = compile_host_glob(spec.host)
        text = spec.host
    elif spec.suffix is not None:
        regex = rf"(?:{_LABEL}+\.)*" + re.escape(spec.suffix)
        suffix, specificity, text = spec.suffix, len(spec.suffix), f"suffix:{spec.suffix}"
    else:
        regex, suffix, text = spec.regex, "", f"regex:{spec.regex}"
        specificity = spec.specificity if spec.specificity is not None else _estimate_regex_specificity(spec.regex)
    return CatalogPattern(
        text=text,
        regex_text=regex,
        literal_suffix=suffix,
        specificity=specificity,
        vendor=entry.vendor,
        name=spec.name or entry.name,
        category=spec.category or entry.category,
        region=spec.region or entry.region or "",
        region_map=dict(entry.region_map or {}) | dict(spec.region_map or {}),
        origin=origin,
        file_rank=file_rank,
        order=order,
    )


def parse_catalog(doc: YamlDocument, file_rank: int = 0) -> tuple[list[CatalogPattern], CatalogSource]:
    """Validate one catalog document and compile its patterns."""
    parsed: CatalogFile = validate(CatalogFile, doc)
    compiled: list[CatalogPattern] = []
    for entry in parsed.services:
        for spec in entry.patterns:
            compiled.append(_compile(spec, entry, doc.label, file_rank, len(compiled)))
    source = CatalogSource(
        path=doc.label,
        sha256=hashlib.sha256(doc.raw).hexdigest(),
        services=len(parsed.services),
        patterns=len(compiled),
    )
    return compiled, source


def builtin_catalog_path() -> Path:
    return geo_db_dir() / "services.yaml"


@cache
def _builtin() -> tuple[tuple[CatalogPattern, ...], CatalogSource]:
    path = builtin_catalog_path()
    if not path.is_file():
        raise UserError(f"{path}: the built-in service catalog is missing; reinstall tracecheck")
    label = "geo_db/services.yaml"
    doc = read_yaml_cached(path, label=label)
    try:
        patterns, source = parse_catalog(doc)
    except UserError:
        if doc.lines:
            raise
        patterns, source = parse_catalog(read_yaml(path, label=label))  # again, for the line
    return tuple(patterns), source


def load_catalog(extra: list[str | Path] | tuple[str | Path, ...] = (), builtin: bool = True) -> Catalog:
    """The built-in catalog plus the user's files (``--catalog``), loaded in that order."""
    patterns: list[CatalogPattern] = []
    sources: list[CatalogSource] = []
    if builtin:
        builtin_patterns, builtin_source = _builtin()
        patterns.extend(builtin_patterns)
        sources.append(builtin_source)
    for rank, path in enumerate(extra, start=1):
        more, source = parse_catalog(read_yaml(path), file_rank=rank)
        patterns.extend(more)
        sources.append(source)
    return Catalog(patterns=tuple(sorted(patterns, key=lambda p: p.sort_key)), sources=tuple(sources))
