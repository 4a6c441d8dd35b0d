"""HTTP/1.x request heads: which host a client asked for, even through a proxy.

A capture at an agent's desktop behind a corporate proxy shows only the proxy's address;
the request line (``CONNECT host:port`` or an absolute URI) names the real destination.
Only the first ``MAX_HEAD`` bytes are read; nothing here raises on bad bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracecheck.dissect._wire import parse_port

MAX_HEAD = 8192
"""Bytes of the request head examined; headers beyond it are not seen."""
MAX_HEADERS = 100
"""Header lines examined."""
_MAX_METHOD = 24
_METHOD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")
_HOST_BYTES = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:[]%~"
)


@dataclass(frozen=True)
class HttpRequest:
    """The head of one HTTP/1.x request."""

    method: str
    """``GET``, ``POST``, ``CONNECT`` ... as sent (upper-case token)."""
    target: str
    """The request target (path, absolute URI, or ``host:port`` for CONNECT) with any query,
    fragment and userinfo removed: those carry credentials and personal data."""
    version: str
    """``HTTP/1.1``, ``HTTP/1.0`` ..."""
    host: str
    """Lower-case host without port or trailing dot: from an absolute URI target if there is
    one (RFC 9112 3.2.2: it overrides Host), else the Host header, else ``""``."""
    port: int | None
    """The port written beside ``host``, if any."""
    connect_host: str = ""
    """For ``CONNECT host:port``: the destination the proxy was asked to reach."""
    connect_port: int | None = None
    """For ``CONNECT host:port``: its port."""
    websocket: bool = False
    """True when the request asks to upgrade to WebSocket (``Upgrade: websocket``)."""
    complete: bool = False
    """True when the whole head (up to the blank line) was within the bytes examined."""


def split_authority(authority: str) -> tuple[str, int | None] | None:
    """``host[:port]`` or ``[v6]:port`` → (clean lower-case host, port); None if malformed."""
    authority = authority.strip()
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]  # drop userinfo: it is a credential
    if (
        not authority
        or len(authority) > 300
        or not set(authority.encode()) <= _HOST_BYTES
    ):
        return None
    port_text = ""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            return None
        host, rest = authority[1:close], authority[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
    elif authority.count(":") == 1:
        host, port_text = authority.split(":")
    elif ":" in authority:
        host = authority  # a bare IPv6 address, written without brackets
    else:
        host = authority
    port: int | None = None
    if port_text:
        port = parse_port(port_text)
        if port is None:
            return None
    host = host.lower().rstrip(".")
    if not host or len(host) > 253:
        return None
    return host, port


def _authority_of_uri(target: str) -> str | None:
    scheme_end = target.find("://")
    if scheme_end <= 0 or not target[:scheme_end].isalpha():
        return None
    rest = target[scheme_end + 3 :]
    for stop in "/?#":
        cut = rest.find(stop)
        if cut >= 0:
            rest = rest[:cut]
    return rest


def _without_private_parts(target: str) -> str:
    for stop in "?#":
        cut = target.find(stop)
        if cut >= 0:
            target = target[:cut]
    scheme_end = target.find("://")
    at = target.find("@", scheme_end + 3 if scheme_end > 0 else 0)
    slash = target.find("/", scheme_end + 3) if scheme_end > 0 else -1
    if scheme_end > 0 and at >= 0 and (slash < 0 or at < slash):
        target = target[: scheme_end + 3] + target[at + 1 :]
    return target


# Methods a request may start with before its request line is whole (a long URL cut by the
# segment boundary): a known method is needed there, since " HTTP/" cannot be checked yet.
KNOWN_METHODS = frozenset(b"GET POST PUT HEAD DELETE OPTIONS PATCH CONNECT TRACE PROPFIND PROPPATCH MKCOL "
                          b"COPY MOVE LOCK UNLOCK SEARCH REPORT SUBSCRIBE NOTIFY".split())


def starts_like_http_request(payload: bytes) -> bool:
    """A whole request line (``looks_like_http_request``), or the start of one: a known method,
    a space, and no line end yet (the first segment of a request whose URL fills it), or a
    piece of a known method (a first segment cut very short)."""
    if looks_like_http_request(payload):
        return True
    head = bytes(payload[:MAX_HEAD])
    space = head.find(b" ", 0, _MAX_METHOD + 1)
    if space < 0:
        return 0 < len(head) < _MAX_METHOD and any(method.startswith(head) for method in KNOWN_METHODS)
    return space > 0 and head[:space] in KNOWN_METHODS and b"\n" not in head


def looks_like_http_request(payload: bytes) -> bool:
    """Cheap first test: an upper-case token, a space, and ``HTTP/`` on the first line."""
    head = bytes(payload[:MAX_HEAD])
    space = head.find(b" ", 0, _MAX_METHOD + 1)
    if space <= 0 or not set(head[:space]) <= _METHOD_BYTES:
        return False
    line_end = head.find(b"\n")
    return b" HTTP/" in head[: line_end if line_end >= 0 else len(head)]


def parse_http_request(payload: bytes) -> HttpRequest | None:
    """Decode the request line and the headers that name the destination.

    Returns None unless the payload starts with ``METHOD SP target SP HTTP/x.y``.
    """
    if not looks_like_http_request(payload):
        return None
    head = bytes(payload[:MAX_HEAD])
    blank = head.find(b"\r\n\r\n")
    if blank < 0:
        blank = head.find(b"\n\n")
    complete = blank >= 0
    # A head that goes on past these bytes ends in a header line that may be cut short ("Host: m"
    # of "Host: media.example.net"): only the header lines a line break ends are read.  (The
    # request line's target is whole already: " HTTP/" follows it.)
    last_break = head.rfind(b"\n")
    end = blank if complete else (last_break if last_break >= 0 else len(head))
    text = head[:end].decode("latin-1")
    lines = text.split("\n", MAX_HEADERS + 1)
    parts = lines[0].split()  # runs of spaces between the three parts are allowed (RFC 9112 3)
    if len(parts) != 3 or not parts[2].startswith("HTTP/") or not parts[1]:
        return None
    method, target, version = parts
    header_host = ""
    upgrade = ""
    for line in lines[1 : MAX_HEADERS + 1]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name = name.strip().lower()
        if name == "host" and not header_host:
            header_host = value.strip()
        elif name == "upgrade":
            upgrade = value.strip().lower()
    host, port = "", None
    connect_host, connect_port = "", None
    if method == "CONNECT":
        split = split_authority(target)
        if split is not None:
            connect_host, connect_port = split
    authority = _authority_of_uri(target)
    for candidate in (authority, header_host, connect_host and target):
        split = split_authority(candidate) if candidate else None
        if split is not None:
            host, port = split
            break
    return HttpRequest(
        method=method,
        target=_without_private_parts(target),
        version=version,
        host=host,
        port=port,
        connect_host=connect_host,
        connect_port=connect_port,
        websocket="websocket" in upgrade,
        complete=complete,
    )
