"""Tunnels decoded to the inner flow: the outer flow stays in the table, the inner flow names
its encapsulation in ``tunnel``, and each record is counted once as decoded."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from capture_builders import T0, flow_summary, flows_of, frames_of, ip_total_length, tcp, udp, write_pcap
from dissect_helpers import build_client_hello, tls_records
from tracecheck.flows.pipeline import build_named_flows
from tracecheck.ingest.decode import Decoder
from tracecheck.ingest.records import make_batch

OUTER = dict(src="198.51.100.1", dst="198.51.100.2")
MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

INNER_SYN = tcp("192.168.1.1", "192.168.1.2", 1234, 80, flags="S")           # 40 bytes
INNER_SYNACK = tcp("192.168.1.2", "192.168.1.1", 80, 1234, flags="SA")       # 40 bytes
INNER6 = tcp("2001:db8::1", "2001:db8::2", 5555, 443, flags="S")            # 60 bytes


def inner_frame(ip_packet: bytes, vlan: int | None = None) -> bytes:
    """The mirrored frame a tunnel carries."""
    if vlan is None:
        return bytes(Ether(**MAC, type=0x0800)) + ip_packet
    return bytes(Ether(**MAC) / Dot1Q(vlan=vlan, type=0x0800)) + ip_packet


def outer(payload_layers, proto: int | None = None) -> bytes:
    ip = IP(**OUTER) if proto is None else IP(**OUTER, proto=proto)
    return bytes(Ether(**MAC) / ip / payload_layers)


def by_tunnel(result) -> dict[str, object]:
    flows = {f.tunnel: f for f in result.flows}
    assert len(flows) == len(result.flows), "one flow per tunnel expected"
    return flows


def check_tunnelled(tmp_path, frames: list[bytes], tunnel: str, outer_proto: str, outer_ports: tuple[int, int],
                    inner: tuple = ("tcp", "192.168.1.1", 1234, "192.168.1.2", 80)) -> dict:
    """Write ``frames`` (one direction, outer then inner flow of each) and check both flows."""
    path = write_pcap(tmp_path / "t.pcap", frames_of(frames))
    result = flows_of(path)
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (len(frames), len(frames), {})
    flows = by_tunnel(result)
    assert set(flows) == {"", tunnel}
    out, inn = flows[""], flows[tunnel]
    outer_bytes = sum(ip_total_length(f[14:]) for f in frames)
    assert flow_summary(out) == (outer_proto, OUTER["src"], outer_ports[0], OUTER["dst"], outer_ports[1],
                                 len(frames), outer_bytes, 0, 0, None, "")
    assert (inn.proto, inn.orig_h, inn.orig_p, inn.resp_h, inn.resp_p) == inner
    assert inn.orig_pkts == len(frames) and inn.resp_pkts == 0
    assert inn.ts == out.ts == T0 / 1e9
    return flows


def test_vxlan(tmp_path):
    frames = [outer(UDP(sport=50000, dport=4789) / VXLAN(vni=42) / inner_frame(INNER_SYN, vlan=7))] * 2
    flows = check_tunnelled(tmp_path, frames, "vxlan", "udp", (50000, 4789))
    assert flows["vxlan"].orig_ip_bytes == 80
    assert flows["vxlan"].vlan == 7  # the inner frame's tag, not the outer's (there is none)
    assert flows[""].orig_ip_bytes == 2 * (20 + 8 + 8 + 18 + 40)


def test_vxlan_on_linux_port_8472(tmp_path):
    frames = [outer(UDP(sport=50000, dport=8472) / VXLAN(vni=42) / inner_frame(INNER_SYN))]
    check_tunnelled(tmp_path, frames, "vxlan", "udp", (50000, 8472))


def test_geneve_with_options(tmp_path):
    options = bytes.fromhex("0101 01 01 00000000" "0101 02 01 01020304")  # two TLVs of 8 bytes
    geneve = GENEVE(vni=9, proto=0x6558, optionlen=len(options) // 4, options=options)
    frames = [outer(UDP(sport=50001, dport=6081) / geneve / inner_frame(INNER_SYN))]
    flows = check_tunnelled(tmp_path, frames, "geneve", "udp", (50001, 6081))
    assert flows["geneve"].orig_ip_bytes == 40
    assert flows[""].orig_ip_bytes == 20 + 8 + 8 + 16 + 14 + 40


def test_geneve_carrying_ip_directly(tmp_path):
    frames = [outer(UDP(sport=50001, dport=6081) / GENEVE(vni=9, proto=0x0800) / INNER_SYN)]
    check_tunnelled(tmp_path, frames, "geneve", "udp", (50001, 6081))


@pytest.mark.parametrize("key, seq, checksum", [(False, False, False), (True, True, False), (True, True, True)])
def test_gre_with_key_and_sequence(tmp_path, key, seq, checksum):
    gre = GRE(chksum_present=int(checksum), key_present=int(key), seqnum_present=int(seq), key=77, sequence_number=5,
              proto=0x0800)
    frames = [outer(gre / INNER_SYN)]
    flows = check_tunnelled(tmp_path, frames, "gre", "47", (0, 0))
    assert flows[""].orig_ip_bytes == 20 + 4 + 4 * (key + seq + checksum) + 40


def test_gre_transparent_ethernet_bridging(tmp_path):
    frames = [outer(GRE(key_present=1, key=1, proto=0x6558) / inner_frame(INNER_SYN, vlan=300))]
    flows = check_tunnelled(tmp_path, frames, "gre", "47", (0, 0))
    assert flows["gre"].vlan == 300


def test_erspan_type_2(tmp_path):
    frames = [outer(GRE(seqnum_present=1, sequence_number=1, proto=0x88BE) / ERSPAN_II(session_id=3) / inner_frame(INNER_SYN))]
    flows = check_tunnelled(tmp_path, frames, "gre", "47", (0, 0))  # ERSPAN is reported as its GRE carrier
    assert flows[""].orig_ip_bytes == 20 + 8 + 8 + 14 + 40


def test_erspan_type_1_has_no_header(tmp_path):
    frames = [outer(GRE(proto=0x88BE) / inner_frame(INNER_SYN))]
    check_tunnelled(tmp_path, frames, "gre", "47", (0, 0))


@pytest.mark.parametrize("platform", [False, True])
def test_erspan_type_3(tmp_path, platform):
    header = ERSPAN_III(session_id=3, o=int(platform))
    if platform:
        header = header / ERSPAN_PlatformSpecific(platf_id=3)
    frames = [outer(GRE(seqnum_present=1, sequence_number=1, proto=0x22EB) / header / inner_frame(INNER_SYN))]
    flows = check_tunnelled(tmp_path, frames, "gre", "47", (0, 0))
    assert flows[""].orig_ip_bytes == 20 + 8 + 12 + 8 * platform + 14 + 40


def test_ip_in_ip(tmp_path):
    frames = [outer(INNER_SYN, proto=4)]
    flows = check_tunnelled(tmp_path, frames, "ip-in-ip", "4", (0, 0))
    assert flows[""].orig_ip_bytes == 60 and flows["ip-in-ip"].orig_ip_bytes == 40


def test_6in4(tmp_path):
    frames = [outer(INNER6, proto=41)]
    flows = check_tunnelled(tmp_path, frames, "6in4", "41", (0, 0), inner=("tcp", "2001:db8::1", 5555, "2001:db8::2", 443))
    assert flows[""].orig_ip_bytes == 80 and flows["6in4"].orig_ip_bytes == 60


def test_ipv4_in_ipv6(tmp_path):
    frame = bytes(Ether(**MAC) / IPv6(src="2001:db8::a", dst="2001:db8::b", nh=4)) + INNER_SYN
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([frame])))
    flows = by_tunnel(result)
    assert (flows[""].proto, flows[""].orig_h, flows[""].orig_ip_bytes) == ("4", "2001:db8::a", 80)
    assert (flows["ip-in-ip"].orig_h, flows["ip-in-ip"].resp_p, flows["ip-in-ip"].orig_ip_bytes) == ("192.168.1.1", 80, 40)


def test_gtp_u(tmp_path):
    frames = [outer(UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0x1234, gtp_type=0xFF) / INNER_SYN)]
    flows = check_tunnelled(tmp_path, frames, "gtp-u", "udp", (2152, 2152))
    assert flows[""].orig_ip_bytes == 20 + 8 + 8 + 40


def gtp_with_extensions(inner: bytes, extensions: list[bytes]) -> bytes:
    """GTP-U G-PDU with the E flag and a chain of extension headers (each: length in 4-byte units,
    content, next type)."""
    body = struct.pack(">HBB", 0, 0, 0x85 if extensions else 0)  # sequence, N-PDU, next type
    for i, ext in enumerate(extensions):
        nxt = 0x85 if i + 1 < len(extensions) else 0
        body += bytes([len(ext) // 4]) + ext[1:-1] + bytes([nxt])
    payload = body + inner
    return struct.pack(">BBHI", 0x34, 0xFF, len(payload), 0x1234) + payload


def test_gtp_u_with_extension_headers(tmp_path):
    ext = bytes(4)  # one PDU session container, 4 bytes
    frames = [outer(UDP(sport=2152, dport=2152) / gtp_with_extensions(INNER_SYN, [ext, bytes(8)]))]
    flows = check_tunnelled(tmp_path, frames, "gtp-u", "udp", (2152, 2152))
    assert flows[""].orig_ip_bytes == 20 + 8 + 8 + 4 + 4 + 8 + 40


def test_gtp_u_extension_length_past_the_packet_is_no_crash(tmp_path):
    """An extension header claiming 1020 bytes, in the last record of the file, while another
    record still walks its extensions: reads must stay inside the batch."""
    walking = outer(UDP(sport=2152, dport=2152) / gtp_with_extensions(INNER_SYN, [bytes(4)] * 4))
    claim = struct.pack(">HBB", 0, 0, 0x85) + b"\xff\x00\x00\x85"
    liar = outer(UDP(sport=2152, dport=2152) / (struct.pack(">BBHI", 0x34, 0xFF, len(claim), 1) + claim))
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([walking, liar])))
    acc = result.accounting
    assert (acc.records, acc.decoded) == (2, 2)  # the liar's outer UDP flow is kept
    flows = by_tunnel(result)
    assert flows[""].orig_pkts == 2 and flows["gtp-u"].orig_pkts == 1


def test_gtp_u_signalling_stays_the_outer_flow(tmp_path):
    echo = outer(UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0, gtp_type=1))  # echo request
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([echo])))
    assert result.accounting.decoded == 1
    assert [f.tunnel for f in result.flows] == [""]


def teredo(inner6: bytes, origin: bool = False, auth: bool = False) -> bytes:
    prefix = b""
    if auth:  # id length 0, auth length 0, nonce, confirmation
        prefix += struct.pack(">HBB", 1, 0, 0) + bytes(8) + b"\x00"
    if origin:
        prefix += struct.pack(">HH4s", 0, 0xFFFF ^ 3544, bytes(4))
    return prefix + inner6


@pytest.mark.parametrize("origin, auth", [(False, False), (True, False), (True, True)])
def test_teredo(tmp_path, origin, auth):
    frames = [outer(UDP(sport=3544, dport=50002) / teredo(INNER6, origin, auth))]
    flows = check_tunnelled(tmp_path, frames, "teredo", "udp", (3544, 50002),
                            inner=("tcp", "2001:db8::1", 5555, "2001:db8::2", 443))
    assert flows["teredo"].orig_ip_bytes == 60


def test_teredo_bubble_is_only_the_outer_flow(tmp_path):
    bubble = bytes(IPv6(src="2001::1", dst="2001::2", nh=59, plen=0))  # no next header, 40 bytes
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([outer(UDP(sport=3544, dport=50002) / bubble)])))
    assert result.accounting.decoded == 1
    kinds = sorted((f.tunnel, f.proto) for f in result.flows)
    assert kinds == [("", "udp"), ("teredo", "59")]


def ayiya(inner: bytes, next_header: int) -> bytes:
    """AYIYA forward: identity length 2^4 = 16 (an IPv6 address), SHA-1 signature (5 words)."""
    header = struct.pack(">BBBBI", 0x41, 0x52, 0x11, next_header, 0)
    return header + bytes(16) + bytes(20) + inner


def test_ayiya(tmp_path):
    frames = [outer(UDP(sport=5072, dport=5072) / ayiya(INNER6, 41))]
    flows = check_tunnelled(tmp_path, frames, "ayiya", "udp", (5072, 5072),
                            inner=("tcp", "2001:db8::1", 5555, "2001:db8::2", 443))
    assert flows[""].orig_ip_bytes == 20 + 8 + 8 + 16 + 20 + 60


def test_tunnel_inside_tunnel_names_the_chain(tmp_path):
    vxlan_in_gre = GRE(proto=0x0800) / IP(src="10.9.9.1", dst="10.9.9.2") / UDP(sport=1, dport=4789) / VXLAN(vni=1)
    frame = bytes(Ether(**MAC) / IP(**OUTER) / vxlan_in_gre / inner_frame(INNER_SYN))
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([frame])))
    assert result.accounting.decoded == 1
    flows = by_tunnel(result)
    assert set(flows) == {"", "gre", "gre/vxlan"}
    assert flows["gre"].proto == "udp" and flows["gre"].resp_p == 4789
    assert flows["gre/vxlan"].orig_h == "192.168.1.1"


def test_both_directions_of_a_tunnelled_conversation(tmp_path):
    """Request and answer each in their own VXLAN packet (the mirror sends both ways)."""
    there = outer(UDP(sport=50000, dport=4789) / VXLAN(vni=1) / inner_frame(INNER_SYN))
    back = bytes(Ether(**MAC) / IP(src=OUTER["dst"], dst=OUTER["src"]) / UDP(sport=50000, dport=4789)
                 / VXLAN(vni=1) / inner_frame(INNER_SYNACK))
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([there, back])))
    flows = {(f.tunnel, f.orig_p, f.resp_p): f for f in result.flows}
    inner = flows[("vxlan", 1234, 80)]
    assert (inner.orig_pkts, inner.resp_pkts, inner.orig_ip_bytes, inner.resp_ip_bytes) == (1, 1, 40, 40)
    assert inner.handshake_rtt_ms == pytest.approx(1.0)
    # the two outer packets are one UDP flow each way only if the ports pair up: here both
    # are sent to 4789 from 50000, so they are two flows (A:50000->B:4789, B:50000->A:4789)
    assert len([f for f in result.flows if f.tunnel == ""]) == 2
    assert len(result.flows) == 3


def test_tunnel_and_plain_flow_with_the_same_inner_tuple_stay_apart(tmp_path):
    plain = bytes(Ether(**MAC)) [:12] + b"\x08\x00" + INNER_SYN
    tunnelled = outer(UDP(sport=50000, dport=4789) / VXLAN(vni=1) / inner_frame(INNER_SYN))
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([plain, tunnelled])))
    same_tuple = [f for f in result.flows if (f.orig_h, f.resp_p) == ("192.168.1.1", 80)]
    assert sorted(f.tunnel for f in same_tuple) == ["", "vxlan"]
    assert all(f.orig_pkts == 1 for f in same_tuple)


# ----------------------------------------------------------------- GRE in UDP (RFC 8086)

@pytest.mark.parametrize("direction", ["to", "from"])
def test_gre_in_udp_carrying_ipv4(tmp_path, direction):
    ports = (50003, 4754) if direction == "to" else (4754, 50003)
    frames = [outer(UDP(sport=ports[0], dport=ports[1]) / GRE(proto=0x0800) / INNER_SYN)]
    flows = check_tunnelled(tmp_path, frames, "gre-udp", "udp", ports)
    assert flows[""].orig_ip_bytes == 20 + 8 + 4 + 40 and flows["gre-udp"].orig_ip_bytes == 40


def test_gre_in_udp_carrying_ipv6_with_a_key(tmp_path):
    frames = [outer(UDP(sport=50003, dport=4754) / GRE(key_present=1, key=9, proto=0x86DD) / INNER6)]
    check_tunnelled(tmp_path, frames, "gre-udp", "udp", (50003, 4754),
                    inner=("tcp", "2001:db8::1", 5555, "2001:db8::2", 443))


def test_gre_in_udp_carrying_ethernet(tmp_path):
    frames = [outer(UDP(sport=50003, dport=4754) / GRE(proto=0x6558) / inner_frame(INNER_SYN, vlan=12))]
    flows = check_tunnelled(tmp_path, frames, "gre-udp", "udp", (50003, 4754))
    assert flows["gre-udp"].vlan == 12


def test_gre_in_udp_that_is_not_gre_stays_the_outer_flow(tmp_path):
    bad = outer(UDP(sport=50003, dport=4754) / (b"\x00\x07\x08\x00" + bytes(40)))  # GRE version 7
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([bad])))
    assert result.accounting.decoded == 1
    assert [f.tunnel for f in result.flows] == [""]


# ----------------------------------------------------------------- Teredo on any port

TEREDO_CLIENT = "2001:0:4136:e378:8000:63bf:3fff:fdd2"  # RFC 4380's example address
INNER_TEREDO = tcp(TEREDO_CLIENT, "2001:db8::2", 5555, 443, flags="S")


@pytest.mark.parametrize("origin, auth", [(False, False), (True, False), (True, True), (False, True)])
def test_teredo_to_a_relay_on_another_port(tmp_path, origin, auth):
    frames = [outer(UDP(sport=50002, dport=51413) / teredo(INNER_TEREDO, origin, auth))]
    flows = check_tunnelled(tmp_path, frames, "teredo", "udp", (50002, 51413),
                            inner=("tcp", TEREDO_CLIENT, 5555, "2001:db8::2", 443))
    assert flows["teredo"].orig_ip_bytes == 60


def test_teredo_bubble_on_another_port(tmp_path):
    bubble = bytes(IPv6(src=TEREDO_CLIENT, dst="2001:0:4136:e378::1", nh=59, plen=0))
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([outer(UDP(sport=50002, dport=40000) / bubble)])))
    assert sorted((f.tunnel, f.proto) for f in result.flows) == [("", "udp"), ("teredo", "59")]


@pytest.mark.parametrize("why", ["no teredo address", "length one short", "length one long", "not version 6"])
def test_ipv6_shaped_udp_that_is_not_teredo_stays_the_outer_flow(tmp_path, why):
    inner = bytearray(INNER_TEREDO if why != "no teredo address" else INNER6)
    if why == "not version 6":
        inner[0] = 0x40
    payload = bytes(inner)[:-1] if why == "length one short" else bytes(inner) + (b"\x00" if why == "length one long" else b"")
    result = flows_of(write_pcap(tmp_path / "t.pcap", frames_of([outer(UDP(sport=50002, dport=51413) / payload)])))
    assert [f.tunnel for f in result.flows] == [""]


def test_teredo_shape_cut_short_by_the_snap_length_is_not_read_past(tmp_path):
    frame = outer(UDP(sport=50002, dport=51413) / teredo(INNER_TEREDO, origin=True))
    for snap in (14 + 20 + 8 + 8 + 39, 14 + 20 + 8 + 3, 14 + 20 + 8 + 1):
        result = flows_of(write_pcap(tmp_path / "t.pcap", [(T0, frame[:snap], len(frame))]))
        assert [f.tunnel for f in result.flows] == [""]


@settings(max_examples=400, deadline=None)
@given(payload=st.binary(min_size=0, max_size=200), sport=st.integers(1, 65535), dport=st.integers(1, 65535))
def test_random_udp_payloads_are_not_teredo(payload, sport, dport):
    """The shape test lets no ordinary datagram through: random bytes, and random bytes that
    start like IPv6 or like a Teredo indication (the cases its first check lets pass)."""
    from tracecheck.ingest.layers.transport import TUNNEL_PORT
    assume(not TUNNEL_PORT[sport] and not TUNNEL_PORT[dport])
    for start in (b"", b"\x60", b"\x00\x00", b"\x00\x01\x00\x00"):
        frame = outer(UDP(sport=sport, dport=dport) / (start + payload))
        packets, _ = Decoder(use_fastpath=False).decode(_one_frame_batch(frame))
        assert packets.tunnel.tolist() == [0]


def _one_frame_batch(frame: bytes):
    return make_batch(memoryview(frame), np.array([0]), [len(frame)], [len(frame)], np.array([T0]), [1], first_record=0)


# ----------------------------------------------------------------- names inside tunnels

CLIENT_HELLO = tls_records(build_client_hello("inner.example.com", key_share_size=1216))  # spans two segments


def segment(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, payload: bytes = b"") -> bytes:
    ip = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
    return bytes(ip / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=1) / payload)


def tls_connection(client: str, server: str) -> list[bytes]:
    """A TCP handshake and a ClientHello cut in two segments."""
    return [segment(client, server, 5555, 443, "S", 100), segment(server, client, 443, 5555, "SA", 500),
            segment(client, server, 5555, 443, "A", 101),
            segment(client, server, 5555, 443, "A", 101, CLIENT_HELLO[:1000]),
            segment(client, server, 5555, 443, "PA", 1101, CLIENT_HELLO[1000:])]


def named(path) -> dict:
    return {(f.tunnel, f.resp_h, f.resp_p): (f.server_name, f.name_source)
            for f in build_named_flows([str(path)]).result.flows if f.server_name}


@pytest.mark.parametrize("tunnel", ["6in4", "teredo", "gre-udp"])
def test_tls_sni_of_a_flow_inside_a_tunnel(tmp_path, tunnel):
    server = "2606:4700::6810:1"
    client = TEREDO_CLIENT if tunnel == "teredo" else "2001:db8::1"
    wrap = {"6in4": lambda p: outer(p, proto=41),
            "teredo": lambda p: outer(UDP(sport=50002, dport=51413) / p),
            "gre-udp": lambda p: outer(UDP(sport=50003, dport=4754) / GRE(proto=0x86DD) / p)}[tunnel]
    path = write_pcap(tmp_path / "t.pcap", frames_of([wrap(p) for p in tls_connection(client, server)]))
    assert named(path) == {(tunnel, server, 443): ("inner.example.com", "sni")}


def test_dns_and_http_inside_gre_in_udp(tmp_path):
    query = DNS(id=1, rd=1, qd=DNSQR(qname="api.example.net"))
    answer = DNS(id=1, qr=1, qd=DNSQR(qname="api.example.net"), an=DNSRR(rrname="api.example.net", rdata="203.0.113.80"))
    request = b"GET / HTTP/1.1\r\nHost: api.example.net\r\n\r\n"
    inner = [udp("10.1.1.1", "10.1.1.53", 3333, 53, bytes(query)), udp("10.1.1.53", "10.1.1.1", 53, 3333, bytes(answer)),
             segment("10.1.1.1", "203.0.113.80", 4444, 80, "S", 1), segment("203.0.113.80", "10.1.1.1", 80, 4444, "SA", 9),
             segment("10.1.1.1", "203.0.113.80", 4444, 80, "PA", 2, request)]
    frames = [outer(UDP(sport=50003, dport=4754) / GRE(proto=0x0800) / p) for p in inner]
    names = build_named_flows([str(write_pcap(tmp_path / "t.pcap", frames_of(frames)))])
    flows = {(f.tunnel, f.resp_p): f for f in names.result.flows}
    assert (flows[("gre-udp", 80)].server_name, flows[("gre-udp", 80)].name_source) == ("api.example.net", "http_host")
    assert flows[("gre-udp", 80)].resp_h == "203.0.113.80"
    assert flows[("gre-udp", 53)].orig_pkts == flows[("gre-udp", 53)].resp_pkts == 1
    assert ("203.0.113.80", "api.example.net", "dns") in {(n.ip, n.name, n.source) for n in names.names}
