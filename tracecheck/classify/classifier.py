"""Destinations to services: which vendor a destination is, what it does, what region its name implies.

A destination often has several names (TLS SNI, the DNS query, the CNAME chain).  The caller lists
them strongest first, and the first name the catalog knows decides; only among that name's
matches does specificity choose.  We do not let a later name override an earlier one because a
CNAME into a CDN (``d111.cloudfront.net`` behind ``api.vendor.com``) names the carrier, not the
service the data was sent to.

Media flows (RTP/RTCP, TURN relays) rarely carry a name at all; they take their category from the
call their SDP was negotiated in (``classify_media``).
"""

from __future__ import annotations

from collections.abc import Iterable

from tracecheck.classify.catalog import Catalog, load_catalog, normalize_host
from tracecheck.vocabulary import Category, Service

_default: Catalog | None = None


def default_catalog() -> Catalog:
    """The built-in catalog alone, loaded once."""
    global _default
    if _default is None:
        _default = load_catalog()
    return _default


def classify(names: Iterable[str], catalog: Catalog | None = None) -> Service | None:
    """The service the first recognised name belongs to, or None if no name is in the catalog.

    ``Service.matched`` holds the pattern that matched and the name it matched, as evidence
    (``transcribestreaming.{region}.amazonaws.com <- transcribestreaming.us-east-1.amazonaws.com``).
    """
    catalog = catalog or default_catalog()
    for name in names:
        host = normalize_host(name)
        if not host:
            continue
        found = catalog.match(host)
        if found is None:
            continue
        pattern, region = found
        return Service(
            vendor=pattern.vendor,
            category=pattern.category,
            name=pattern.name,
            region=region,
            matched=f"{pattern.text} <- {host}",
        )
    return None


# Calls whose signalling goes to a platform carry ordinary call media; a call set up towards a
# transcription or analytics service (SIPREC, a bot) sends the conversation itself there, so the
# media is that service's data and is judged by that category's rule.
_CALL_CATEGORIES_THAT_MEAN_PLAIN_MEDIA = {None, Category.PLATFORM, Category.MEDIA, Category.OTHER}


def classify_media(call_category: Category | None, service: Service | None = None) -> Service:
    """The service of a media flow (RTP/RTCP/TURN) that belongs to a SIP call.

    ``call_category`` is the category of the call's signalling destination (None if unknown);
    ``service`` is what the catalog said of the media address itself, if anything (it keeps the
    vendor and the region its name implied).  The caller finds the call of a flow through
    ``Call.media`` and uses this instead of ``classify`` for those flows.
    """
    category = Category.MEDIA if call_category in _CALL_CATEGORIES_THAT_MEAN_PLAIN_MEDIA else call_category
    label = "media" if category is Category.MEDIA else f"{category.value} media"
    return Service(
        vendor=service.vendor if service else "",
        category=category,
        name=f"{service.name} {label}" if service and service.name else f"call {label}",
        region=service.region if service else "",
        matched=f"media of a SIP call (category from the call: {call_category.value if call_category else 'unknown'})",
    )
