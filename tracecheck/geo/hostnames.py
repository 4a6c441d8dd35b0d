"""Regions that names give away: ``s3.eu-west-1.amazonaws.com``, ``api.mypurecloud.ie`` ...

A vendor's regional endpoint name is the vendor's own statement of where that endpoint serves:
it ranks just below the provider's range file and above a geofeed or a GeoIP guess
(``vocabulary.SOURCE_RANK``).  A name can also lead into a CDN: a name or CNAME chain that ends
at a known anycast edge (``*.msedge.net``, CloudFront, Akamai, Fastly) says the address answers
from many places, and then no country is claimed for it.  Vendor areas (``eu.api.vendor.com``)
are kept as evidence but name no place.

Region codes the catalog must confirm (Azure's ``westeurope``, GCP's ``europe-west1``) are
checked against it, so ``www.microsoft.com`` is not read as a region called ``www``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, NamedTuple

from tracecheck.vocabulary import Evidence, Located, SourceKind

SOURCE = "hostname"

KnownRegion = Callable[[str, str], bool]
"""``known_region(code, provider)``: does the region catalog know this code?"""


class HostnameHint(NamedTuple):
    name: str
    provider: str
    """The cloud the name points into (``aws`` for Genesys Cloud domains), or ``""``."""
    region: str = ""
    area: str = ""
    """A multi-region area (``EU``, ``US``) when the name says no single region."""
    anycast: bool = False
    pattern: str = ""
    """The rule that matched, as a reviewer would write it."""

    def evidence(self, where: Located | None = None) -> Evidence:
        """The hint as evidence; ``where`` is the place it claims (the resolver places regions
        through the region catalog), None for an area, which is no place of its own."""
        if self.region:
            claim = f"region {self.region}"
        elif self.anycast:
            claim = "anycast"
            where = where or Located(provider=self.provider, anycast=True)
        else:
            claim = f"area {self.area}"
        owner = f" ({self.provider})" if self.provider else ""
        return Evidence(SOURCE, claim, f"{self.name} matches {self.pattern}{owner}", SourceKind.HOSTNAME, where)


# Genesys Cloud region domains -> the AWS region each runs in (Genesys "Platform API" regions).
GENESYS_DOMAINS: dict[str, str] = {
    "mypurecloud.com": "us-east-1",
    "use2.us-gov-pure.cloud": "us-east-2",
    "usw2.pure.cloud": "us-west-2",
    "cac1.pure.cloud": "ca-central-1",
    "sae1.pure.cloud": "sa-east-1",
    "mypurecloud.ie": "eu-west-1",
    "euw2.pure.cloud": "eu-west-2",
    "mypurecloud.de": "eu-central-1",
    "euc2.pure.cloud": "eu-central-2",
    "mec1.pure.cloud": "me-central-1",
    "aps1.pure.cloud": "ap-south-1",
    "mypurecloud.jp": "ap-northeast-1",
    "apne2.pure.cloud": "ap-northeast-2",
    "apne3.pure.cloud": "ap-northeast-3",
    "mypurecloud.com.au": "ap-southeast-2",
}

_AWS_REGION = r"(?:us|eu|ap|sa|ca|me|af|il|mx|cn|eusc)(?:-gov|-iso[a-z]?)?-(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d+"
_AWS_DOMAINS = (
    ("amazonaws.com.cn", "*.REGION.amazonaws.com.cn"),
    ("amazonaws.com", "*.REGION.amazonaws.com"),
    ("on.aws", "*.REGION.on.aws"),
    ("api.aws", "*.REGION.api.aws"),
    ("aws.amazon.com", "REGION.*.aws.amazon.com"),
)
# Anycast edges a name or a CNAME chain leads into: the address answers from the nearest of many
# sites, so no country can be claimed for it (a GeoIP country there is the registrant's).
_ANYCAST_EDGES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(regex), owner, pattern) for regex, owner, pattern in (
        (r"(?:.+\.)?(?:[a-z0-9]+-)?msedge\.net", "microsoft", "*.msedge.net (Microsoft's global edge, Azure Front Door)"),
        (r"(?:.+\.)?(?:akamaiedge|akamai|akamaized|akamaihd|edgekey|edgesuite)\.net", "akamai",
         "Akamai edge (*.akamaiedge.net, *.edgekey.net, *.edgesuite.net ...)"),
        (r"(?:.+\.)?(?:fastly|fastlylb)\.net", "fastly", "Fastly edge (*.fastly.net, *.fastlylb.net)"),
        (r"(?:.+\.)?cdn\.cloudflare\.net", "cloudflare", "*.cdn.cloudflare.net (Cloudflare edge)"),
    ))

_AWS_LABEL = re.compile(rf"^(?:.*-)?({_AWS_REGION})$")  # eu-west-1, or legacy s3-eu-west-1
_AWS_EDGE = {"cloudfront.net": "*.cloudfront.net (CloudFront)",
             "awsglobalaccelerator.com": "*.awsglobalaccelerator.com (Global Accelerator)"}

# Azure: the label right before these suffixes is the region.
_AZURE_REGION_BEFORE = ("cloudapp.azure.com", "azurecontainer.io", "azmk8s.io", "batch.azure.com",
                        "kusto.windows.net", "azurecontainerapps.io")
_AZURE_EDGE = {"azurefd.net": "*.azurefd.net (Azure Front Door)", "azureedge.net": "*.azureedge.net (Azure CDN)"}

_GCP_REGION_PREFIX = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z0-9-]+$")  # europe-west1-aiplatform
_GCP_MULTI_REGION = {"eu": "EU", "europe": "EU", "us": "US", "asia": "ASIA"}
_VENDOR_AREA = re.compile(r"^(eu|us)\d?$")


def _catalog_known_region(code: str, provider: str) -> bool:
    from tracecheck.geo.catalog import find_region

    return find_region(code, provider) is not None


def hints_for(name: str, known_region: KnownRegion | None = None) -> tuple[HostnameHint, ...]:
    """Every region, area or anycast hint in ``name``, strongest first."""
    return _hints(name.strip().rstrip(".").lower(), known_region or _catalog_known_region)


@lru_cache(maxsize=65536)
def _hints(name: str, known_region: KnownRegion) -> tuple[HostnameHint, ...]:
    labels = name.split(".")
    found: list[HostnameHint] = []
    for finder in (_anycast_edge, _aws, _genesys, _azure, _gcp):
        found.extend(finder(name, labels, known_region))
    if not found:
        found.extend(_vendor_area(name, labels))
    return tuple(dict.fromkeys(found))


def _under(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


def _anycast_edge(name: str, labels: list[str], known_region: KnownRegion) -> list[HostnameHint]:
    for regex, owner, pattern in _ANYCAST_EDGES:
        if regex.fullmatch(name):
            return [HostnameHint(name, owner, anycast=True, pattern=pattern)]
    return []


def _aws(name: str, labels: list[str], known_region: KnownRegion) -> list[HostnameHint]:
    for suffix, pattern in _AWS_EDGE.items():
        if _under(name, suffix):
            return [HostnameHint(name, "aws", anycast=True, pattern=pattern)]
    for suffix, pattern in _AWS_DOMAINS:
        if not _under(name, suffix):
            continue
        head = labels[: len(labels) - suffix.count(".") - 1]
        for label in reversed(head):
            match = _AWS_LABEL.match(label)
            if match:
                return [HostnameHint(name, "aws", region=match.group(1), pattern=pattern)]
        if "compute-1" in head:  # ec2-1-2-3-4.compute-1.amazonaws.com: the original us-east-1 form
            return [HostnameHint(name, "aws", region="us-east-1", pattern="*.compute-1.amazonaws.com")]
        if suffix == "amazonaws.com.cn":
            return [HostnameHint(name, "aws", area="CN", pattern="*.amazonaws.com.cn (AWS China)")]
        return []
    return []


def _genesys(name: str, labels: list[str], known_region: KnownRegion) -> list[HostnameHint]:
    for domain, region in GENESYS_DOMAINS.items():
        if _under(name, domain):
            return [HostnameHint(name, "aws", region=region, pattern=f"Genesys Cloud region domain {domain}")]
    return []


def _azure(name: str, labels: list[str], known_region: KnownRegion) -> list[HostnameHint]:
    for suffix, pattern in _AZURE_EDGE.items():
        if _under(name, suffix):
            return [HostnameHint(name, "azure", anycast=True, pattern=pattern)]
    for suffix in _AZURE_REGION_BEFORE:
        if _under(name, suffix) and name != suffix:
            label = labels[len(labels) - suffix.count(".") - 2]
            if known_region(label, "azure"):
                return [HostnameHint(name, "azure", region=label, pattern=f"*.REGION.{suffix}")]
    if _under(name, "microsoft.com") and len(labels) > 3 and known_region(labels[0], "azure"):
        return [HostnameHint(name, "azure", region=labels[0], pattern="REGION.*.microsoft.com")]
    return []


def _gcp(name: str, labels: list[str], known_region: KnownRegion) -> list[HostnameHint]:
    if _under(name, "rep.googleapis.com") and len(labels) >= 5 and known_region(labels[-4], "gcp"):
        return [HostnameHint(name, "gcp", region=labels[-4], pattern="*.REGION.rep.googleapis.com")]
    if not (_under(name, "googleapis.com") or _under(name, "pkg.dev")) or len(labels) < 3:
        return []
    first = labels[0]
    match = _GCP_REGION_PREFIX.match(first)
    if match and known_region(match.group(1), "gcp"):
        return [HostnameHint(name, "gcp", region=match.group(1), pattern=f"REGION-*.{'.'.join(labels[-2:])}")]
    area_label = first.split("-", 1)[0]
    if "-" in first and area_label in _GCP_MULTI_REGION:
        return [HostnameHint(name, "gcp", area=_GCP_MULTI_REGION[area_label],
                             pattern=f"{area_label}-*.{'.'.join(labels[-2:])} (multi-region)")]
    return []


def _vendor_area(name: str, labels: list[str]) -> list[HostnameHint]:
    """``eu.api.vendor.com``, ``api.us.vendor.io``: a vendor's regional endpoint, area only."""
    for label in labels[:-2]:
        match = _VENDOR_AREA.match(label)
        if match:
            return [HostnameHint(name, "", area=match.group(1).upper(), pattern=f"{label}.* vendor endpoint")]
    return []


def catalog_hint(host: str, region: str, pattern: str, find_region) -> HostnameHint | None:
    """A region a service catalog gives for ``host`` (``pattern`` matched it), as a hint geo ranks
    like its own; None when the region catalog cannot place the code in one provider's region."""
    found = find_region(region, None) if region else None
    if found is None or not getattr(found, "country", None):
        return None
    return HostnameHint(host, getattr(found, "provider", ""), region=getattr(found, "code", region),
                        pattern=f"the service catalog's {pattern}")
