"""Test calls with known truth, built packet by packet: DNS, TLS (with or without SNI, ECH),
SIP with SDP and RTP, WebRTC TURN media, NTP -- written as Ethernet, Linux SLL2 or VXLAN-mirrored
captures.

Addresses are chosen so that the embedded GeoIP default alone places them (3.227.x and 34.203.x
in the US, 52.208.0.0/13 in Ireland, 3.120.0.0/13 in Germany, 104.16.x Cloudflare anycast), and
``AWS_RANGES`` puts the same ones in AWS regions for the tests with range files imported.
Documentation ranges (192.0.2.0/24 ...) are deliberately not used for remote ends: geo treats
them as local, as it should.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from capture_builders import ETHERNET, SLL2, T0, ether, write_pcapng
from dissect_helpers import build_client_hello, tls_records
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

AGENT, AGENT6, RESOLVER = "10.20.30.40", "fd00:20::40", "10.20.0.2"

GENESYS_API = ("api.mypurecloud.ie", "52.210.12.34")               # AWS eu-west-1
GENESYS_APPS = ("apps.mypurecloud.ie", "52.210.12.35")
TURN_EU = ("52.212.4.5", 3478)                                      # Genesys media, eu-west-1
SALESFORCE_EU = ("acme.my.salesforce.com", "3.120.181.40")         # AWS eu-central-1
SALESFORCE_US = ("acme.my.salesforce.com", "3.227.250.20")         # AWS us-east-1
TRANSCRIBE_EU = ("transcribestreaming.eu-west-1.amazonaws.com", "52.210.12.50")
TRANSCRIBE_US = ("transcribestreaming.us-east-1.amazonaws.com", "3.227.250.10")
TRANSCRIBE_US6 = ("transcribestreaming.us-east-1.amazonaws.com", "2600:1f18::10")
GENESYS_API6 = ("api.mypurecloud.ie", "2a05:d018::10")              # AWS eu-west-1 IPv6
CDN = ("static.widgets.example", "104.16.1.1")                     # Cloudflare anycast
CARRIER_SBC = ("acme.pstn.dublin.twilio.com", "54.171.127.192")    # signalling in eu-west-1
CARRIER_MEDIA_US = "34.203.250.10"                                  # media in us-east-1

AWS_RANGES = {  # ip-ranges.json in AWS's own schema, just the prefixes the scenarios use
    "syncToken": "1795000000",
    "createDate": "2026-11-10-12-00-00",
    "prefixes": [
        {"ip_prefix": "52.208.0.0/13", "region": "eu-west-1", "service": "AMAZON", "network_border_group": "eu-west-1"},
        {"ip_prefix": "52.208.0.0/13", "region": "eu-west-1", "service": "EC2", "network_border_group": "eu-west-1"},
        {"ip_prefix": "54.170.0.0/15", "region": "eu-west-1", "service": "EC2", "network_border_group": "eu-west-1"},
        {"ip_prefix": "3.120.0.0/14", "region": "eu-central-1", "service": "EC2", "network_border_group": "eu-central-1"},
        {"ip_prefix": "3.224.0.0/12", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"},
        {"ip_prefix": "34.192.0.0/12", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2a05:d018::/36", "region": "eu-west-1", "service": "EC2", "network_border_group": "eu-west-1"},
        {"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"},
    ],
}
CLOUDFLARE_V4 = "104.16.0.0/13\n172.64.0.0/13\n162.158.0.0/15\n"


def write_range_files(folder: Path) -> dict[str, Path]:
    """The synthetic provider files, in the publishers' schemas, for ``tracecheck db import``."""
    folder.mkdir(parents=True, exist_ok=True)
    aws = folder / "ip-ranges.json"
    aws.write_text(json.dumps(AWS_RANGES))
    cloudflare = folder / "ips-v4"
    cloudflare.write_text(CLOUDFLARE_V4)
    return {"aws": aws, "cloudflare": cloudflare}


class TestCall:
    """Packets of one test call, in time order, as raw IP; ``write`` adds the link layer."""

    __test__ = False  # not a pytest test class

    def __init__(self, agent: str = AGENT, resolver: str = RESOLVER, start_ns: int = T0):
        self.agent, self.resolver = agent, resolver
        self.packets: list[tuple[int, bytes]] = []
        self.now = start_ns
        self.port = 50000

    # ------------------------------------------------------------------ basics

    def _at(self, packet, after_ms: float = 1.0) -> None:
        self.now += int(after_ms * 1_000_000)
        self.packets.append((self.now, bytes(packet)))

    def _ip(self, src: str, dst: str):
        return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)

    def _next_port(self) -> int:
        self.port += 1
        return self.port

    # ------------------------------------------------------------------ protocols

    def dns(self, name: str, ip: str, chain: tuple[str, ...] = ()) -> TestCall:
        """A query for ``name`` and an answer (through ``chain``'s CNAMEs) giving ``ip``."""
        port, qtype = self._next_port(), "AAAA" if ":" in ip else "A"
        self._at(IP(src=self.agent, dst=self.resolver) / UDP(sport=port, dport=53)
                 / DNS(id=port & 0xFFFF, rd=1, qd=DNSQR(qname=name, qtype=qtype)))
        answers, owner = [], name
        for target in chain:
            answers.append(DNSRR(rrname=owner, type="CNAME", ttl=300, rdata=target))
            owner = target
        answers.append(DNSRR(rrname=owner, type=qtype, ttl=60, rdata=ip))
        self._at(IP(src=self.resolver, dst=self.agent) / UDP(sport=53, dport=port)
                 / DNS(id=port & 0xFFFF, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=answers), 8)
        return self

    def tls(self, server: str, sni: str | None, rtt_ms: float = 10.0, port: int = 443, ech: bool = False,
            client: str | None = None, exchanges: int = 2, alpn: tuple[str, ...] = ("h2",)) -> TestCall:
        """A TCP connection with a ClientHello (``sni=None``: no SNI at all) and some records."""
        client = client or (AGENT6 if ":" in server else self.agent)
        sport, seq, ack = self._next_port(), 1000, 90000
        out = lambda **kw: self._ip(client, server) / TCP(sport=sport, dport=port, **kw)
        back = lambda **kw: self._ip(server, client) / TCP(sport=port, dport=sport, **kw)
        self._at(out(flags="S", seq=seq))
        self._at(back(flags="SA", seq=ack, ack=seq + 1), rtt_ms)
        self._at(out(flags="A", seq=seq + 1, ack=ack + 1))
        hello = tls_records(build_client_hello(sni=sni, alpn=alpn, ech=ech))
        self._at(out(flags="PA", seq=seq + 1, ack=ack + 1) / Raw(hello))
        seq, ack = seq + 1 + len(hello), ack + 1
        for _ in range(exchanges):
            body = bytes(300)
            self._at(back(flags="PA", seq=ack, ack=seq) / Raw(b"\x17\x03\x03" + len(body).to_bytes(2, "big") + body), rtt_ms)
            ack += 5 + len(body)
            self._at(out(flags="PA", seq=seq, ack=ack) / Raw(b"\x17\x03\x03\x00\x40" + bytes(64)))
            seq += 69
        self._at(out(flags="FA", seq=seq, ack=ack))
        self._at(back(flags="FA", seq=ack, ack=seq + 1), rtt_ms)
        return self

    def service(self, name: str, ip: str, rtt_ms: float = 10.0, **tls) -> TestCall:
        """DNS for the name, then TLS to it with the name as SNI."""
        return self.dns(name, ip).tls(ip, name, rtt_ms, **tls)

    def turn_media(self, server: tuple[str, int] = TURN_EU, packets: int = 30) -> TestCall:
        """WebRTC: a STUN binding to the TURN server, then RTP both ways (no SIP call)."""
        ip, port = server
        local = self._next_port()
        cookie = (0x2112A442).to_bytes(4, "big")
        self._at(IP(src=self.agent, dst=ip) / UDP(sport=local, dport=port) / Raw(b"\x00\x01\x00\x00" + cookie + bytes(12)))
        self._at(IP(src=ip, dst=self.agent) / UDP(sport=port, dport=local) / Raw(b"\x01\x01\x00\x00" + cookie + bytes(12)), 10)
        self._rtp((self.agent, local), (ip, port), packets)
        return self

    def sip_call(self, sbc: tuple[str, str], media_ip: str, call_id: str = "call-1@agent.example",
                 media_port: int = 20000, remote_first: bool = True, packets: int = 30) -> TestCall:
        """INVITE over UDP to ``sbc`` (request URI host, address) with an SDP offer, a 200 OK whose SDP
        puts the far media at ``media_ip``, then RTP (the far side first when ``remote_first``)."""
        host, sbc_ip = sbc
        local_media = 40000
        offer = _sdp(self.agent, local_media)
        answer = _sdp(media_ip, media_port)
        invite = _sip(f"INVITE sip:+35312345678@{host} SIP/2.0", call_id, "INVITE", self.agent, offer)
        ok = _sip("SIP/2.0 200 OK", call_id, "INVITE", self.agent, answer)
        self._at(IP(src=self.agent, dst=sbc_ip) / UDP(sport=5060, dport=5060) / Raw(invite))
        self._at(IP(src=sbc_ip, dst=self.agent) / UDP(sport=5060, dport=5060) / Raw(ok), 20)
        near, far = (self.agent, local_media), (media_ip, media_port)
        self._rtp(far, near, packets) if remote_first else self._rtp(near, far, packets)
        bye = _sip(f"BYE sip:+35312345678@{host} SIP/2.0", call_id, "BYE", self.agent, "")
        self._at(IP(src=self.agent, dst=sbc_ip) / UDP(sport=5060, dport=5060) / Raw(bye), 5)
        return self

    def _rtp(self, first: tuple[str, int], second: tuple[str, int], packets: int) -> None:
        for n in range(packets):
            for (src, sport), (dst, dport), ssrc in ((first, second, 0x1234ABCD), (second, first, 0x0BADF00D)):
                header = bytes([0x80, 0x08]) + (1000 + n).to_bytes(2, "big") + (160 * n).to_bytes(4, "big") + ssrc.to_bytes(4, "big")
                self._at(self._ip(src, dst) / UDP(sport=sport, dport=dport) / Raw(header + bytes(160)), 10)

    def ntp(self, server: str = "162.159.200.1") -> TestCall:
        self._at(IP(src=self.agent, dst=server) / UDP(sport=123, dport=123) / Raw(b"\x23" + bytes(47)))
        self._at(IP(src=server, dst=self.agent) / UDP(sport=123, dport=123) / Raw(b"\x24" + bytes(47)), 6)
        return self

    # ------------------------------------------------------------------ files

    def write(self, path: Path, link: str = "ethernet") -> Path:
        """``ethernet``, ``sll2`` (Linux cooked v2) or ``vxlan`` (a cloud traffic mirror)."""
        wrap, linktype = {"ethernet": (ether, ETHERNET), "sll2": (_sll2, SLL2), "vxlan": (_vxlan, ETHERNET)}[link]
        return write_pcapng(Path(path), [(ts, wrap(packet)) for ts, packet in self.packets], linktype=linktype)


def _sdp(ip: str, port: int) -> str:
    family = "IP6" if ":" in ip else "IP4"
    return (f"v=0\r\no=- 1 1 IN {family} {ip}\r\ns=call\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")


def _sip(start: str, call_id: str, method: str, agent: str, body: str) -> bytes:
    headers = [start, f"Via: SIP/2.0/UDP {agent}:5060;branch=z9hG4bK1", "Max-Forwards: 70",
               "From: <sip:agent7@cc.example.org>;tag=1", "To: <sip:+35312345678@carrier.example>",
               f"Call-ID: {call_id}", f"CSeq: 1 {method}", f"Contact: <sip:agent7@{agent}:5060>"]
    if body:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def _sll2(packet: bytes) -> bytes:
    protocol = 0x86DD if packet[0] >> 4 == 6 else 0x0800
    return struct.pack(">HHIHBB8s", protocol, 0, 3, 1, 0, 6, bytes(8)) + packet


def _vxlan(packet: bytes) -> bytes:
    """The frame as an AWS VPC traffic mirror delivers it: inside VXLAN between two VPC hosts."""
    return bytes(Ether(src="02:00:00:00:0a:01", dst="02:00:00:00:0a:02") / IP(src="10.0.9.1", dst="10.0.9.2")
                 / UDP(sport=65000, dport=4789) / VXLAN(vni=7) / Raw(ether(packet)))


# --------------------------------------------------------------------------- scenarios with known truth


def eu_compliant_call() -> TestCall:
    """Everything in the EU: Genesys eu-west-1, WebRTC media there, Salesforce and Transcribe in the EU."""
    call = TestCall()
    call.service(*GENESYS_API, rtt_ms=11).service(*GENESYS_APPS, rtt_ms=11)
    call.turn_media()
    call.service(*SALESFORCE_EU, rtt_ms=24)
    call.service(*TRANSCRIBE_EU, rtt_ms=11)
    return call


def us_transcription_call() -> TestCall:
    call = TestCall()
    call.service(*GENESYS_API, rtt_ms=11).turn_media()
    call.service(*TRANSCRIBE_US, rtt_ms=78)
    return call


def us_crm_call() -> TestCall:
    call = TestCall()
    call.service(*GENESYS_API, rtt_ms=11).turn_media()
    call.service(*SALESFORCE_US, rtt_ms=80)
    return call
