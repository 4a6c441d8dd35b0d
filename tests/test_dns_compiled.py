"""DNS, compiled: ``_dns.c`` must read every message exactly as the Python reference in dns.py
does, on well-formed responses, on hostile bytes and on real captures; and the faster wrapping
(``parse_dns``, ``address_answers``) must give the objects the plain constructors give."""

from __future__ import annotations

import ipaddress
import shutil
import struct
import sysconfig

import pytest
from dissect_helpers import read_transport, shared_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracecheck.dissect import dns
from tracecheck.dissect._wire import ipv6_text
from tracecheck.dissect.dns import DnsMessage, DnsQuestion, DnsRecord

compiled = pytest.mark.skipif(not dns.COMPILED, reason="the compiled DNS parse is not built (no C compiler at install)")
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARSES = (dns._parse_fields, dns._parse_fields_py)


def test_compiled_parse_is_built_where_a_compiler_is():
    cc = (sysconfig.get_config_var("CC") or "").split()
    if not cc or shutil.which(cc[0]) is None:
        pytest.skip("no C compiler on this machine: the Python parse is the expected one")
    assert dns.COMPILED, "tracecheck.dissect._dns failed to build; reinstall with `pip install -e .` and read its log"


def _same(data: bytes):
    """Both parses of data, checked equal; repr also tells True from 1 and str from bytes."""
    compiled_fields, reference = dns._parse_fields(data), dns._parse_fields_py(data)
    assert repr(compiled_fields) == repr(reference), data.hex()
    return reference


# --------------------------------------------------------------------------- builders


def wire_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label) + b"\x00"


def pointer(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def record(owner: bytes, rtype: int, rdata: bytes, ttl: int = 60, rclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def message(questions=(), answers=(), additional=(), flags=0x8180) -> bytes:
    head = struct.pack("!HHHHHH", 0x1234, flags, len(questions), len(answers), 0, len(additional))
    return head + b"".join(q + struct.pack("!HH", 1, 1) for q in questions) + b"".join(answers) + b"".join(additional)


QNAME_AT = 12


# --------------------------------------------------------------------------- the fixed bug


def _one_question(name_wire: bytes) -> bytes:
    return struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + name_wire + struct.pack("!HH", 1, 1)


def test_a_name_of_one_non_ascii_label_is_escaped_not_empty():
    # The ASCII decode of a lone label used to fail into "", which passed for a plain name.
    assert dns.name_text([b"caf\xc3\xa9"]) == "caf\\195\\169"
    assert dns.name_text([b"\xff", b"example"]) == "\\255.example"
    for parse in PARSES:
        assert parse(_one_question(b"\x05caf\xc3\xa9\x00"))[2] == (("caf\\195\\169", 1),)


def test_a_space_is_shown_escaped_whatever_the_other_labels_hold():
    # It used to stay a bare space in an otherwise plain name, and become \032 beside an odd byte.
    assert dns.name_text([b"a b", b"example"]) == "a\\032b.example"
    assert dns.name_text([b"a b", b"\xff"]) == "a\\032b.\\255"
    for parse in PARSES:
        assert parse(_one_question(b"\x03a b\x07example\x00"))[2] == (("a\\032b.example", 1),)


# --------------------------------------------------------------------------- concrete cases, both parses


def test_cname_chain_response():
    www, geo = wire_name("WWW.Netflix.com"), b"\x03geo" + pointer(QNAME_AT + 4)  # geo.netflix.com
    second = 12 + len(www) + 4 + 2 + 10  # where the first CNAME's target (geo...) is written
    payload = message(
        [www],
        [
            record(pointer(QNAME_AT), 5, geo, ttl=300),
            record(pointer(second), 5, b"\x02eu" + pointer(second), ttl=120),  # eu.geo.netflix.com
            record(b"\x02eu" + pointer(second), 1, bytes([34, 252, 114, 84]), ttl=30),
        ],
        additional=[record(b"\x00", 41, b"", ttl=0, rclass=1232)],  # EDNS OPT: stepped over
    )
    for parse in PARSES:
        assert parse(payload) == (
            0x1234,
            0x8180,
            (("www.netflix.com", 1),),
            (
                ("www.netflix.com", 5, 300, "geo.netflix.com"),
                ("geo.netflix.com", 5, 120, "eu.geo.netflix.com"),
                ("eu.geo.netflix.com", 1, 30, "34.252.114.84"),
            ),
            (),
            True,
        )
    msg = dns.parse_dns(payload)
    assert dns.address_answers(msg) == [
        dns.DnsAnswer("www.netflix.com", "34.252.114.84", 30, ("www.netflix.com", "geo.netflix.com", "eu.geo.netflix.com"))
    ]


@pytest.mark.parametrize(
    "address",
    ["2a05:d018::1", "2001:db8::1:0:0:1", "::", "::1", "1::", "0:1:0:1:0:1:0:1", "::ffff:1.2.3.4", "::1.2.3.4", "fe80::ab:cd00:0:0"],
)
def test_aaaa_text_is_what_ipaddress_writes(address):
    raw = ipaddress.IPv6Address(address).packed
    payload = message([wire_name("v6.example")], [record(pointer(QNAME_AT), 28, raw)])
    for parse in PARSES:
        assert parse(payload)[3] == (("v6.example", 28, 60, str(ipaddress.IPv6Address(raw))),)


def test_mdns_cache_flush_bit_is_masked_and_other_classes_dropped():
    owner = wire_name("printer.local")
    payload = message(
        answers=[
            record(owner, 1, bytes([192, 168, 1, 20]), ttl=120, rclass=0x8001),  # IN with cache-flush
            record(pointer(QNAME_AT), 1, bytes([192, 168, 1, 21]), rclass=0x8003),  # CHAOS: not kept
        ]
    )
    for parse in PARSES:
        assert parse(payload)[3] == (("printer.local", 1, 120, "192.168.1.20"),)


def test_pointer_loops_end():
    for parse in PARSES:
        assert parse(message([pointer(QNAME_AT)])) is None  # the question points at itself
        answer_at = 12 + len(wire_name("a.example")) + 4
        owner_loop = message([wire_name("a.example")], [record(pointer(answer_at), 1, bytes(4))])
        assert parse(owner_loop)[3:] == ((), (), False)  # the owner points at itself: malformed
        target_loop = message([wire_name("a.example")], [record(pointer(QNAME_AT), 5, pointer(answer_at + 12))])
        assert parse(target_loop)[3:] == ((), (), True)  # so does the CNAME's target: dropped


def test_the_jump_limit_and_the_name_limit_hold_in_both():
    name = wire_name("deep.example")
    hops_at = 12 + len(name) + 4 + 11  # in the rdata of a TXT record after the question
    for jumps, kept in ((dns.MAX_POINTER_JUMPS, 1), (dns.MAX_POINTER_JUMPS + 1, 0)):
        # Pointers each to the one before, the first to the question; the owner is one more.
        hops = [pointer(12)] + [pointer(hops_at + 2 * i) for i in range(jumps - 2)]
        owner = pointer(hops_at + 2 * (len(hops) - 1))
        payload = message([name], [record(b"\x00", 16, b"".join(hops)), record(owner, 1, bytes([10, 0, 0, 1]))])
        for parse in PARSES:
            assert [r[0] for r in parse(payload)[3]] == ["deep.example"] * kept
    long_name = ".".join(["x" * 63] * 3 + ["y" * 61])  # 255 octets on the wire: the most allowed
    for parse in PARSES:
        assert parse(_one_question(wire_name(long_name)))[2][0][0] == long_name
        assert parse(_one_question(wire_name(long_name + "y"))) is None


def test_the_record_limit_holds_in_both():
    many = message([wire_name("n.example")], [record(pointer(QNAME_AT), 1, bytes([10, 0, 0, 1]))] * 1100)
    for parse in PARSES:
        fields = parse(many)
        assert len(fields[3]) == dns.MAX_RECORDS - 1 and fields[5] is False
    questions = struct.pack("!HHHHHH", 1, 0x0100, 1100, 0, 0, 0) + (b"\x00" + struct.pack("!HH", 1, 1)) * 1100
    for parse in PARSES:
        fields = parse(questions)
        assert len(fields[2]) == dns.MAX_RECORDS and fields[5] is False


def test_any_bytes_like_object_is_read():
    payload = message([wire_name("a.example")], [record(pointer(QNAME_AT), 1, bytes([10, 0, 0, 1]))])
    expected = dns._parse_fields_py(payload)
    for form in (bytearray(payload), memoryview(payload), memoryview(b"xx" + payload)[2:]):
        assert dns._parse_fields(form) == expected == dns._parse_fields_py(form)


# --------------------------------------------------------------------------- generated messages

PLAIN_LABEL = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=20)
ODD_LABEL = st.one_of(
    st.binary(min_size=1, max_size=8),  # dots, backslashes, spaces, NUL, bytes over 0x7F
    st.binary(min_size=1, max_size=63),
    st.sampled_from([b"a.b", b"back\\slash", b"sp ace", b"caf\xc3\xa9", b"\xff", b"x" * 63, b"MiXeD", b"\x7f", b"~"]),
)
LABEL = st.one_of(*[PLAIN_LABEL.map(str.encode)] * 5, ODD_LABEL)


def long_labels(most: int) -> st.SearchStrategy[list[bytes]]:
    """Three 63-byte labels and one more: 249 octets on the wire and up to ``most``."""
    return st.integers(55, most - 194).map(lambda last: [b"x" * 63] * 3 + [b"y" * last])


GROUP = st.one_of(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x0DB8, 0xAB00]), st.integers(0, 0xFFFF))
IPV6 = st.one_of(
    st.lists(GROUP, min_size=8, max_size=8).map(lambda groups: struct.pack("!8H", *groups)),
    st.binary(min_size=4, max_size=4).map(lambda v4: bytes(10) + b"\xff\xff" + v4),  # IPv4-mapped
    st.binary(min_size=4, max_size=4).map(lambda v4: bytes(12) + v4),  # IPv4-compatible
)
RTYPE = st.sampled_from([1, 1, 1, 28, 28, 5, 5, 12, 41, 16, 65, 2])
RCLASS = st.sampled_from([1] * 8 + [0x8001, 0x8001, 3, 0xFF, 0x8003])


@st.composite
def dns_messages(draw, max_records: int = 6) -> bytes:
    """A DNS response much as servers write one, and worse: names compressed by pointers back,
    forward and into loops, labels of any bytes, every kept type and a few others, rdata
    lengths that lie, and section counts that sometimes do too."""
    out = bytearray(12)
    hostile = draw(st.booleans())  # else every name, length and count is well formed
    written: list[int] = []  # where names and their labels were written: what pointers aim at

    def write_name() -> None:
        starts = [len(out)]
        labels = draw(st.one_of(*[st.lists(LABEL, max_size=4)] * 8, long_labels(257 if hostile else 255), st.just([])))
        for label in labels:
            out.extend(bytes([len(label)]) + label)
            starts.append(len(out))
        ending = draw(st.sampled_from(["root", "back", "any", "self"] if hostile else ["root", "back"]))
        if ending == "back" and written:
            out.extend(pointer(draw(st.sampled_from(written))))
        elif ending == "any":  # forward, past the end, into the header, onto another pointer
            out.extend(pointer(draw(st.integers(0, 0x3FFF))))
        elif ending == "self":
            out.extend(pointer(len(out)))
        else:
            out.append(0)
        written.extend(starts)

    questions = draw(st.integers(0, 3))
    for _ in range(questions):
        write_name()
        out.extend(struct.pack("!HH", draw(st.sampled_from([1, 28, 5, 12, 65, 255])), draw(RCLASS)))
    sections = [draw(st.integers(0, max_records)), draw(st.integers(0, 2)), draw(st.integers(0, 3))]
    for _ in range(sum(sections)):
        write_name()
        rtype = draw(RTYPE)
        out.extend(struct.pack("!HHI", rtype, draw(RCLASS), draw(st.integers(0, 2**32 - 1))))
        length_at = len(out)
        out.extend(b"\x00\x00")
        if rtype in (5, 12):
            write_name()
        elif rtype == 28:
            out.extend(draw(st.one_of(*[IPV6] * 4, st.binary(max_size=20))))
        elif rtype == 1:
            out.extend(draw(st.one_of(*[st.binary(min_size=4, max_size=4)] * 4, st.binary(max_size=8))))
        else:
            out.extend(draw(st.binary(max_size=24)))
        rdlength = len(out) - length_at - 2 + (draw(st.sampled_from([0, 0, -1, 1, -3, 5])) if hostile else 0)
        out[length_at : length_at + 2] = struct.pack("!H", max(rdlength, 0))
    counts = [questions, *sections]
    if hostile and draw(st.booleans()):  # counts that lie
        counts = draw(st.lists(st.one_of(st.integers(0, 8), st.integers(0, 0xFFFF)), min_size=4, max_size=4))
    usual = st.sampled_from([0x8180, 0x8183, 0x8580, 0x8380, 0x8400, 0x0100])
    flags = draw(st.one_of(usual, usual, usual, st.integers(0, 0xFFFF)))
    out[:12] = struct.pack("!HHHHHH", draw(st.integers(0, 0xFFFF)), flags, *counts)
    return bytes(out)


@compiled
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=dns_messages())
def test_compiled_equals_reference_on_generated_messages(payload):
    _same(payload)


@compiled
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=dns_messages(), flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), min_size=1, max_size=4))
def test_compiled_equals_reference_with_bytes_flipped(payload, flips):
    data = bytearray(payload)
    for at, mask in flips:  # lengths, pointers and counts included
        data[at % len(data)] ^= mask
    _same(bytes(data))


@compiled
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=dns_messages(max_records=3))
def test_compiled_equals_reference_cut_at_every_length(payload):
    for cut in range(len(payload) + 1):
        _same(payload[:cut])


@compiled
@PROPERTY
@given(body=st.binary(max_size=300), head=st.binary(min_size=12, max_size=12))
def test_compiled_equals_reference_on_random_bytes(body, head):
    _same(head + body)
    _same(struct.pack("!HHHHHH", 7, 0x8180, 1, 2, 0, 1) + body)  # a plausible header, noise after


@compiled
@PROPERTY
@given(raw=IPV6)
def test_compiled_aaaa_text_equals_wire_ipv6_text(raw):
    payload = message([wire_name("v6.example")], [record(pointer(QNAME_AT), 28, raw)])
    assert dns._parse_fields(payload)[3][0][3] == ipv6_text(raw)


# --------------------------------------------------------------------------- the wrapping


def _constructed(fields) -> DnsMessage | None:
    """What parse_dns returned before: the public types built by their constructors."""
    if fields is None:
        return None
    ident, flags, questions, answers, additionals, complete = fields
    return DnsMessage(
        id=ident,
        is_response=bool(flags & 0x8000),
        opcode=(flags >> 11) & 0xF,
        rcode=flags & 0xF,
        truncated=bool(flags & 0x0200),
        questions=tuple(DnsQuestion(*q) for q in questions),
        answers=tuple(DnsRecord(*r) for r in answers),
        additionals=tuple(DnsRecord(*r) for r in additionals),
        complete=complete,
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=dns_messages())
def test_parse_dns_makes_the_objects_the_constructors_make(payload):
    msg, expected = dns.parse_dns(payload), _constructed(dns._parse_fields_py(payload))
    assert msg == expected and repr(msg) == repr(expected)
    if msg is not None:
        assert hash(msg) == hash(expected)
        assert all(type(q) is DnsQuestion for q in msg.questions)
        assert all(type(r) is DnsRecord for r in msg.answers + msg.additionals)


def test_a_parsed_message_cannot_be_changed():
    msg = dns.parse_dns(message([wire_name("a.example")], [record(pointer(QNAME_AT), 1, bytes([10, 0, 0, 1]))]))
    with pytest.raises(AttributeError):
        msg.id = 1
    assert msg._replace(id=9).id == 9 and msg._asdict()["answers"][0].value == "10.0.0.1"


@st.composite
def plain_responses(draw) -> bytes:
    """One question answered mostly by its own A/AAAA records (repeats too), sometimes with a
    CNAME or a stray owner: the shapes address_answers' shortcut must tell apart."""
    answers = []
    for _ in range(draw(st.integers(0, 4))):
        owner = draw(st.sampled_from([pointer(QNAME_AT)] * 4 + [wire_name("other.example"), wire_name("Q.example")]))
        kind = draw(st.sampled_from(["a", "a", "aaaa", "cname", "ptr"]))
        ttl = draw(st.sampled_from([30, 60]))
        if kind == "a":
            answers.append(record(owner, 1, bytes([10, 0, 0, draw(st.integers(1, 3))]), ttl=ttl))
        elif kind == "aaaa":
            answers.append(record(owner, 28, bytes(15) + bytes([draw(st.integers(1, 3))]), ttl=ttl))
        else:
            answers.append(record(owner, 5 if kind == "cname" else 12, wire_name("other.example"), ttl=ttl))
    return message([wire_name("q.example")], answers)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(plain_responses(), plain_responses(), dns_messages()), additionals=st.booleans())
def test_address_answers_shortcut_equals_the_general_walk(payload, additionals):
    msg = dns.parse_dns(payload)
    if msg is None:
        return
    # A PTR record names no address, but it keeps address_answers off its shortcut.
    general = msg._replace(answers=msg.answers + (DnsRecord("x.example", dns.TYPE_PTR, 0, "y.example"),))
    assert dns.address_answers(msg, additionals) == dns.address_answers(general, additionals)


# --------------------------------------------------------------------------- real captures

DNS_CAPTURES = [
    "pcaps/pcapplusplus/DnsPackets.pcap",
    "pcaps/zeek/dns-edns-ecs.pcap",
    "pcaps/wireshark-wiki/attachment_SLL_Simple.pcap",
    "pcaps/wireshark-wiki/v6.pcap",
    "pcaps/tcpdump/dns_tcp.pcap",
    "pcaps/dpkt/truncated_dns.pcap",
]


@compiled
@pytest.mark.shared_data
@pytest.mark.parametrize("name", DNS_CAPTURES)
def test_compiled_equals_reference_on_real_captures(name):
    root = shared_data()
    if root is None or not (root / name).exists():
        pytest.skip("shared capture data not present")
    parsed = 0
    for seg in read_transport(root / name):
        if not (dns.protocol_for_port(seg.sport) or dns.protocol_for_port(seg.dport)):
            continue
        payloads = [seg.payload] if seg.proto == "udp" else [seg.payload, seg.payload[2:]]
        for payload in payloads:
            parsed += _same(payload) is not None
    assert parsed
