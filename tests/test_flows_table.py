"""The flow table built column by column: stable uids, rows as ``Flow`` on demand, names filled in."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from capture_builders import ether, flows_of, frames_of, tcp, udp, write_pcap
from tracecheck.flows.table import COLUMNS, FlowTable, as_record, uid, uids
from tracecheck.vocabulary import Flow

DEMO = Path(__file__).resolve().parents[1] / "captures" / "demo-call.pcapng"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def reference_uid(key: str) -> str:
    """The uid as it has always been made, one flow at a time."""
    return "C" + "".join(ALPHABET[byte % 62] for byte in hashlib.blake2b(key.encode(), digest_size=17).digest())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), max_size=30))
def test_uids_in_bulk_are_the_uids_one_at_a_time(keys):
    assert uids(keys) == [reference_uid(key) for key in keys]
    if keys:
        first_record, _, rest = keys[0].partition("|")
        assert uid(first_record, rest) == reference_uid(f"{first_record}|{rest}")


def test_uids_are_the_ones_earlier_versions_gave(tmp_path):
    """A uid links names, calls and verdicts across runs and versions: it must never change."""
    assert [f.uid for f in flows_of(DEMO).flows[:3]] == ["CwstJNo3ZjLLf4cnAn", "CgNNudRYv0xzvzkxzO", "CipMPMZCOjxY6uXUY2"]
    mac = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    inner = bytes(Ether(**mac, type=0x0800)) + tcp("192.168.1.1", "192.168.1.2", 1234, 80, flags="S")
    frames = [bytes(Ether(**mac) / IP(src="198.51.100.1", dst="198.51.100.2") / UDP(sport=50000, dport=4789)
                    / VXLAN(vni=42) / inner),
              ether(tcp("2001:db8::1", "2001:db8::2", 5555, 443, flags="S")), ether(udp("10.0.0.1", "10.0.0.3", 7000, 7001))]
    flows = flows_of(write_pcap(tmp_path / "t.pcap", frames_of(frames))).flows
    assert [(f.uid, f.orig_h, f.tunnel) for f in flows] == [
        ("CIXogAPbommbADecBF", "198.51.100.1", ""), ("CI8813KK5lD2PU2fNw", "192.168.1.1", "vxlan"),
        ("CnbtH6relvBAQUsOrx", "2001:db8::1", ""), ("C3CJEhdVPFMia0XHDj", "10.0.0.1", "")]


def test_the_table_reads_as_a_sequence_of_flows():
    table = flows_of(DEMO).flows
    assert isinstance(table, FlowTable) and len(table) == 10
    rows = list(table)
    assert all(isinstance(f, Flow) for f in rows)
    assert table[0] == rows[0] and table[-1] == rows[-1] and table[2:5] == rows[2:5]
    assert table == rows and table == flows_of(DEMO).flows
    assert [as_record(f) for f in rows] == [dict(zip(COLUMNS, values)) for values in zip(*table.columns.values())]
    assert list(table.columns) == list(COLUMNS)


def test_names_make_a_new_table_and_leave_the_old_one_alone():
    table = flows_of(DEMO).flows
    n = len(table)
    named = table.with_names(["example.com"] * n, ["sni"] * n, ["tls"] * n)
    assert named[0].server_name == "example.com" and table[0].server_name == ""
    assert named.columns["uid"] is table.columns["uid"] and named.builder_index is table.builder_index
    assert FlowTable.empty() == [] and len(FlowTable.empty()) == 0


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.integers(0, 2**32 - 1).map(lambda v: (0, 0xFFFF_0000_0000 | v)),
                 st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))))
def test_an_address_reads_as_ipaddress_writes_it(halves):
    """IPv4 (kept as ::ffff:a.b.c.d) is formatted by hand; it must read exactly as ipaddress's."""
    import ipaddress

    from tracecheck.flows.table import address

    hi, lo = halves
    value = (hi << 64) | lo
    mapped = ipaddress.IPv6Address(value).ipv4_mapped
    assert address(hi, lo) == str(mapped if mapped is not None else ipaddress.IPv6Address(value))
