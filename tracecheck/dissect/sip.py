"""SIP messages (RFC 3261) over UDP or TCP on any port, recognised by content.

A SIP message is full of personal data: phone numbers and user names in the request URI,
From, To, Contact and the SDP body.  This module never returns them: URIs come back only
through ``mask_sip_uri`` (scheme and host kept, user part replaced), Call-IDs through
``mask_call_id``, display names and free-text headers are dropped, and the body is returned
only as the network facts of its SDP.  Bounded: ``MAX_HEAD`` bytes of headers per message.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracecheck.dissect._wire import canonical_ip, masked_token, parse_port, small_int
from tracecheck.dissect.sdp import Sdp, parse_sdp

MAX_HEAD = 16384
"""Bytes searched for the blank line that ends the headers."""
MAX_BODY = 1 << 20
"""Largest Content-Length believed; larger values mark the message as not SIP."""
MAX_HEADERS = 200
MAX_VIA = 32
MAX_STREAM_MESSAGES = 256
"""Messages taken from one TCP buffer per call."""

_COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "v": "via",
    "m": "contact",
    "c": "content-type",
    "l": "content-length",
}
_METHOD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_CALL_ID_DEFAULT_KEY = b"tracecheck/call-id"
"""Used when no key is given, so Call-IDs still tell calls apart (see ``mask_call_id``)."""


@dataclass(frozen=True)
class ViaHop:
    """One ``Via`` entry: a hop the request passed through (no personal data)."""

    transport: str
    """``UDP``, ``TCP``, ``TLS``, ``WS``, ``WSS`` ..."""
    host: str
    """Sent-by host, lower-case (canonical text for addresses)."""
    port: int | None
    received: str = ""
    """``received=`` address the next hop saw the request come from, if it said."""


@dataclass(frozen=True)
class SipMessage:
    """One SIP request or response, with personal data masked."""

    is_request: bool
    method: str
    """The request method, or for a response the method named in CSeq."""
    status_code: int | None
    """Response status (100..699); None for requests."""
    request_uri: str
    """Masked request URI (``sip:***@host``); ``""`` for responses."""
    request_host: str
    """Host of the request URI, lower-case: the next hop or domain the request is for."""
    request_port: int | None
    call_id: str
    """Masked Call-ID: equal Call-IDs give equal text (within one key)."""
    cseq: int | None
    via: tuple[ViaHop, ...]
    from_uri: str
    """Masked From URI (display name and tag dropped)."""
    to_uri: str
    """Masked To URI."""
    contact_uri: str
    """Masked first Contact URI (``""`` if none)."""
    content_type: str
    """Media type of the body, lower-case, parameters dropped (``application/sdp``)."""
    content_length: int
    """Body length in bytes: Content-Length, or what the datagram held after the headers."""
    sdp: Sdp | None
    """The body's SDP (also found inside ``multipart/*``), if any."""
    complete: bool
    """False when the body was cut short (or the headers were)."""

    @property
    def via_hosts(self) -> tuple[str, ...]:
        return tuple(hop.host for hop in self.via)


def _clean_host(text: str) -> tuple[str, int | None] | None:
    """``host[:port]`` from a URI or Via → (lower-case host or IP text, port), else None."""
    text = text.strip()
    port_text = ""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        host, rest = text[1:close], text[close + 1 :]
        if rest.startswith(":"):
            port_text = rest[1:]
        elif rest:
            return None
    else:
        host, _, port_text = text.partition(":")
    port = parse_port(port_text) if port_text else None
    if port_text and port is None:
        return None
    address = canonical_ip(host)
    if address is not None:
        return address, port
    host = host.lower().rstrip(".")
    labels = host.split(".")
    # A domain's last label starts with a letter: this also refuses a bare phone number.
    if (
        not host
        or len(host) > 253
        or not set(host) <= _HOST_CHARS
        or not labels[-1][:1].isalpha()
    ):
        return None
    return host, port


def uri_text(value: str) -> str:
    """The URI inside a name-addr (``"Name" <uri>;tag=x``) or an addr-spec."""
    open_at = value.find("<")
    if open_at >= 0:
        close = value.find(">", open_at)
        return value[open_at + 1 : close if close >= 0 else len(value)]
    return value.strip().split(None, 1)[0] if value.strip() else ""


def uri_parts(uri: str) -> tuple[str, str, str, int | None] | None:
    """(scheme, user part, host, port) of a URI; host ``""`` if none can be trusted."""
    scheme, colon, rest = uri.partition(":")
    scheme = scheme.strip().lower()
    if not colon or not scheme.isascii() or not scheme.isalpha() or len(scheme) > 10:
        return None
    if scheme not in ("sip", "sips"):
        return scheme, rest.split(";", 1)[0], "", None  # tel:+1555...;phone-context=...
    at = rest.rfind("@")
    user, hostport = (rest[:at], rest[at + 1 :]) if at >= 0 else ("", rest)
    for stop in ";?>, ":
        cut = hostport.find(stop)
        if cut >= 0:
            hostport = hostport[:cut]
    cleaned = _clean_host(hostport)
    if cleaned is None:
        return scheme, rest, "", None
    if at < 0 and canonical_ip(cleaned[0]) is None and "." not in cleaned[0]:
        return scheme, rest, "", None  # "sip:alice" is a user name dressed as a host
    return scheme, user, cleaned[0], cleaned[1]


def mask_sip_uri(value: str, key: bytes | None = None) -> str:
    """A SIP/TEL URI (or a header value holding one) with its user part masked.

    ``"Alice" <sip:+15551234567@pbx.example.com:5061;transport=tls>;tag=9`` becomes
    ``sip:***@pbx.example.com:5061``; ``tel:+15551234567`` becomes ``tel:***``.  Display names,
    parameters and headers are dropped; anything unreadable becomes ``***``.  With ``key``,
    the user part becomes a keyed hash (``u-`` + 10 hex) instead, so parties can be told
    apart without being named.  The host is kept only if it is an IP or a real domain name.
    """
    if value.strip() == "*":
        return "*"  # the Contact wildcard of REGISTER
    parts = uri_parts(uri_text(value[:1024]))
    if parts is None:
        return masked_token(value, key, "u-")
    scheme, user, host, port = parts
    if not host:
        return scheme + ":" + masked_token(user, key, "u-")
    hostport = f"[{host}]" if ":" in host else host
    if port is not None:
        hostport += f":{port}"
    if not user:
        return f"{scheme}:{hostport}"
    return f"{scheme}:{masked_token(user, key, 'u-')}@{hostport}"


def mask_call_id(call_id: str, key: bytes | None = None) -> str:
    """A Call-ID with its local part (before ``@``) replaced by a keyed hash (``c-`` + 12 hex).

    Call-IDs link a call's messages, so they are hashed rather than blanked.  Without ``key``
    a fixed built-in key is used: reports stay reproducible, but a Call-ID made from a phone
    number could then be recovered by guessing; pass a secret key to rule that out.
    """
    call_id = call_id.strip()
    if not call_id:
        return ""
    local, at, host = call_id.rpartition("@")
    if not at:
        local, host = call_id, ""
    digest = masked_token(local, key or _CALL_ID_DEFAULT_KEY, "c-", digits=12)
    kept_host = _clean_host(host) if host else None
    return digest + ("@" + kept_host[0] if kept_host else "")


def _start_line(line: str) -> tuple[bool, str, int | None, str] | None:
    """(is_request, method, status, request-URI) of a SIP start line, else None."""
    if line.startswith("SIP/2.0 "):
        status = small_int(line[8:11], 699)
        if status is None or status < 100 or (len(line) > 11 and line[11] != " "):
            return None
        return False, "", status, ""
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[1]:
        return None
    method = parts[0]
    if not method or len(method) > 32 or not set(method.encode()) <= _METHOD_BYTES:
        return None
    return True, method, None, parts[1]


def _headers(lines: list[str]) -> dict[str, list[str]]:
    """Header values by lower-case long name, continuation lines joined, in order."""
    found: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in lines[:MAX_HEADERS]:
        if line[:1] in (" ", "\t") and last:
            last[-1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon:
            last = None
            continue
        name = name.strip().lower()
        name = _COMPACT.get(name, name)
        last = found.setdefault(name, [])
        last.append(value.strip())
    return found


def _via_hops(values: list[str]) -> tuple[ViaHop, ...]:
    hops: list[ViaHop] = []
    for value in values:
        for entry in value.split(","):
            if len(hops) >= MAX_VIA:
                return tuple(hops)
            protocol, _, rest = entry.strip().partition(" ")
            transport = protocol.rsplit("/", 1)[-1].strip().upper()[:8]
            sent_by, *params = rest.strip().split(";")
            cleaned = _clean_host(sent_by)
            if cleaned is None:
                continue
            received = ""
            for param in params:
                name, _, param_value = param.partition("=")
                if name.strip().lower() == "received":
                    received = canonical_ip(param_value) or ""
            hops.append(ViaHop(transport, cleaned[0], cleaned[1], received))
    return tuple(hops)


def _sdp_of(content_type: str, raw_type: str, body: bytes) -> Sdp | None:
    if content_type == "application/sdp" or (
        not content_type and body.startswith(b"v=0")
    ):
        return parse_sdp(body)
    if not content_type.startswith("multipart/"):
        return None
    boundary = ""
    for param in raw_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary or len(boundary) > 70:
        return None
    for part in body.split(b"--" + boundary.encode("latin-1", "replace"), 17)[1:17]:
        head, sep, part_body = part.partition(b"\r\n\r\n")
        if sep and b"application/sdp" in head.lower():
            return parse_sdp(part_body)
    return None


def _parse_one(
    data: bytes, start: int, stream: bool, key: bytes | None, details: bool = True
) -> tuple[SipMessage, int] | None:
    """One message starting at ``data[start]`` and the offset after it; None if not SIP."""
    limit = start + MAX_HEAD
    head_end = data.find(b"\r\n\r\n", start, limit)
    separator = 4
    if head_end < 0:
        head_end = data.find(b"\n\n", start, limit)
        separator = 2
    head_complete = head_end >= 0
    if not head_complete:
        if stream:
            return None
        head_end, separator = min(len(data), limit), 0
    lines = (
        data[start:head_end]
        .decode("utf-8", "replace")
        .replace("\r\n", "\n")
        .split("\n")
    )
    start = _start_line(lines[0].rstrip("\r"))
    if start is None:
        return None
    is_request, method, status, raw_uri = start
    headers = _headers(lines[1:])
    body_at = head_end + separator
    available = len(data) - body_at if head_complete else 0
    length_values = headers.get("content-length")
    if length_values:
        declared = small_int(length_values[0].strip(), MAX_BODY)
        if declared is None:
            return None
    else:
        declared = (
            0 if stream else available
        )  # TCP requires Content-Length; UDP may omit it
    body = data[body_at : body_at + min(declared, available)]
    raw_type = headers.get("content-type", [""])[0]
    content_type = raw_type.split(";", 1)[0].strip().lower()[:100]
    cseq_number, _, cseq_method = headers.get("cseq", [""])[0].partition(" ")
    request_uri = uri_parts(raw_uri) if is_request else None
    message = SipMessage(
        is_request=is_request,
        method=method or cseq_method.strip().upper()[:32],
        status_code=status,
        request_uri=mask_sip_uri(raw_uri, key) if is_request and details else "",
        request_host=request_uri[2] if request_uri else "",
        request_port=request_uri[3] if request_uri else None,
        call_id=mask_call_id(headers.get("call-id", [""])[0][:256], key),
        cseq=small_int(cseq_number.strip(), 2**32 - 1),
        via=_via_hops(headers.get("via", [])) if details else (),
        from_uri=mask_sip_uri(headers["from"][0], key) if details and "from" in headers else "",
        to_uri=mask_sip_uri(headers["to"][0], key) if details and "to" in headers else "",
        contact_uri=mask_sip_uri(headers["contact"][0], key)
        if details and "contact" in headers
        else "",
        content_type=content_type,
        content_length=declared,
        sdp=_sdp_of(content_type, raw_type, body) if body else None,
        complete=head_complete and len(body) == declared,
    )
    return message, body_at + len(body)


def parse_sip(payload: bytes, mask_key: bytes | None = None, details: bool = True) -> SipMessage | None:
    """The first SIP message in a UDP datagram or TCP payload, or None if it is not SIP.

    ``mask_key`` keys the hashes that replace user parts and Call-IDs (see ``mask_sip_uri``).
    ``details=False`` leaves out what naming and calls do not need, about half the work: the
    masked request URI, From, To and Contact come back empty, and no Via hops.
    """
    data = bytes(payload).lstrip(b"\r\n")[: MAX_HEAD + MAX_BODY]
    parsed = _parse_one(data, 0, stream=False, key=mask_key, details=details)
    return parsed[0] if parsed else None


def split_sip_stream(
    stream: bytes, mask_key: bytes | None = None, details: bool = True
) -> tuple[list[SipMessage], int]:
    """Complete SIP messages at the start of a TCP byte stream, and the bytes they used.

    Keep-alive CRLFs (RFC 5626) are skipped.  Keep the unused rest and call again when more
    data arrives.  If no message ends within ``MAX_HEAD`` bytes the stream is not SIP that
    can be followed: stop feeding it.  ``details`` as for ``parse_sip``.
    """
    data = bytes(stream)
    messages: list[SipMessage] = []
    offset = 0
    while len(messages) < MAX_STREAM_MESSAGES:
        while offset < len(data) and data[offset] in (13, 10):
            offset += 1
        parsed = _parse_one(data, offset, stream=True, key=mask_key, details=details)
        if parsed is None or not parsed[0].complete:
            break
        messages.append(parsed[0])
        offset = parsed[1]
    return messages, offset
