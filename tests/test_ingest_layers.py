"""Link layers (Ethernet, SLL/SLL2, raw IP, NULL/LOOP, PPP/PPPoE, VLAN/QinQ, MPLS), IP (options,
IPv6 extension headers, fragments, snap-length cuts, TSO), ICMP, and what is skipped, by reason."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, UDP, IPOption_Router_Alert, IPOption_RR, fragment
from scapy.layers.inet6 import (ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, fragment6)
from scapy.layers.l2 import Ether

from capture_builders import (ETHERNET, IPV4, IPV6, LOOP, NULL, PPP, RAW, RAW12, RAW14, SLL, SLL2, T0, flow_summary,
                              flows_of, frames_of, icmp_echo, ip_total_length, ng_epb, ng_idb, ng_shb, tcp, udp,
                              write_pcap, ether)

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
SYN = tcp("10.0.0.1", "10.0.0.2", 40000, 443, "S")
SYNACK = tcp("10.0.0.2", "10.0.0.1", 443, 40000, "SA")
SYN6 = tcp("2001:db8::1", "2001:db8::2", 40000, 443, "S")
SYNACK6 = tcp("2001:db8::2", "2001:db8::1", 443, 40000, "SA")
HANDSHAKE = ("tcp", "10.0.0.1", 40000, "10.0.0.2", 443, 1, 40, 1, 40)
HANDSHAKE6 = ("tcp", "2001:db8::1", 40000, "2001:db8::2", 443, 1, 60, 1, 60)


def read(tmp_path, frames: list[bytes], linktype: int = ETHERNET, **kw):
    return flows_of(write_pcap(tmp_path / "l.pcap", frames_of(frames), linktype, **kw))


def only_flow(result):
    assert len(result.flows) == 1, result.flows
    return result.flows[0]


def check_handshake(tmp_path, linktype, wrap, v6=False, vlan=None):
    """SYN and SYN/ACK through ``wrap`` on ``linktype``: one flow, both directions counted."""
    packets = (SYN6, SYNACK6) if v6 else (SYN, SYNACK)
    result = read(tmp_path, [wrap(p) for p in packets], linktype)
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (2, 2, {})
    flow = only_flow(result)
    assert flow_summary(flow) == (HANDSHAKE6 if v6 else HANDSHAKE) + (vlan, "")
    assert flow.handshake_rtt_ms == pytest.approx(1.0)
    return flow


# --------------------------------------------------------------------------- link layers


@pytest.mark.parametrize("v6", [False, True])
def test_ethernet(tmp_path, v6):
    check_handshake(tmp_path, ETHERNET, ether, v6)


def sll(packet: bytes, protocol: int | None = None, hatype: int = 1) -> bytes:
    protocol = protocol if protocol is not None else (0x86DD if packet[0] >> 4 == 6 else 0x0800)
    return struct.pack(">HHH8sH", 0, hatype, 6, bytes(8), protocol) + packet


def sll2(packet: bytes, protocol: int | None = None, hatype: int = 1) -> bytes:
    protocol = protocol if protocol is not None else (0x86DD if packet[0] >> 4 == 6 else 0x0800)
    return struct.pack(">HHIHBB8s", protocol, 0, 3, hatype, 0, 6, bytes(8)) + packet


@pytest.mark.parametrize("v6", [False, True])
def test_linux_sll(tmp_path, v6):
    check_handshake(tmp_path, SLL, sll, v6)


@pytest.mark.parametrize("v6", [False, True])
def test_linux_sll2(tmp_path, v6):
    check_handshake(tmp_path, SLL2, sll2, v6)


def test_linux_sll_vlan_and_non_ip(tmp_path):
    tagged = sll(struct.pack(">HH", 55, 0x0800) + SYN, protocol=0x8100)
    netlink = sll(b"\x00" * 20, protocol=0, hatype=824)
    can = sll(b"\x00" * 16, protocol=0x000C)
    result = read(tmp_path, [tagged, netlink, can], SLL)
    assert result.accounting.skipped == {"non_ip:netlink": 1, "non_ip:sll_protocol_0x000c": 1}
    assert only_flow(result).vlan == 55


@pytest.mark.parametrize("linktype", [RAW, RAW12, RAW14])
@pytest.mark.parametrize("v6", [False, True])
def test_raw_ip(tmp_path, linktype, v6):
    check_handshake(tmp_path, linktype, lambda p: p, v6)


def test_linktype_ipv4_and_ipv6(tmp_path):
    check_handshake(tmp_path, IPV4, lambda p: p)
    check_handshake(tmp_path, IPV6, lambda p: p, v6=True)


def test_raw_ip_with_a_bad_version_nibble(tmp_path):
    result = read(tmp_path, [SYN, b"\x50" + SYN[1:]], RAW)
    assert result.accounting.skipped == {"malformed_ip_version": 1}


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("family6", [10, 24, 28, 30])
def test_bsd_null_in_either_host_byte_order(tmp_path, endian, family6):
    check_handshake(tmp_path, NULL, lambda p: struct.pack(endian + "I", 2) + p)
    check_handshake(tmp_path, NULL, lambda p: struct.pack(endian + "I", family6) + p, v6=True)


def test_openbsd_loop(tmp_path):
    check_handshake(tmp_path, LOOP, lambda p: struct.pack(">I", 2) + p)
    check_handshake(tmp_path, LOOP, lambda p: struct.pack(">I", 24) + p, v6=True)


def test_null_with_an_unknown_family(tmp_path):
    result = read(tmp_path, [struct.pack("<I", 7) + SYN], NULL)
    assert result.accounting.skipped == {"non_ip:loopback_family": 1}


@pytest.mark.parametrize("header", [b"\xff\x03\x00\x21", b"\x00\x21", b"\xff\x03\x21", b"\x21"],
                         ids=["hdlc", "no-address-control", "hdlc-compressed-protocol", "compressed-protocol"])
def test_ppp(tmp_path, header):
    check_handshake(tmp_path, PPP, lambda p: header + p)


def test_ppp_ipv6_and_hdlc_link_type_50(tmp_path):
    check_handshake(tmp_path, PPP, lambda p: b"\xff\x03\x00\x57" + p, v6=True)
    check_handshake(tmp_path, 50, lambda p: b"\xff\x03\x00\x21" + p)


def test_ppp_control_protocols_are_skipped(tmp_path):
    lcp = b"\xff\x03\xc0\x21" + bytes.fromhex("01010004")
    result = read(tmp_path, [lcp, b"\xff\x03\x00\x21" + SYN], PPP)
    assert result.accounting.skipped == {"non_ip:ppp_control": 1}


def pppoe(packet: bytes, ppp_protocol: int | None = None) -> bytes:
    ppp_protocol = ppp_protocol or (0x0057 if packet[0] >> 4 == 6 else 0x0021)
    return struct.pack(">BBHHH", 0x11, 0, 0x1234, len(packet) + 2, ppp_protocol) + packet


@pytest.mark.parametrize("v6", [False, True])
def test_pppoe_session_over_ethernet(tmp_path, v6):
    check_handshake(tmp_path, ETHERNET, lambda p: bytes(Ether(**MAC, type=0x8864)) + pppoe(p), v6)


def test_pppoe_without_ethernet_link_type_51(tmp_path):
    check_handshake(tmp_path, 51, pppoe)


def test_pppoe_discovery_is_skipped(tmp_path):
    padi = bytes(Ether(**MAC, type=0x8863)) + struct.pack(">BBHH", 0x11, 0x09, 0, 0)
    result = read(tmp_path, [padi, ether(SYN)])
    assert result.accounting.skipped == {"non_ip:pppoe_discovery": 1}


def tagged(packet: bytes, *tags: tuple[int, int], ethertype: int | None = None) -> bytes:
    """Ethernet with VLAN tags, outermost first: (tag protocol identifier, VLAN id)."""
    if ethertype is None:
        ethertype = 0x86DD if packet[0] >> 4 == 6 else 0x0800
    tpids = [t for t, _ in tags] + [ethertype]
    header = bytes(Ether(**MAC, type=tpids[0]))
    for (_, vid), nxt in zip(tags, tpids[1:]):
        header += struct.pack(">HH", (5 << 13) | vid, nxt)  # priority 5 must not leak into the id
    return header + packet


@pytest.mark.parametrize("v6", [False, True])
def test_8021q(tmp_path, v6):
    check_handshake(tmp_path, ETHERNET, lambda p: tagged(p, (0x8100, 10)), v6, vlan=10)


@pytest.mark.parametrize("outer_tpid", [0x88A8, 0x9100, 0x9200, 0x8100])
def test_qinq_reports_the_outer_vlan(tmp_path, outer_tpid):
    check_handshake(tmp_path, ETHERNET, lambda p: tagged(p, (outer_tpid, 100), (0x8100, 200)), vlan=100)


def test_vlan_zero_is_a_tag_too(tmp_path):
    check_handshake(tmp_path, ETHERNET, lambda p: tagged(p, (0x8100, 0)), vlan=0)


def test_flow_keeps_the_vlan_of_its_first_packet(tmp_path):
    result = read(tmp_path, [tagged(SYN, (0x8100, 10)), tagged(SYNACK, (0x8100, 11))])
    flow = only_flow(result)
    assert (flow.vlan, flow.orig_pkts, flow.resp_pkts) == (10, 1, 1)


def mpls(packet: bytes, labels: list[int], ethertype: int = 0x8847) -> bytes:
    stack = b""
    for i, label in enumerate(labels):
        bottom = int(i == len(labels) - 1)
        stack += struct.pack(">I", (label << 12) | (bottom << 8) | 64)
    return bytes(Ether(**MAC, type=ethertype)) + stack + packet


@pytest.mark.parametrize("labels", [[16], [16, 17, 18]])
@pytest.mark.parametrize("v6", [False, True])
def test_mpls(tmp_path, labels, v6):
    check_handshake(tmp_path, ETHERNET, lambda p: mpls(p, labels), v6)


def test_mpls_multicast_and_under_a_vlan(tmp_path):
    check_handshake(tmp_path, ETHERNET, lambda p: mpls(p, [20], ethertype=0x8848))
    frame = lambda p: tagged(struct.pack(">I", (16 << 12) | 0x100 | 64) + p, (0x8100, 30), ethertype=0x8847)  # noqa: E731
    check_handshake(tmp_path, ETHERNET, frame, vlan=30)


def test_mpls_pseudowire_with_control_word(tmp_path):
    check_handshake(tmp_path, ETHERNET, lambda p: mpls(bytes(4) + ether(p), [16, 17]))


def test_mpls_payload_that_is_not_ip(tmp_path):
    result = read(tmp_path, [mpls(b"\x50" + bytes(40), [16])])
    assert result.accounting.skipped == {"non_ip:mpls_payload": 1}


def test_non_ip_frames_are_counted_by_reason(tmp_path):
    arp = bytes(Ether(**MAC, type=0x0806)) + bytes(28)
    lldp = bytes(Ether(**MAC, type=0x88CC)) + bytes(30)
    llc = bytes(Ether(**MAC, type=38)) + b"\x42\x42\x03" + bytes(35)  # 802.3 length + STP
    odd = bytes(Ether(**MAC, type=0x1234)) + bytes(30)
    vlan_arp = tagged(bytes(28), (0x8100, 5), ethertype=0x0806)
    short = ether(SYN)[:10]
    result = read(tmp_path, [arp, lldp, llc, odd, vlan_arp, short, ether(SYN), arp])
    acc = result.accounting
    assert acc.records == 8 and acc.decoded == 1
    assert acc.skipped == {"non_ip:arp": 3, "non_ip:lldp": 1, "non_ip:llc": 1, "non_ip:ethertype_0x1234": 1,
                           "truncated_frame": 1}


@pytest.mark.parametrize("linktype", [192, 195, 147, 65535])  # PPI, 802.15.4, USER0, unassigned
def test_unsupported_link_type_is_counted(tmp_path, linktype):
    result = read(tmp_path, [ether(SYN), ether(SYNACK)], linktype)
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (2, 0, {f"unsupported_linktype:{linktype}": 2})
    assert result.flows == []


def test_unsupported_interface_next_to_a_supported_one(tmp_path):
    data = (ng_shb() + ng_idb(ETHERNET) + ng_idb(192)
            + ng_epb(0, 1, ether(SYN)) + ng_epb(1, 2, b"\x08\x02" + bytes(40)) + ng_epb(0, 3, ether(SYNACK)))
    (tmp_path / "m.pcapng").write_bytes(data)
    result = flows_of(tmp_path / "m.pcapng")
    assert result.accounting.skipped == {"unsupported_linktype:192": 1}
    assert flow_summary(only_flow(result))[:9] == HANDSHAKE


# --------------------------------------------------------------------------- IP


def test_ipv4_options_are_skipped_to_the_ports(tmp_path):
    options = [IPOption_Router_Alert(), IPOption_RR(routers=["192.0.2.9"])]
    there = bytes(IP(src="10.0.0.1", dst="10.0.0.2", options=options) / UDP(sport=5060, dport=5061) / (b"x" * 10))
    back = udp("10.0.0.2", "10.0.0.1", 5061, 5060, payload=b"y" * 10)
    assert there[0] & 0x0F == 8  # a 32-byte header
    flow = only_flow(read(tmp_path, [ether(there), ether(back)]))
    assert flow_summary(flow) == ("udp", "10.0.0.1", 5060, "10.0.0.2", 5061, 1, 50, 1, 38, None, "")


@pytest.mark.parametrize("chain", [
    [IPv6ExtHdrHopByHop()],
    [IPv6ExtHdrHopByHop(), IPv6ExtHdrRouting(addresses=["2001:db8::99"]), IPv6ExtHdrDestOpt()],
    [IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(addresses=["2001:db8::98", "2001:db8::99"]), IPv6ExtHdrDestOpt()],
])
def test_ipv6_extension_headers_are_walked_to_the_ports(tmp_path, chain):
    pkt = IPv6(src="2001:db8::1", dst="2001:db8::2")
    for ext in chain:
        pkt = pkt / ext
    there = bytes(pkt / UDP(sport=5353, dport=53) / b"question")
    back = udp("2001:db8::2", "2001:db8::1", 53, 5353, payload=b"answer")
    flow = only_flow(read(tmp_path, [ether(there), ether(back)]))
    assert flow_summary(flow) == ("udp", "2001:db8::1", 5353, "2001:db8::2", 53, 1, len(there), 1, 54, None, "")


def test_ipv6_extension_header_cut_by_the_snap_length_keeps_the_packet(tmp_path):
    pkt = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrDestOpt(options=[]) / UDP(sport=1, dport=2))
    frame = ether(pkt)
    result = flows_of(write_pcap(tmp_path / "c.pcap", [(T0, frame[:14 + 44], len(frame))]))
    flow = only_flow(result)
    assert (flow.proto, flow.orig_p, flow.resp_p, flow.orig_ip_bytes) == ("60", 0, 0, 56)


def test_ipv4_fragments_are_attributed_to_the_first_fragments_flow(tmp_path):
    request = IP(src="10.0.0.1", dst="10.0.0.2", id=4242) / UDP(sport=5000, dport=6000) / (b"x" * 3000)
    fragments = [bytes(f) for f in fragment(request, fragsize=1400)]
    assert [ip_total_length(f) for f in fragments] == [1420, 1420, 228]
    reply = udp("10.0.0.2", "10.0.0.1", 6000, 5000, payload=b"ok")
    result = read(tmp_path, [ether(f) for f in fragments] + [ether(reply)])
    flow = only_flow(result)
    # one datagram, as Zeek and tshark count it; its bytes are every fragment's, as on the wire
    assert flow_summary(flow) == ("udp", "10.0.0.1", 5000, "10.0.0.2", 6000, 1, 1420 + 1420 + 228, 1, 30, None, "")
    assert result.accounting.notes == {"fragments_attributed_to_first_fragment": 2}


def test_fragments_in_reverse_order_and_without_their_first_are_still_counted(tmp_path):
    """A later fragment before its first (in the same batch) is still attributed (its datagram
    counted once); one whose first never comes is counted in a port-less flow of the same addresses."""
    request = IP(src="10.0.0.1", dst="10.0.0.2", id=7) / UDP(sport=5000, dport=6000) / (b"x" * 3000)
    first, second, third = [bytes(f) for f in fragment(request, fragsize=1400)]
    orphan = bytes(fragment(IP(src="10.0.0.1", dst="10.0.0.2", id=8) / UDP(sport=1, dport=2) / (b"y" * 3000), 1400)[1])
    result = read(tmp_path, [ether(third), ether(first), ether(second), ether(orphan)])
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (4, 4, {})
    assert acc.notes == {"fragments_attributed_to_first_fragment": 2, "fragments_without_first_fragment": 1}
    flows = {(f.orig_p, f.resp_p): f for f in result.flows}
    assert set(flows) == {(5000, 6000), (0, 0)}
    assert (flows[(5000, 6000)].orig_pkts, flows[(5000, 6000)].orig_ip_bytes) == (1, 1420 + 1420 + 228)
    assert flows[(5000, 6000)].ts == T0 / 1e9  # the third fragment came first
    assert (flows[(0, 0)].proto, flows[(0, 0)].orig_pkts, flows[(0, 0)].orig_ip_bytes) == ("udp", 1, 1420)
    assert sum(f.orig_pkts + f.resp_pkts for f in result.flows) == 2


def test_fragment_ids_are_per_address_pair(tmp_path):
    a = fragment(IP(src="10.0.0.1", dst="10.0.0.2", id=9) / UDP(sport=1000, dport=2000) / (b"x" * 2000), 1400)
    b = fragment(IP(src="10.0.0.3", dst="10.0.0.2", id=9) / UDP(sport=3000, dport=4000) / (b"x" * 2000), 1400)
    result = read(tmp_path, [ether(bytes(p)) for p in (a[0], b[0], b[1], a[1])])
    assert sorted((f.orig_h, f.orig_p, f.orig_pkts, f.orig_ip_bytes) for f in result.flows) == [
        ("10.0.0.1", 1000, 1, 2028 + 20), ("10.0.0.3", 3000, 1, 2028 + 20)]


def test_ipv6_fragments_are_attributed_to_the_first_fragments_flow(tmp_path):
    request = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=0xABCDEF) / UDP(sport=5000, dport=6000) / (b"x" * 3000)
    fragments = [bytes(f) for f in fragment6(request, 1280)]
    assert [ip_total_length(f) for f in fragments] == [1280, 1280, 592]
    reply = udp("2001:db8::2", "2001:db8::1", 6000, 5000, payload=b"ok")
    result = read(tmp_path, [ether(f) for f in fragments] + [ether(reply)])
    flow = only_flow(result)
    assert flow_summary(flow) == ("udp", "2001:db8::1", 5000, "2001:db8::2", 6000, 1, 1280 + 1280 + 592, 1, 50, None, "")
    assert result.accounting.notes == {"fragments_attributed_to_first_fragment": 2}


def test_snap_length_cut_packets_count_their_ip_total_length(tmp_path):
    big = tcp("10.0.0.1", "10.0.0.2", 40000, 443, "PA", payload=b"z" * 1400)  # 1440 bytes
    cuts = [14 + 20 + 14, 14 + 20 + 20, 96]  # inside the TCP header (flags known), at its end, in the payload
    frames = [(T0 + i, ether(big)[:cut], 14 + 1440) for i, cut in enumerate(cuts)]
    frames.append((T0 + 9, ether(big)[:14 + 20 + 2], 14 + 1440))  # ports not captured
    result = flows_of(write_pcap(tmp_path / "s.pcap", frames, snaplen=96))
    acc = result.accounting
    assert (acc.records, acc.decoded, acc.skipped) == (4, 3, {"truncated_transport_header": 1})
    flow = only_flow(result)
    assert flow_summary(flow) == ("tcp", "10.0.0.1", 40000, "10.0.0.2", 443, 3, 3 * 1440, 0, 0, None, "")


def test_ip_header_cut_short_is_skipped_with_a_reason(tmp_path):
    frames = [(T0, ether(SYN)[:14 + 12], 54), (T0 + 1, ether(SYN6)[:14 + 30], 74)]
    result = flows_of(write_pcap(tmp_path / "h.pcap", frames))
    assert result.accounting.skipped == {"truncated_ip_header": 2}


def test_zero_total_length_uses_the_wire_length(tmp_path):
    """Segmentation offload: the capture sees a 64 KB super-frame with total length 0."""
    syn = bytearray(tcp("10.0.0.1", "10.0.0.2", 40000, 443, "PA"))
    syn[2:4] = b"\x00\x00"
    v6 = bytearray(SYN6)
    v6[4:6] = b"\x00\x00"
    frames = [(T0, ether(bytes(syn)), 14 + 64000), (T0 + 1, ether(bytes(v6)), 14 + 30000)]
    result = flows_of(write_pcap(tmp_path / "tso.pcap", frames))
    sizes = {f.orig_h: (f.orig_pkts, f.orig_ip_bytes) for f in result.flows}
    assert sizes == {"10.0.0.1": (1, 64000), "2001:db8::1": (1, 30000)}


def test_malformed_ipv4_headers_are_skipped(tmp_path):
    bad_ihl = bytearray(SYN)
    bad_ihl[0] = 0x44  # header length 16
    bad_total = bytearray(SYN)
    bad_total[2:4] = struct.pack(">H", 12)  # shorter than the header
    result = read(tmp_path, [ether(bytes(bad_ihl)), ether(bytes(bad_total)), ether(SYN)])
    assert result.accounting.skipped == {"malformed_ipv4": 2}


# --------------------------------------------------------------------------- ICMP and other protocols


def test_icmp_echo_request_and_reply_are_one_flow(tmp_path):
    frames = [ether(icmp_echo(reply=False)), ether(icmp_echo("10.0.0.2", "10.0.0.1", reply=True))]
    flow = only_flow(read(tmp_path, frames))
    assert flow_summary(flow) == ("icmp", "10.0.0.1", 8, "10.0.0.2", 0, 1, 32, 1, 32, None, "")


def test_icmpv6_echo_request_and_reply_are_one_flow(tmp_path):
    request = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=1, seq=1))
    reply = bytes(IPv6(src="2001:db8::2", dst="2001:db8::1") / ICMPv6EchoReply(id=1, seq=1))
    flow = only_flow(read(tmp_path, [ether(request), ether(reply)]))
    assert flow_summary(flow) == ("icmp", "2001:db8::1", 128, "2001:db8::2", 129, 1, 48, 1, 48, None, "")


def test_icmp_errors_use_type_and_code(tmp_path):
    unreachable = bytes(IP(src="10.0.0.9", dst="10.0.0.1", proto=1) / (bytes([3, 1, 0, 0, 0, 0, 0, 0]) + SYN[:28]))
    flow = only_flow(read(tmp_path, [ether(unreachable)]))
    assert (flow.proto, flow.orig_p, flow.resp_p, flow.orig_ip_bytes) == ("icmp", 3, 1, 20 + 8 + 28)


def test_other_ip_protocols_keep_their_number(tmp_path):
    ospf = bytes(IP(src="10.0.0.1", dst="224.0.0.5", proto=89) / (b"o" * 24))
    sctp = bytes(IP(src="10.0.0.1", dst="10.0.0.2", proto=132) / struct.pack(">HHII", 3868, 3868, 0, 0))
    result = read(tmp_path, [ether(ospf), ether(sctp)])
    assert sorted((f.proto, f.orig_p, f.resp_p, f.orig_ip_bytes) for f in result.flows) == [
        ("132", 3868, 3868, 32), ("89", 0, 0, 44)]
