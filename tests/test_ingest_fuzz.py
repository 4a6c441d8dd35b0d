"""Hostile input: random bytes after valid headers, bit flips and truncations of valid pcap and
pcapng files (written here), gzip-compressed or not.  Every one must end in a flow table or a
``UserError`` (CLI exit 0 or 2) — never another exception, never a hang."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import struct
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.contrib.erspan import ERSPAN_III
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import GRE, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN

from capture_builders import (ETHERNET, RAW, SLL2, T0, ng_custom, ng_epb, ng_idb, ng_isb, ng_nrb, ng_opb, ng_shb,
                              ng_spb, pcap_bytes, tcp, udp)
from tracecheck.errors import UserError
from tracecheck.flows.pipeline import build_flows

FUZZ = settings(max_examples=200, deadline=5000, suppress_health_check=[HealthCheck.too_slow], derandomize=False)
MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _frames() -> list[bytes]:
    """Ethernet frames that exercise most decoders, so flips land in every layer."""
    syn = tcp("10.0.0.1", "10.0.0.2", 40000, 443, flags="S")
    eth = lambda *layers: bytes(Ether(**MAC) / layers[0]) if len(layers) == 1 else bytes(Ether(**MAC) / layers[0] / layers[1])  # noqa: E731
    frag = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(m=1, id=7) / UDP(sport=1, dport=2) / (b"x" * 40)
    return [
        bytes(Ether(**MAC, type=0x0800)) + syn,
        bytes(Ether(**MAC) / Dot1AD(vlan=10) / Dot1Q(vlan=20, type=0x0800)) + udp(payload=b"q" * 30),
        bytes(Ether(**MAC) / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=9, dport=4789) / VXLAN(vni=1)
              / Ether(**MAC, type=0x0800)) + syn,
        bytes(Ether(**MAC) / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=9, dport=6081) / GENEVE(proto=0x0800)) + syn,
        bytes(Ether(**MAC) / IP(src="1.1.1.1", dst="2.2.2.2") / GRE(seqnum_present=1, proto=0x22EB) / ERSPAN_III(o=1)
              / (bytes(8) + bytes(Ether(**MAC, type=0x0800)) + syn)),
        bytes(Ether(**MAC) / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=2152, dport=2152)
              / (bytes.fromhex("34ff003000000001" "0000 0085" "01000085" "0100 0000") + syn)),
        bytes(Ether(**MAC) / PPPoE(sessionid=1) / PPP(proto=0x21)) + syn,
        bytes(Ether(**MAC, type=0x8847)) + bytes.fromhex("00010100") + syn,
        eth(frag),
        bytes(Ether(**MAC, type=0x0806)) + bytes(28),
    ]


FRAMES = _frames()
PCAP = pcap_bytes([(T0 + i * 1000, f) for i, f in enumerate(FRAMES)], ETHERNET)
PCAP_NS_BE = pcap_bytes([(T0 + i * 1000, f) for i, f in enumerate(FRAMES)], ETHERNET, nanosecond=True, big_endian=True)
PCAPNG = b"".join([
    ng_shb(), ng_idb(ETHERNET, tsresol=9), ng_idb(RAW, tsresol=0x94, tsoffset=5), ng_nrb(),
    *[ng_epb(i % 2 and 0, T0 + i, f) for i, f in enumerate(FRAMES)],
    ng_epb(1, 1 << 20, tcp()), ng_spb(FRAMES[0]), ng_opb(0, 5, FRAMES[1]), ng_isb(), ng_custom(),
    ng_shb(big_endian=True), ng_idb(SLL2, big_endian=True),
    ng_epb(0, 7, bytes.fromhex("0800 0000 00000001 0001 04 00 000000000000 0000") + tcp(), big_endian=True),
])
BASES = {"pcap": PCAP, "pcap-ns-be": PCAP_NS_BE, "pcapng": PCAPNG}
HEADERS = {"pcap": PCAP[:24], "pcapng-shb": PCAPNG[:28], "pcapng-shb-idb": PCAPNG[: 28 + len(ng_idb(ETHERNET, tsresol=9))],
           "gzip": gzip.compress(PCAP, mtime=0)[:10]}


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def survive(path: Path, data: bytes) -> None:
    """Reading ``data`` gives a result whose accounting adds up, or a UserError."""
    path.write_bytes(data)
    try:
        result = build_flows([str(path)], on_packets=_payloads_inside_their_batch)
    except UserError as err:
        assert "\n" not in str(err)
        return
    acc = result.accounting
    assert acc.records == acc.decoded + sum(acc.skipped.values())
    assert sum(f.orig_pkts + f.resp_pkts for f in result.flows) >= acc.decoded  # nothing decoded is lost
    assert all(f.orig_pkts + f.resp_pkts > 0 for f in result.flows)  # (duration: see test_flows, absurd timestamps)


def _payloads_inside_their_batch(p, flow_of, capture) -> None:
    """The dissectors copy payloads out of the batch by these offsets (choice.Picks)."""
    has = p.payload_len > 0
    assert (p.payload[has] >= 0).all() and (p.payload[has] + p.payload_len[has] <= len(p.data)).all()


def test_the_bases_are_valid(scratch):
    for name, data in BASES.items():
        (scratch / name).write_bytes(data)
        result = build_flows([str(scratch / name)])
        assert result.warnings == [] and result.accounting.records >= len(FRAMES), name
        assert result.accounting.skipped == {"non_ip:arp": 1}, (name, result.accounting)


@FUZZ
@given(header=st.sampled_from(sorted(HEADERS)), tail=st.binary(max_size=3000))
def test_random_bytes_after_a_valid_header(scratch, header, tail):
    survive(scratch / "random", HEADERS[header] + tail)


@FUZZ
@given(base=st.sampled_from(sorted(BASES)), flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), min_size=1, max_size=12))
def test_bit_flips(scratch, base, flips):
    data = bytearray(BASES[base])
    for at, bit in flips:
        data[at % len(data)] ^= 1 << bit
    survive(scratch / "flipped", bytes(data))


@FUZZ
@given(base=st.sampled_from(sorted(BASES)), cut=st.integers(0, 1 << 20))
def test_truncation(scratch, base, cut):
    data = BASES[base]
    survive(scratch / "cut", data[: cut % (len(data) + 1)])


@FUZZ
@given(base=st.sampled_from(sorted(BASES)), at=st.integers(0, 1 << 20), junk=st.binary(min_size=1, max_size=64),
       cut=st.integers(0, 1 << 20))
def test_overwritten_and_cut(scratch, base, at, junk, cut):
    data = bytearray(BASES[base])
    at %= len(data)
    data[at: at + len(junk)] = junk
    survive(scratch / "mixed", bytes(data[: max(4, cut % (len(data) + 1))]))


LINKTYPES = [0, 1, 9, 12, 14, 50, 51, 101, 108, 113, 228, 229, 276, 147, 65535]
PAYLOADS = st.one_of(st.sampled_from(FRAMES), st.binary(max_size=120),
                     st.sampled_from(FRAMES).flatmap(lambda f: st.integers(0, len(f)).map(lambda n: f[:n])))


@st.composite
def pcapng_files(draw) -> bytes:
    """Block-structured pcapng: real block types with random fields, lengths and bodies."""
    big = draw(st.booleans())
    e = ">" if big else "<"
    out = [ng_shb(big)]
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["idb", "epb", "epb", "spb", "opb", "other", "raw", "shb"]))
        if kind == "idb":
            out.append(ng_idb(draw(st.sampled_from(LINKTYPES)), draw(st.integers(0, (1 << 32) - 1)),
                              draw(st.none() | st.integers(0, 255)), draw(st.none() | st.integers(-(1 << 63), (1 << 63) - 1)), big))
        elif kind == "epb":
            out.append(ng_epb(draw(st.integers(0, 3)), draw(st.integers(0, (1 << 64) - 1)), draw(PAYLOADS),
                              draw(st.none() | st.integers(0, (1 << 32) - 1)), big))
        elif kind == "spb":
            out.append(ng_spb(draw(PAYLOADS), draw(st.none() | st.integers(0, (1 << 32) - 1)), big))
        elif kind == "opb":
            out.append(ng_opb(draw(st.integers(0, 3)), draw(st.integers(0, (1 << 64) - 1)), draw(PAYLOADS), None, big))
        elif kind == "other":
            out.append(draw(st.sampled_from([ng_nrb(big), ng_isb(0, big), ng_custom(big)])))
        elif kind == "shb":
            big = draw(st.booleans())
            e = ">" if big else "<"
            out.append(ng_shb(big))
        else:  # any type, any declared length, any body
            btype = draw(st.sampled_from([0x0A0D0D0A, 1, 2, 3, 4, 5, 6, 0xBAD, 0x40000BAD, 0xDEADBEEF]))
            body = draw(st.binary(max_size=64))
            declared = draw(st.integers(0, 96))
            out.append(struct.pack(e + "II", btype, declared) + body + struct.pack(e + "I", declared))
    return b"".join(out)


@st.composite
def pcap_files(draw) -> bytes:
    """Classic pcap with random link type and random record fields."""
    frames = []
    for _ in range(draw(st.integers(0, 8))):
        data = draw(PAYLOADS)
        frames.append((draw(st.integers(0, (1 << 32) * 1_000_000_000 - 1)), data, draw(st.integers(len(data), (1 << 32) - 1))))
    return pcap_bytes(frames, linktype=draw(st.sampled_from(LINKTYPES)), nanosecond=draw(st.booleans()),
                      big_endian=draw(st.booleans()), modified=draw(st.booleans()))


@FUZZ
@given(data=pcapng_files())
def test_structured_pcapng(scratch, data):
    survive(scratch / "structured.pcapng", data)


@FUZZ
@given(data=pcap_files(), cut=st.none() | st.integers(0, 1 << 16))
def test_structured_pcap(scratch, data, cut):
    survive(scratch / "structured.pcap", data if cut is None else data[: max(24, cut)])


@settings(max_examples=100, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(sorted(BASES)), flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), max_size=4),
       cut=st.integers(0, 1 << 20))
def test_gzip_damaged(scratch, base, flips, cut):
    data = bytearray(gzip.compress(BASES[base], mtime=0))
    for at, bit in flips:
        data[at % len(data)] ^= 1 << bit
    survive(scratch / "gz", bytes(data[: cut % (len(data) + 1)]))


@settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(sorted(BASES)), flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), max_size=8),
       cut=st.integers(0, 1 << 20))
def test_cli_exit_code_is_0_or_2(scratch, base, flips, cut):
    from tracecheck.cli import main

    data = bytearray(BASES[base])
    for at, bit in flips:
        data[at % len(data)] ^= 1 << bit
    (scratch / "cli").write_bytes(bytes(data[: cut % (len(data) + 1)]))
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        mp.setattr(sys, "argv", ["tracecheck", "--quiet", "flows", str(scratch / "cli"), "-o", os.devnull])
        main()
        raise SystemExit(0)
    assert exit_.value.code in (0, 2)
    text = err.getvalue()
    assert "Traceback" not in text
    if exit_.value.code == 2:
        assert text.count("\n") == 1 and text.startswith("tracecheck: ")
