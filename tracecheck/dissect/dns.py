"""DNS messages (RFC 1035) over UDP and TCP, plus mDNS and LLMNR: who a name resolved to.

Only what naming needs is decoded: the header, the questions, and A, AAAA, CNAME and PTR
records; every other record is stepped over by its RDLENGTH.  Captures are hostile input:
nothing here raises on bad bytes, every loop is bounded, and compression pointers are
followed with a jump limit, so a pointer loop ends instead of spinning.

Every DNS response of a capture is parsed, so the wire-level parse runs compiled
(``_dns.c``, built when tracecheck is installed) and falls back to the Python below
(``_parse_fields_py``), which also serves as the reference the tests hold the compiled parse
to.  Both return plain tuples; ``parse_dns`` makes them the types below.
"""

from __future__ import annotations

from typing import NamedTuple

from tracecheck.dissect._wire import ipv4_text, ipv6_text

TYPE_A = 1
TYPE_CNAME = 5
TYPE_PTR = 12
TYPE_AAAA = 28
_KEPT_TYPES = frozenset({TYPE_A, TYPE_CNAME, TYPE_PTR, TYPE_AAAA})
_ADDRESS_TYPES = (TYPE_A, TYPE_AAAA)
_CLASS_IN = 1

MAX_RECORDS = 1024
"""Records decoded per message at most; beyond it the message is marked incomplete."""
MAX_POINTER_JUMPS = 32
"""Compression pointers followed per name; real names need a handful."""
MAX_NAME_OCTETS = 255
"""RFC 1035 limit on a name's wire length; longer names are rejected."""
MAX_CHAIN = 16
"""CNAME hops followed from a question to an address."""

_PORT_PROTOCOLS = {53: "dns", 5353: "mdns", 5355: "llmnr"}


def protocol_for_port(port: int) -> str | None:
    """``dns`` (53), ``mdns`` (5353), ``llmnr`` (5355), or None for any other port."""
    return _PORT_PROTOCOLS.get(port)


class DnsQuestion(NamedTuple):
    """One entry of the question section."""

    name: str
    """Lower-case name without trailing dot (``""`` is the root)."""
    qtype: int
    """Query type number (1 A, 28 AAAA, 5 CNAME, 65 HTTPS ...)."""


class DnsRecord(NamedTuple):
    """One A, AAAA, CNAME or PTR resource record."""

    name: str
    """Owner name, lower-case, without trailing dot."""
    rtype: int
    """Record type number: 1 A, 28 AAAA, 5 CNAME or 12 PTR."""
    ttl: int
    """Time to live, seconds (0 to 2^32-1 as sent)."""
    value: str
    """Address text for A/AAAA; the target name for CNAME and PTR."""


class DnsMessage(NamedTuple):
    """A decoded DNS message; records of other types are not kept."""

    id: int
    """Transaction id, pairs a response with its query."""
    is_response: bool
    """QR bit."""
    opcode: int
    """0 query, 4 notify, 5 update ..."""
    rcode: int
    """Response code from the header (0 NOERROR, 3 NXDOMAIN ...)."""
    truncated: bool
    """TC bit: the server cut the answer short (the client will retry over TCP)."""
    questions: tuple[DnsQuestion, ...]
    answers: tuple[DnsRecord, ...]
    """Kept records of the answer section, in wire order."""
    additionals: tuple[DnsRecord, ...] = ()
    """Kept records of the authority and additional sections (mDNS puts addresses there)."""
    complete: bool = True
    """False when the message ended early or held a malformed record: the rest was dropped."""


class DnsAnswer(NamedTuple):
    """An address a name resolved to, with the CNAME chain that led there."""

    query: str
    """The name that was asked for (the question), or the owner if no question led here."""
    ip: str
    """The A/AAAA address."""
    ttl: int
    """TTL of the address record, seconds."""
    chain: tuple[str, ...]
    """Names from the question to the address's owner, inclusive (one name if no CNAME)."""


def _escaped_label(raw: bytes) -> str:
    # Like dig: odd bytes stay visible, and a dot inside a label cannot fake a boundary.
    out = []
    for byte in raw:
        char = chr(byte)
        if char in ".\\":
            out.append("\\" + char)
        elif 0x21 <= byte < 0x7F:
            out.append(char.lower())
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def name_text(labels: list[bytes]) -> str:
    """A name's labels as tracecheck shows them: lower-case, dot-joined, any byte that is not a
    printable name character written dig-style (``\\DDD``); shared with the sensor-log readers."""
    joined = b".".join(labels)
    if joined.isascii():  # bytes over 0x7F can only be shown escaped
        text = joined.decode("ascii")
        if (
            text.isprintable()
            and " " not in text  # shown as \032, as dig does, whatever the other labels hold
            and "\\" not in text
            and text.count(".") == len(labels) - 1
        ):
            return text.lower()
    return ".".join(_escaped_label(label) for label in labels)


def _read_name(data: bytes, offset: int) -> tuple[str, int] | None:
    """The name at ``offset`` and the offset just after it in place, or None if malformed."""
    labels: list[bytes] = []
    octets = 1
    jumps = 0
    end = -1
    size = len(data)
    while True:
        if offset >= size:
            return None
        length = data[offset]
        if length == 0:
            if end < 0:
                end = offset + 1
            break
        if length >= 0xC0:
            if offset + 1 >= size:
                return None
            jumps += 1
            if jumps > MAX_POINTER_JUMPS:
                return None
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length > 63:
            return None  # 0x40/0x80 label types were never deployed
        octets += length + 1
        if octets > MAX_NAME_OCTETS or offset + 1 + length > size:
            return None
        labels.append(data[offset + 1 : offset + 1 + length])
        offset += 1 + length
    return name_text(labels), end


def _read_record(data: bytes, offset: int) -> tuple[tuple | None, int] | None:
    """One resource record: ((name, rtype, ttl, value) if kept, next offset), or None if
    malformed."""
    named = _read_name(data, offset)
    if named is None:
        return None
    name, offset = named
    if offset + 10 > len(data):
        return None
    rtype = (data[offset] << 8) | data[offset + 1]
    rclass = (
        (data[offset + 2] << 8) | data[offset + 3]
    ) & 0x7FFF  # mDNS cache-flush bit
    ttl = int.from_bytes(data[offset + 4 : offset + 8], "big")
    rdlength = (data[offset + 8] << 8) | data[offset + 9]
    rdata_at = offset + 10
    after = rdata_at + rdlength
    if after > len(data):
        return None
    if rtype not in _KEPT_TYPES or rclass != _CLASS_IN:
        return None, after
    if rtype == TYPE_A:
        if rdlength != 4:
            return None, after
        value = ipv4_text(data[rdata_at:after])
    elif rtype == TYPE_AAAA:
        if rdlength != 16:
            return None, after
        value = ipv6_text(data[rdata_at:after])
    else:
        target = _read_name(data, rdata_at)
        if target is None or target[1] > after:
            return None, after
        value = target[0]
    return (name, rtype, ttl, value), after


def _parse_fields_py(payload: bytes) -> tuple | None:
    """The wire-level parse behind ``parse_dns``, in plain tuples (``_dns.c`` returns the same).

    None when the bytes cannot be DNS, else ``(id, flags, questions, answers, additionals,
    complete)``: questions as ``(name, qtype)``, records as ``(name, rtype, ttl, value)``.
    """
    data = bytes(payload)
    if len(data) < 12:
        return None
    flags = (data[2] << 8) | data[3]
    if (flags >> 11) & 0xF not in (0, 1, 2, 4, 5, 6):
        return None
    qdcount, ancount, nscount, arcount = (
        (data[4] << 8) | data[5],
        (data[6] << 8) | data[7],
        (data[8] << 8) | data[9],
        (data[10] << 8) | data[11],
    )
    offset = 12
    complete = True
    questions: list[tuple[str, int]] = []
    for _ in range(min(qdcount, MAX_RECORDS)):
        named = _read_name(data, offset)
        if named is None or named[1] + 4 > len(data):
            if not questions:
                return None
            complete = False
            break
        name, offset = named
        questions.append((name, (data[offset] << 8) | data[offset + 1]))
        offset += 4
    sections: tuple[list[tuple], list[tuple]] = ([], [])
    budget = MAX_RECORDS - len(questions)
    if complete:
        for section, count in ((0, ancount), (1, nscount + arcount)):
            for _ in range(count):
                if budget <= 0:
                    complete = False
                    break
                budget -= 1
                read = _read_record(data, offset)
                if read is None:
                    complete = False
                    break
                record, offset = read
                if record is not None:
                    sections[section].append(record)
            if not complete:
                break
    return (
        (data[0] << 8) | data[1],
        flags,
        tuple(questions),
        tuple(sections[0]),
        tuple(sections[1]),
        complete and qdcount <= MAX_RECORDS,
    )


def parse_dns(payload: bytes) -> DnsMessage | None:
    """Decode one DNS message (UDP payload, or one TCP message without its length prefix).

    Returns None when the bytes cannot be DNS (short header, unassigned opcode, or a question
    section that does not parse); a message that breaks off later comes back with
    ``complete=False`` and the records read so far.
    """
    fields = _parse_fields(payload)
    if fields is None:
        return None
    ident, flags, questions, answers, additionals, complete = fields
    return DnsMessage(
        id=ident,
        is_response=bool(flags & 0x8000),
        opcode=(flags >> 11) & 0xF,
        rcode=flags & 0xF,
        truncated=bool(flags & 0x0200),
        questions=tuple(map(DnsQuestion._make, questions)),
        answers=tuple(map(DnsRecord._make, answers)) if answers else (),
        additionals=tuple(map(DnsRecord._make, additionals)) if additionals else (),
        complete=complete,
    )


def address_answers(
    msg: DnsMessage, include_additionals: bool = False
) -> list[DnsAnswer]:
    """Every A/AAAA answer paired with the name asked for, following CNAME chains.

    An address whose owner no question leads to (mDNS announcements, stray records) is still
    returned, with its owner as ``query``.  Chains are followed at most ``MAX_CHAIN`` hops and
    never revisit a name, so CNAME loops end.
    """
    records = msg.answers + msg.additionals if include_additionals else msg.answers
    return address_answers_from_records([question.name for question in msg.questions], records)


def response_addresses(payload: bytes, include_additionals: bool = False) -> list[DnsAnswer]:
    """``address_answers(parse_dns(payload))`` when the payload is a response, else []: what
    is asked of every DNS packet of a capture, without making the message's types first."""
    fields = _parse_fields(payload)
    if fields is None or not fields[1] & 0x8000:
        return []
    _, _, questions, answers, additionals, _ = fields
    return address_answers_from_records([name for name, _ in questions], answers + additionals if include_additionals else answers)


def address_answers_from_records(questions: list[str], records: tuple[tuple, ...]) -> list[DnsAnswer]:
    """``address_answers`` of the names asked and the records (owner, rtype, ttl, value)."""
    # Records are unpacked, not read by attribute: cheaper.
    if len(questions) == 1:
        name = questions[0]
        for owner, rtype, _, _ in records:
            if owner != name or rtype not in _ADDRESS_TYPES:
                break
        else:  # the common response, the question's own addresses: no chain to follow
            chain = (name,)
            found = [DnsAnswer(name, ip, ttl, chain) for _, _, ttl, ip in records]
            return list(dict.fromkeys(found)) if len(found) > 1 else found
    cname_of: dict[str, str] = {}
    addresses_of: dict[str, list[tuple[str, int]]] = {}  # owner: [(ip, ttl), ...]
    for owner, rtype, ttl, value in records:
        if rtype == TYPE_CNAME:
            cname_of.setdefault(owner, value)
        elif rtype in _ADDRESS_TYPES:
            addresses_of.setdefault(owner, []).append((value, ttl))
    found: dict[DnsAnswer, None] = {}  # ordered and free of duplicates
    reached: set[str] = set()
    for question in questions:
        chain = [question]
        seen = {question}
        while True:
            owner = chain[-1]
            owned = addresses_of.get(owner)
            if owned:
                path = tuple(chain)
                for ip, ttl in owned:
                    found[DnsAnswer(question, ip, ttl, path)] = None
            reached.add(owner)
            target = cname_of.get(owner)
            if target is None or target in seen or len(chain) > MAX_CHAIN:
                break
            seen.add(target)
            chain.append(target)
    for owner, owned in addresses_of.items():
        if owner not in reached:
            for ip, ttl in owned:
                found[DnsAnswer(owner, ip, ttl, (owner,))] = None
    return list(found)


def split_tcp_messages(stream: bytes) -> tuple[list[bytes], int]:
    """Cut a DNS-over-TCP byte stream (RFC 1035 4.2.2: 2-byte length prefix) into messages.

    Returns the complete messages (prefixes removed) and how many bytes they used; keep the
    rest and call again with more data appended.  Empty (zero-length) messages are skipped.
    """
    messages: list[bytes] = []
    offset = 0
    size = len(stream)
    while offset + 2 <= size:
        length = (stream[offset] << 8) | stream[offset + 1]
        if offset + 2 + length > size:
            break
        if length:
            messages.append(bytes(stream[offset + 2 : offset + 2 + length]))
        offset += 2 + length
    return messages, offset


try:
    from tracecheck.dissect._dns import parse_fields as _parse_fields

    COMPILED = True
except ImportError:  # built without a C compiler: the same parse, in Python
    _parse_fields = _parse_fields_py
    COMPILED = False
