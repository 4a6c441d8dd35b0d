"""DNS: records, CNAME chains, compression loops, TCP framing, hostile bytes, real captures."""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import struct
import time
from collections import defaultdict

import pytest
from dissect_helpers import read_transport, shared_data
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from tracecheck.dissect.dns import (
    DnsAnswer,
    DnsMessage,
    address_answers,
    parse_dns,
    protocol_for_port,
    split_tcp_messages,
)

# --------------------------------------------------------------------------- builders


def wire_name(name: str) -> bytes:
    out = b""
    for label in name.split(".") if name else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def pointer(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def record(owner: bytes, rtype: int, ttl: int, rdata: bytes, rclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def a(owner: bytes, ip: str, ttl: int = 60) -> bytes:
    return record(owner, 1, ttl, ipaddress.ip_address(ip).packed)


def aaaa(owner: bytes, ip: str, ttl: int = 60) -> bytes:
    return record(owner, 28, ttl, ipaddress.ip_address(ip).packed)


def cname(owner: bytes, target: bytes, ttl: int = 300) -> bytes:
    return record(owner, 5, ttl, target)


def message(
    questions=(), answers=(), authority=(), additional=(), ident=0x1234, flags=0x8180
) -> bytes:
    head = struct.pack(
        "!HHHHHH",
        ident,
        flags,
        len(questions),
        len(answers),
        len(authority),
        len(additional),
    )
    body = b"".join(q + struct.pack("!HH", qtype, 1) for q, qtype in questions)
    return head + body + b"".join(answers) + b"".join(authority) + b"".join(additional)


QNAME_AT = 12  # offset of the first question name: what compressed answers point to

# --------------------------------------------------------------------------- records


def test_scapy_response_with_cname_and_both_families():
    payload = bytes(
        DNS(
            id=7,
            qr=1,
            rcode=0,
            qd=[DNSQR(qname="Transcribe.EU-West-1.amazonaws.com")],
            an=[
                DNSRR(
                    rrname="transcribe.eu-west-1.amazonaws.com",
                    type="CNAME",
                    rdata="lb.aws.com",
                    ttl=300,
                ),
                DNSRR(rrname="lb.aws.com", rdata="3.248.0.10", ttl=30),
                DNSRR(rrname="lb.aws.com", type="AAAA", rdata="2a05:d018::1", ttl=20),
            ],
        ).compress()
    )
    msg = parse_dns(payload)
    assert isinstance(msg, DnsMessage)
    assert (msg.id, msg.is_response, msg.rcode, msg.complete) == (7, True, 0, True)
    assert msg.questions[0].name == "transcribe.eu-west-1.amazonaws.com"
    assert msg.questions[0].qtype == 1
    assert [(r.name, r.rtype, r.ttl, r.value) for r in msg.answers] == [
        ("transcribe.eu-west-1.amazonaws.com", 5, 300, "lb.aws.com"),
        ("lb.aws.com", 1, 30, "3.248.0.10"),
        ("lb.aws.com", 28, 20, "2a05:d018::1"),
    ]
    chain = ("transcribe.eu-west-1.amazonaws.com", "lb.aws.com")
    assert address_answers(msg) == [
        DnsAnswer("transcribe.eu-west-1.amazonaws.com", "3.248.0.10", 30, chain),
        DnsAnswer("transcribe.eu-west-1.amazonaws.com", "2a05:d018::1", 20, chain),
    ]


def test_query_nxdomain_and_header_flags():
    query = parse_dns(
        message([(wire_name("api.mypurecloud.ie"), 28)], flags=0x0100, ident=9)
    )
    assert query.is_response is False and query.id == 9 and query.answers == ()
    nx = parse_dns(message([(wire_name("nope.example"), 1)], flags=0x8183))
    assert nx.rcode == 3 and address_answers(nx) == []
    truncated = parse_dns(message([(wire_name("big.example"), 1)], flags=0x8380))
    assert truncated.truncated is True


def test_other_types_are_stepped_over_by_rdlength():
    owner = pointer(QNAME_AT)
    payload = message(
        [(wire_name("example.com"), 255)],
        answers=[
            record(owner, 15, 60, b"\x00\x0a" + wire_name("mx.example.com")),  # MX
            record(owner, 16, 60, b"\x05hello"),  # TXT
            record(owner, 65, 60, b"\x00\x01\x00"),  # HTTPS
            record(owner, 1, 60, b"\x01\x02\x03"),  # A with a wrong length: skipped
            a(owner, "192.0.2.1", 77),
        ],
        additional=[record(b"\x00", 41, 0, b"")],  # EDNS OPT
    )
    msg = parse_dns(payload)
    assert msg.complete
    assert [(r.rtype, r.value, r.ttl) for r in msg.answers] == [(1, "192.0.2.1", 77)]
    assert address_answers(msg) == [
        DnsAnswer("example.com", "192.0.2.1", 77, ("example.com",))
    ]


def test_ptr_records_are_kept():
    msg = parse_dns(
        message(
            [(wire_name("10.2.0.192.in-addr.arpa"), 12)],
            answers=[record(pointer(QNAME_AT), 12, 60, wire_name("Host.Example.NET"))],
        )
    )
    assert msg.answers[0].rtype == 12 and msg.answers[0].value == "host.example.net"
    assert address_answers(msg) == []


def test_mdns_cache_flush_class_and_ports():
    owner = wire_name("yaels-iphone.local")
    msg = parse_dns(
        message(
            answers=[record(owner, 1, 120, bytes([10, 0, 0, 2]), rclass=0x8001)],
            flags=0x8400,
        )
    )
    assert address_answers(msg) == [
        DnsAnswer("yaels-iphone.local", "10.0.0.2", 120, ("yaels-iphone.local",))
    ]
    assert [protocol_for_port(p) for p in (53, 5353, 5355, 443)] == [
        "dns",
        "mdns",
        "llmnr",
        None,
    ]


def test_additional_section_addresses_only_when_asked():
    msg = parse_dns(
        message(
            [(wire_name("example.com"), 2)],
            additional=[a(wire_name("ns1.example.com"), "198.51.100.1")],
        )
    )
    assert msg.additionals[0].value == "198.51.100.1"
    assert address_answers(msg) == []
    assert address_answers(msg, include_additionals=True)[0].query == "ns1.example.com"


def test_odd_label_bytes_are_escaped_not_split():
    owner = b"\x03a.b\x02\xffZ\x00"
    msg = parse_dns(message(answers=[a(owner, "192.0.2.9")]))
    assert msg.answers[0].name == "a\\.b.\\255z"


def test_ipv4_mapped_ipv6_answer_text_matches_ipaddress():
    mapped = "::ffff:192.0.2.1"
    msg = parse_dns(message(answers=[aaaa(wire_name("m.example"), mapped)]))
    assert msg.answers[0].value == str(ipaddress.IPv6Address(mapped))


# --------------------------------------------------------------------------- CNAME chains


def test_long_cname_chain_is_followed_to_the_address():
    names = [f"n{i}.example" for i in range(6)]
    answers = [cname(wire_name(names[i]), wire_name(names[i + 1])) for i in range(5)]
    answers.append(a(wire_name(names[-1]), "203.0.113.5", 42))
    msg = parse_dns(message([(wire_name(names[0]), 1)], answers=answers))
    assert address_answers(msg) == [
        DnsAnswer(names[0], "203.0.113.5", 42, tuple(names))
    ]


def test_cname_loop_terminates_and_stray_addresses_are_kept():
    loop = [
        cname(wire_name("x.example"), wire_name("y.example")),
        cname(wire_name("y.example"), wire_name("x.example")),
        a(wire_name("z.example"), "192.0.2.77"),
    ]
    msg = parse_dns(message([(wire_name("x.example"), 1)], answers=loop))
    assert address_answers(msg) == [
        DnsAnswer("z.example", "192.0.2.77", 60, ("z.example",))
    ]


def test_every_question_gets_its_own_chain():
    msg = parse_dns(
        message(
            [(wire_name("a.example"), 1), (wire_name("b.example"), 1)],
            answers=[
                cname(wire_name("a.example"), wire_name("edge.cdn")),
                cname(wire_name("b.example"), wire_name("edge.cdn")),
                a(wire_name("edge.cdn"), "198.51.100.9"),
            ],
        )
    )
    assert {(x.query, x.chain) for x in address_answers(msg)} == {
        ("a.example", ("a.example", "edge.cdn")),
        ("b.example", ("b.example", "edge.cdn")),
    }


# --------------------------------------------------------------------------- compression


def test_pointer_to_itself_ends():
    # The answer's owner is a pointer to its own offset.
    head = message([(wire_name("q.example"), 1)])
    at = len(head)
    payload = (
        head[:6]
        + b"\x00\x01"
        + head[8:]
        + pointer(at)
        + struct.pack("!HHIH", 1, 1, 1, 4)
        + bytes(4)
    )
    msg = parse_dns(payload)
    assert msg is not None and msg.complete is False and msg.answers == ()


def test_two_pointer_cycle_in_a_question_ends():
    payload = (
        struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0)
        + pointer(14)
        + pointer(12)
        + b"\x00\x01\x00\x01"
    )
    started = time.perf_counter()
    assert parse_dns(payload) is None
    assert time.perf_counter() - started < 0.1


def test_label_then_pointer_cycle_ends():
    # "\x01a" then a pointer back to the label: a.a.a.a... until the octet bound stops it.
    payload = (
        struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0)
        + b"\x01a"
        + pointer(12)
        + b"\x00\x01\x00\x01"
    )
    assert parse_dns(payload) is None


def test_forward_pointer_and_pointer_out_of_range():
    question = wire_name("fwd.example")
    # The answer's CNAME target points forward to a name written after the record.
    target_at = 12 + len(question) + 4 + 2 + 10 + 2
    answer = cname(pointer(QNAME_AT), pointer(target_at)) + wire_name("t.example")
    payload = message([(question, 1)], answers=[answer])
    assert parse_dns(payload).answers[0].value == "t.example"
    broken = message(
        [(question, 1)], answers=[cname(pointer(QNAME_AT), pointer(0x3FFF))]
    )
    assert parse_dns(broken).answers == ()


def test_names_longer_than_255_octets_are_refused():
    long_name = ".".join(["a" * 63] * 4)  # 4 * 64 + 1 = 257 octets
    assert parse_dns(message([(wire_name(long_name), 1)])) is None
    assert (
        parse_dns(message([(wire_name(long_name[:-3]), 1)])).questions[0].name
        == long_name[:-3]
    )


def test_reserved_label_types_and_bad_headers():
    assert parse_dns(message([(b"\x41" + b"a" * 65 + b"\x00", 1)])) is None
    assert parse_dns(b"\x00" * 11) is None
    assert parse_dns(struct.pack("!HHHHHH", 1, 3 << 11, 0, 0, 0, 0)) is None  # opcode 3


def test_truncated_message_returns_what_was_read():
    full = message(
        [(wire_name("t.example"), 1)],
        answers=[a(pointer(QNAME_AT), "192.0.2.1"), a(pointer(QNAME_AT), "192.0.2.2")],
    )
    cut = parse_dns(full[:-3])
    assert cut.complete is False
    assert [r.value for r in cut.answers] == ["192.0.2.1"]


def test_worst_case_message_is_bounded():
    # 64 KiB of records whose owners are 127-label names reached through pointers.
    question = (b"\x01a" * 120) + b"\x00"
    rr = pointer(QNAME_AT) + struct.pack("!HHIH", 1, 1, 1, 4) + bytes(4)
    payload = (
        struct.pack("!HHHHHH", 1, 0x8180, 1, 65535, 0, 0)
        + question
        + b"\x00\x01\x00\x01"
    )
    payload += rr * ((65535 - len(payload)) // len(rr))
    started = time.perf_counter()
    msg = parse_dns(payload)
    assert time.perf_counter() - started < 2.0
    assert msg.complete is False and len(msg.answers) < 1024


# --------------------------------------------------------------------------- TCP framing


def tcp_framed(*messages: bytes) -> bytes:
    return b"".join(struct.pack("!H", len(m)) + m for m in messages)


def test_split_tcp_messages_at_every_boundary():
    first = message(
        [(wire_name("one.example"), 1)], answers=[a(pointer(QNAME_AT), "192.0.2.1")]
    )
    second = message(
        [(wire_name("two.example"), 28)],
        answers=[aaaa(pointer(QNAME_AT), "2001:db8::2")],
    )
    stream = tcp_framed(first, second) + b"\x00\x00"  # and an empty message
    for cut in range(len(stream) + 1):
        got: list[bytes] = []
        buffer = b""
        for segment in (stream[:cut], stream[cut:]):
            buffer += segment
            messages, used = split_tcp_messages(buffer)
            got += messages
            buffer = buffer[used:]
        assert got == [first, second], cut
        assert buffer == b""


def test_split_tcp_messages_keeps_the_incomplete_tail():
    messages, used = split_tcp_messages(b"\x00\x05abc")
    assert (messages, used) == ([], 0)
    messages, used = split_tcp_messages(b"\x00\x01x\x00\x09ab")
    assert (messages, used) == ([b"x"], 3)


@given(
    st.lists(st.binary(max_size=40), max_size=6),
    st.lists(st.integers(0, 400), max_size=5),
)
def test_split_tcp_messages_any_segmentation(messages, cuts):
    stream = tcp_framed(*messages)
    points = sorted({c for c in cuts if c <= len(stream)})
    got, buffer = [], b""
    for start, end in zip([0, *points], [*points, len(stream)]):
        buffer += stream[start:end]
        parts, used = split_tcp_messages(buffer)
        got += parts
        buffer = buffer[used:]
    assert got == [m for m in messages if m]


# --------------------------------------------------------------------------- properties


label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
hostname = st.lists(label, min_size=1, max_size=5).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)


@given(
    hostname,
    st.lists(hostname, max_size=4, unique=True),
    st.lists(st.one_of(ipv4, ipv6), min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
)
def test_built_chains_round_trip(query, middle, ips, ttl):
    names = [query] + [n for n in middle if n != query]
    answers = [cname(wire_name(x), wire_name(y)) for x, y in itertools.pairwise(names)]
    for ip in ips:
        answers.append((a if ":" not in ip else aaaa)(wire_name(names[-1]), ip, ttl))
    msg = parse_dns(message([(wire_name(query), 1)], answers=answers))
    got = address_answers(msg)
    assert {(x.query, x.ip, x.ttl, x.chain) for x in got} == {
        (query, ip, ttl, tuple(names)) for ip in ips
    }


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(payload):
    msg = parse_dns(payload)
    if msg is not None:
        address_answers(msg, include_additionals=True)
    split_tcp_messages(payload)


@settings(max_examples=300)
@given(st.binary(min_size=12, max_size=300), st.integers(0, 0xFFFF))
def test_random_bodies_behind_a_valid_header_never_raise(body, counts):
    payload = struct.pack("!HHHHHH", 1, 0x8180, counts & 3, counts >> 4, 1, 1) + body
    msg = parse_dns(payload)
    if msg is not None:
        address_answers(msg)


# --------------------------------------------------------------------------- real captures

# Answer-section A/AAAA pairs as tshark 4.x decodes them (PDML, answers only, mDNS included),
# written "query|owner|address|ttl" (query = the owner when there is no question), sorted,
# joined with newlines: the count and the first 16 hex digits of the SHA-256.
TSHARK_ANSWER_PAIRS = {
    "pcaps/pcapplusplus/DnsPackets.pcap": (885, "ab23949acf0a7040"),
    "pcaps/zeek/dns-edns-ecs.pcap": (55, "faf3344ab73f369b"),
    "pcaps/tcpdump/dns_tcp.pcap": (2, "160e8cb41af93a74"),
    "pcaps/dpkt/truncated_dns.pcap": (5, "f61a2694078fa461"),
}


def answer_pairs(path) -> list[str]:
    """Every answer pair in a capture: UDP datagrams and reassembled TCP streams on DNS ports."""
    lines = []
    streams: dict[tuple, list] = defaultdict(list)
    for seg in read_transport(path):
        if not (protocol_for_port(seg.sport) or protocol_for_port(seg.dport)):
            continue
        if seg.proto == "udp":
            payloads = [seg.payload]
        else:
            streams[(seg.src, seg.sport, seg.dst, seg.dport)].append(
                (seg.seq, seg.payload)
            )
            continue
        lines += _pairs_of(payloads)
    for segments in streams.values():
        data, seen = b"", set()
        for seq, payload in sorted(segments, key=lambda s: s[0]):
            if payload and seq not in seen:
                seen.add(seq)
                data += payload
        lines += _pairs_of(split_tcp_messages(data)[0])
    return sorted(lines)


def _pairs_of(payloads):
    for payload in payloads:
        msg = parse_dns(payload)
        if msg is not None and msg.is_response:
            for ans in address_answers(msg):
                yield f"{ans.query}|{ans.chain[-1]}|{ans.ip}|{ans.ttl}"


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(TSHARK_ANSWER_PAIRS))
def test_answer_pairs_match_tshark(name):
    root = shared_data()
    if root is None or not (root / name).exists():
        pytest.skip("shared capture data not present")
    lines = answer_pairs(root / name)
    count, digest = TSHARK_ANSWER_PAIRS[name]
    assert len(lines) == count
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16] == digest


@pytest.mark.shared_data
def test_netflix_region_is_reached_through_two_cnames():
    root = shared_data()
    if root is None or not (root / "pcaps/zeek/dns-edns-ecs.pcap").exists():
        pytest.skip("shared capture data not present")
    found = set()
    for seg in read_transport(root / "pcaps/zeek/dns-edns-ecs.pcap"):
        msg = parse_dns(seg.payload) if seg.sport == 53 else None
        for ans in address_answers(msg) if msg else ():
            if ans.query == "www.netflix.com":
                found.add((ans.ip, ans.chain))
    # tshark, frame 44: www.netflix.com CNAME www.geo.netflix.com CNAME
    # www.eu-west-1.prodaa.netflix.com, with 8 A records.
    chain = (
        "www.netflix.com",
        "www.geo.netflix.com",
        "www.eu-west-1.prodaa.netflix.com",
    )
    assert found == {
        (ip, chain)
        for ip in (
            "34.252.114.84",
            "34.253.36.84",
            "52.208.174.58",
            "54.154.12.178",
            "54.194.103.216",
            "54.194.216.197",
            "54.229.85.178",
            "54.77.199.154",
        )
    }


@pytest.mark.shared_data
def test_real_tcp_response_split_at_every_byte():
    root = shared_data()
    path = root / "pcaps/tcpdump/dns_tcp.pcap" if root else None
    if path is None or not path.exists():
        pytest.skip("shared capture data not present")
    stream = b"".join(
        s.payload for s in read_transport(path) if s.proto == "tcp" and s.sport == 53
    )
    whole, used = split_tcp_messages(stream)
    assert len(whole) == 1 and used == len(stream)
    for cut in range(len(stream) + 1):
        first, used = split_tcp_messages(stream[:cut])
        rest, _ = split_tcp_messages(stream[used:])
        assert first + rest == whole
    ips = [x.ip for x in address_answers(parse_dns(whole[0]))]
    assert ips == ["192.139.46.66", "198.199.88.104"]  # tshark frame 6, answer section
