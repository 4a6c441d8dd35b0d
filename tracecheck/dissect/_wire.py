"""Small helpers the dissectors share: address text and keyed masking of personal data."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import socket


def ipv4_text(raw: bytes) -> str:
    """Dotted quad for 4 bytes (same text as ``str(ipaddress.IPv4Address(raw))``)."""
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"


def ipv6_text(raw: bytes) -> str:
    """RFC 5952 text for 16 bytes, as ``ipaddress`` writes it (so flows and names join)."""
    text = socket.inet_ntop(socket.AF_INET6, raw)  # ten times faster than ipaddress
    if "." in text:  # libc writes embedded IPv4 in dotted form; ipaddress does not
        return str(ipaddress.IPv6Address(raw))
    return text


@functools.lru_cache(maxsize=4096)
def canonical_ip(text: str) -> str | None:
    """The canonical text of an IPv4/IPv6 address written by a peer, or None if it is not one.

    Cached and built on ``inet_pton``: host names are far more common here than addresses,
    and ``ipaddress`` pays for every refusal with an exception.
    """
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or len(text) > 45:
        return None
    try:
        if ":" in text:
            return ipv6_text(socket.inet_pton(socket.AF_INET6, text))
        if text[-1].isdigit():
            return ipv4_text(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):  # ValueError: embedded NUL
        return None
    return None


MASK = "***"
"""What a personal value becomes when no masking key was given."""


def masked_token(value: str, key: bytes | None, prefix: str, digits: int = 10) -> str:
    """``***``, or with a key a short keyed hash (``prefix`` + hex) that tells values apart.

    The hash is keyed because phone numbers are few enough to brute-force an unkeyed digest.
    """
    if key is None:
        return MASK
    digest = hmac.new(
        key, value.encode("utf-8", "surrogateescape"), hashlib.sha256
    ).hexdigest()
    return prefix + digest[:digits]


def parse_port(text: str) -> int | None:
    """A decimal port 0..65535 written in ASCII digits, else None (``str.isdigit`` takes '²')."""
    if not text or len(text) > 5 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= 65535 else None


def small_int(text: str, limit: int) -> int | None:
    """An ASCII decimal integer no larger than ``limit``, else None."""
    if (
        not text
        or len(text) > len(str(limit))
        or not text.isascii()
        or not text.isdigit()
    ):
        return None
    value = int(text)
    return value if value <= limit else None


_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_HOST_NAME = 253


def host_name(text: str) -> str | None:
    """``text`` as a lower-case host name without its trailing dot, or None unless it is one:
    letters, digits and inner hyphens (RFC 952/1123), labels of 1-63, 253 at most, and a last
    label that is not all digits (so neither an address nor ``2.0.0``).  For names a peer
    claims in free text (a greeting, a STUN REALM), which must not smuggle anything else in."""
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > MAX_HOST_NAME or not name.isascii():
        return None
    labels = name.split(".")
    if labels[-1].isdigit() or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return name
