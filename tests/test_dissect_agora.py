"""Agora SD-RTN hellos name their flow by the edge server they ask for (issue 15: nDPI reports
that name; a contact-center app built on Agora sends its media there)."""

from __future__ import annotations

from capture_builders import T0, ether, write_pcap
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP

from tracecheck.dissect import agora
from tracecheck.flows.pipeline import build_named_flows


def hello(name: bytes) -> bytes:
    """Six bytes of header, 0x21, five more, ``\\x04SNI``, the length, a zero, the name, more tags."""
    return b"\x00\x5a\x38\x4c\x00\x00\x21" + bytes(5) + b"\x04SNI" + len(name).to_bytes(2, "big") + b"\x00" + name + b"PDMD\x00\x00CPTO"


def test_the_hello_names_the_edge():
    assert agora.hello_server_name(hello(b"23-248-186-179.Edge.agora.io")) == "23-248-186-179.edge.agora.io"
    assert agora.hello_server_name(hello(b"bad name")) is None
    assert agora.hello_server_name(hello(b"x" * 300)) is None
    assert agora.hello_server_name(hello(b"edge.agora.io")[:25]) is None
    assert agora.hello_server_name(b"\x00" * 6 + b"\x20" + hello(b"a.b")[7:]) is None


def test_a_flow_is_named_by_its_hello(tmp_path):
    out = IP(src="192.168.2.100", dst="23.248.186.179") / UDP(sport=55322, dport=8130) / hello(b"23-248-186-179.edge.agora.io")
    back = IP(src="23.248.186.179", dst="192.168.2.100") / UDP(sport=8130, dport=55322) / bytes(60)
    path = write_pcap(tmp_path / "agora.pcap", [(T0, ether(bytes(out))), (T0 + 30_000_000, ether(bytes(back)))])
    [flow] = build_named_flows([str(path)]).result.flows
    assert (flow.server_name, flow.name_source, flow.app) == ("23-248-186-179.edge.agora.io", "sni", "sd-rtn")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 60))
def test_any_bytes(raw, at):
    data = bytearray(hello(b"edge.agora.io"))
    data[at:at + len(raw)] = raw
    name = agora.hello_server_name(bytes(data))
    assert name is None or 0 < len(name) <= agora.MAX_NAME
