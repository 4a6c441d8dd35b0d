"""Real captures nobody here wrote (``../shared/data/pcaps``), when present: every one reads with
the accounting adding up, and the TCP+UDP conversations agree with tshark's.

The tshark figures were measured once with TShark 4.0.17 (``tshark -r FILE -q -z conv,tcp -z
conv,udp``: rows, and the sum of their Total Frames) and are hard-coded: tshark is not on CI.
Where tracecheck differs, on purpose, both figures are kept with the reason.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest

from tracecheck.flows.pipeline import FlowResult, build_flows

SHARED_DATA = Path(os.environ.get("TRACECHECK_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
PCAPS = SHARED_DATA / "pcaps"

pytestmark = [pytest.mark.shared_data,
              pytest.mark.skipif(not PCAPS.is_dir(), reason=f"shared captures not present ({PCAPS})")]

# file: (records as capinfos counts them, tshark conversations, tshark packets in them)
TSHARK = {
    "dpkt/truncated_dns.pcap": (1, 1, 1),
    "ndpi/alexa-app.pcapng": (3103, 154, 3058),
    "ndpi/reddit.pcap": (1942, 60, 1942),
    "ndpi/stun_google_meet.pcapng": (362, 7, 362),
    "ndpi/webex.pcap": (1110, 57, 1110),
    "ndpi/whatsapp_voice_and_message.pcap": (261, 13, 261),
    "pcapplusplus/DnsPackets.pcap": (464, 219, 464),
    "pcapplusplus/GrePackets.cap": (28, 1, 9),
    "pcapplusplus/QinQ_802.1_AD.pcapng": (1, 0, 0),
    "pcapplusplus/VlanPackets.pcap": (26, 0, 0),
    "pcapplusplus/Vxlan1.pcap": (1, 1, 1),
    "pcapplusplus/many_interfaces-1.pcapng": (64, 15, 64),
    "pcapplusplus/nanosecs_big_endian.pcap": (10, 1, 10),
    "pcapplusplus/sll2.pcap": (3, 1, 3),
    "pcapplusplus/tls.pcap": (44, 3, 44),
    "tcpdump/dns_tcp.pcap": (11, 1, 11),
    "tcpdump/icmp-icmp_print-oobr-1.pcap": (3, 0, 0),
    "tcpdump/ipv6-mobility-header-oobr.pcap": (1, 0, 0),
    "tcpdump/rtp-seg-fault-2.pcapng": (1, 1, 1),
    "tcpdump/udp-length-heapoverflow.pcap": (1, 0, 0),
    "wireshark-wiki/DTMFsipinfo.pcap": (32, 3, 32),
    "wireshark-wiki/SIP_CALL_RTP_G711.pcap": (4269, 82, 4105),
    "wireshark-wiki/attachment_SLL_Simple.pcap": (279, 10, 34),
    "wireshark-wiki/sip-rtp-g722.pcap": (433, 3, 433),
    "wireshark-wiki/v6.pcap": (161, 32, 112),
    "wireshark-wiki/vlan.cap": (395, 15, 200),
    "zeek/chrome-34-google.pcap": (42, 1, 42),
    "zeek/dns-edns-ecs.pcap": (89, 69, 85),
    "zeek/linux_dlt_sll2.pcap": (6, 0, 0),
    "zeek/quic_win11_firefox_google.pcap": (441, 1, 441),
    "zeek/quicdoq.pcap": (9, 1, 9),
}

# file: (our conversations, our packets, why they differ from tshark)
DIFFERENT = {
    "tcpdump/udp-length-heapoverflow.pcap": (1, 1, "tshark refuses the malformed UDP length; we keep the packet"),
    "pcapplusplus/DnsPackets.pcap": (220, 464, "10.0.0.1:52532 <-> 10.0.0.138:53 is reused after 339 s: the "
                                     "60 s UDP inactivity timeout (Zeek's) makes it two flows"),
    "ndpi/alexa-app.pcapng": (168, 3058, "three SYNs retried unanswered for minutes (at 0, 1, 3, 7, 15 ... s): "
                               "tshark keeps each in one conversation; Zeek (tcp_attempt_delay) and we end the "
                               "attempt 5 s after its first SYN, so the retries at 7 s and later are new ones (+14)"),
    "wireshark-wiki/SIP_CALL_RTP_G711.pcap": (80, 4105, "tshark splits four UDP conversations where SDP/RTP set "
                                              "up a new one (+4); we split TCP 200.57.7.204:4554 <-> "
                                              "64.69.76.21:13840 on each SYN after a RST (+2)"),
}


def capture_files() -> list[str]:
    if not PCAPS.is_dir():
        return []
    return sorted(str(p.relative_to(PCAPS)) for p in PCAPS.rglob("*") if p.is_file() and ".out" not in p.suffixes
                  and not p.name.endswith(".out"))


@lru_cache(maxsize=None)
def read(name: str) -> FlowResult:
    return build_flows([str(PCAPS / name)])


@pytest.mark.parametrize("name", capture_files() or ["(none)"])
def test_every_capture_reads_with_every_record_accounted_for(name):
    result = read(name)
    acc = result.accounting
    assert acc.records == acc.decoded + sum(acc.skipped.values())
    assert result.warnings == []
    datagrams = acc.decoded - acc.notes.get("fragments_attributed_to_first_fragment", 0)  # counted once each
    assert sum(f.orig_pkts + f.resp_pkts for f in result.flows) >= datagrams
    if name in TSHARK:
        assert acc.records == TSHARK[name][0]


def test_every_capture_has_expected_figures():
    """A capture added to the shared data should get its tshark figures here."""
    assert set(capture_files()) <= set(TSHARK)


@pytest.mark.parametrize("name", sorted(TSHARK))
def test_tcp_and_udp_conversations_match_tshark(name):
    if not (PCAPS / name).exists():
        pytest.skip(f"{name} not present")
    flows = [f for f in read(name).flows if f.proto in ("tcp", "udp") and f.tunnel == ""]
    ours = (len(flows), sum(f.orig_pkts + f.resp_pkts for f in flows))
    _, conversations, packets = TSHARK[name]
    expected = DIFFERENT[name][:2] if name in DIFFERENT else (conversations, packets)
    assert ours == expected


def test_known_details_of_some_captures():
    def flows(name):
        if not (PCAPS / name).exists():
            pytest.skip(f"{name} not present")
        return read(name)

    qinq = flows("pcapplusplus/QinQ_802.1_AD.pcapng").flows
    assert [(f.vlan, f.orig_ip_bytes) for f in qinq] == [(30, 1474)]  # 802.1ad outer id 30, inner 100
    vlans = flows("pcapplusplus/VlanPackets.pcap")
    assert sorted((f.vlan, f.orig_pkts + f.resp_pkts) for f in vlans.flows) == [(118, 10), (209, 10)]
    assert vlans.accounting.skipped == {"non_ip:llc": 6}
    vxlan = {f.tunnel: f for f in flows("pcapplusplus/Vxlan1.pcap").flows}
    assert (vxlan[""].proto, vxlan[""].resp_p, vxlan[""].orig_ip_bytes) == ("udp", 4789, 134)
    assert (vxlan["vxlan"].proto, vxlan["vxlan"].orig_h, vxlan["vxlan"].orig_ip_bytes) == ("icmp", "192.168.203.3", 84)
    gre = {(f.proto, f.tunnel): f for f in flows("pcapplusplus/GrePackets.cap").flows}
    assert (gre[("icmp", "gre")].orig_pkts, gre[("icmp", "gre")].resp_pkts) == (1, 1)  # ICMP in PPP in PPTP's GRE
    assert gre[("47", "")].orig_pkts + gre[("47", "")].resp_pkts == 17
    many = flows("pcapplusplus/many_interfaces-1.pcapng")
    assert many.captures[0].linktypes == (1, 0, 12)
    assert many.accounting.notes["pcapng_interface_statistics"] == 11
    assert flows("pcapplusplus/nanosecs_big_endian.pcap").captures[0].format == "pcap-ns"
    assert flows("pcapplusplus/sll2.pcap").captures[0].linktypes == (276,)
    sll = flows("wireshark-wiki/attachment_SLL_Simple.pcap").accounting
    assert sll.skipped == {"non_ip:arp": 6, "non_ip:sll_protocol_0x0000": 213}
    edns = flows("zeek/dns-edns-ecs.pcap").accounting
    assert edns.notes.get("fragments_attributed_to_first_fragment", 0) > 0
