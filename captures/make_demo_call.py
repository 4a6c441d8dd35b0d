"""Write ``demo-call.pcapng``: a SYNTHETIC test call, made by this script, not captured.

The story an auditor should see: an agent in Dublin handles a call on Genesys Cloud in
eu-west-1 (Ireland) with WebRTC media, the agent desktop updates the CRM (Salesforce on
AWS eu-central-1, Frankfurt) — and a live transcription stream goes to AWS Transcribe in
us-east-1 (Virginia), outside the EU.  With DNS and some background noise.

Addresses are taken from the providers' published ranges for those regions; the TLS
ClientHellos are real-shaped (SNI, ALPN).  Run: ``python captures/make_demo_call.py``
(needs the test extras: ``pip install -e '.[test]'``).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from dissect_helpers import build_client_hello, tls_records  # noqa: E402
from scapy.all import ARP, DNS, DNSQR, DNSRR, IP, NTP, TCP, UDP, Ether, Raw, wrpcapng  # noqa: E402

AGENT, RESOLVER, GATEWAY_MAC, AGENT_MAC = "10.20.30.40", "10.20.0.2", "00:11:22:33:44:55", "3c:22:fb:10:20:30"
START = 1795000000.0  # 2026-11-18, fixed so the file is the same on every run

SERVICES = [  # (name, CNAME chain, address: in the provider's published range for its region)
    ("api.mypurecloud.ie", [], "52.210.12.34"),                      # AWS eu-west-1 (52.208.0.0/13)
    ("apps.mypurecloud.ie", [], "52.210.12.35"),
    ("acme.my.salesforce.com", ["acme.my.sfdc-8a1f.salesforce.com"], "3.120.181.40"),  # AWS eu-central-1
    ("transcribestreaming.us-east-1.amazonaws.com", [], "3.227.250.10"),  # AWS us-east-1 (3.224.0.0/12)
]
TURN = ("52.212.4.5", 3478)  # Genesys Cloud media/TURN in eu-west-1


class Call:
    def __init__(self) -> None:
        self.frames, self.t = [], START
        self.rng = random.Random(7)

    def at(self, frame, dt: float = 0.002):
        self.t += dt
        frame.time = self.t
        self.frames.append(frame)

    def ether(self, inbound: bool = False):
        return Ether(src=GATEWAY_MAC, dst=AGENT_MAC) if inbound else Ether(src=AGENT_MAC, dst=GATEWAY_MAC)

    def dns(self, name: str, chain: list[str], ip: str) -> None:
        qid, port = self.rng.randrange(65536), self.rng.randrange(40000, 60000)
        self.at(self.ether() / IP(src=AGENT, dst=RESOLVER) / UDP(sport=port, dport=53) / DNS(id=qid, rd=1, qd=DNSQR(qname=name)))
        answers, owner = [], name
        for target in chain:
            answers.append(DNSRR(rrname=owner, type="CNAME", ttl=300, rdata=target))
            owner = target
        answers.append(DNSRR(rrname=owner, type="A", ttl=60, rdata=ip))
        self.at(self.ether(True) / IP(src=RESOLVER, dst=AGENT) / UDP(sport=53, dport=port)
                / DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name), an=answers), 0.012)

    def tls(self, name: str, ip: str, exchanges: int = 6, rtt: float = 0.012) -> None:
        port, seq, ack = self.rng.randrange(50000, 65000), 1000, 9000
        out = lambda **kw: self.ether() / IP(src=AGENT, dst=ip) / TCP(sport=port, dport=443, **kw)  # noqa: E731
        back = lambda **kw: self.ether(True) / IP(src=ip, dst=AGENT) / TCP(sport=443, dport=port, **kw)  # noqa: E731
        self.at(out(flags="S", seq=seq))
        self.at(back(flags="SA", seq=ack, ack=seq + 1), rtt)
        self.at(out(flags="A", seq=seq + 1, ack=ack + 1))
        hello = tls_records(build_client_hello(sni=name, alpn=("h2", "http/1.1")))
        self.at(out(flags="PA", seq=seq + 1, ack=ack + 1) / Raw(hello))
        seq, ack = seq + 1 + len(hello), ack + 1
        for _ in range(exchanges):
            body = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(200, 1200)))
            self.at(back(flags="PA", seq=ack, ack=seq) / Raw(b"\x17\x03\x03" + len(body).to_bytes(2, "big") + body), rtt)
            ack += 5 + len(body)
            self.at(out(flags="PA", seq=seq, ack=ack) / Raw(b"\x17\x03\x03\x00\x40" + bytes(64)))
            seq += 69
        self.at(out(flags="FA", seq=seq, ack=ack))
        self.at(back(flags="FA", seq=ack, ack=seq + 1), rtt)
        self.at(out(flags="A", seq=seq + 1, ack=ack + 1))

    def webrtc_media(self, seconds: float = 2.0) -> None:
        ip, port = TURN
        local = 51820
        cookie = (0x2112A442).to_bytes(4, "big")
        txid = bytes(range(12))
        self.at(self.ether() / IP(src=AGENT, dst=ip) / UDP(sport=local, dport=port) / Raw(b"\x00\x01\x00\x00" + cookie + txid))
        mapped = bytes(a ^ b for a, b in zip(bytes([0, 1]) + (local ^ 0x2112).to_bytes(2, "big") + bytes(map(int, "198.51.100.7".split("."))),
                                             bytes([0, 0, 0, 0]) + bytes([0, 0, 0, 0]) + cookie))
        attr = (0x0020).to_bytes(2, "big") + (8).to_bytes(2, "big") + bytes([0, 1]) + (local ^ 0x2112).to_bytes(2, "big") + mapped[4:8]
        self.at(self.ether(True) / IP(src=ip, dst=AGENT) / UDP(sport=port, dport=local)
                / Raw(b"\x01\x01" + len(attr).to_bytes(2, "big") + cookie + txid + attr), 0.011)
        ssrc_out, ssrc_in = 0x1234ABCD, 0x0BADF00D
        for n in range(int(seconds / 0.02)):
            for ssrc, inbound in ((ssrc_out, False), (ssrc_in, True)):
                header = bytes([0x80, 0x00]) + (1000 + n).to_bytes(2, "big") + (160 * n).to_bytes(4, "big") + ssrc.to_bytes(4, "big")
                ips = (ip, AGENT) if inbound else (AGENT, ip)
                ports = (port, local) if inbound else (local, port)
                self.at(self.ether(inbound) / IP(src=ips[0], dst=ips[1]) / UDP(sport=ports[0], dport=ports[1]) / Raw(header + bytes(160)), 0.01)

    def noise(self) -> None:
        self.at(Ether(src=AGENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=AGENT, pdst="10.20.0.1"))
        self.at(self.ether() / IP(src=AGENT, dst="162.159.200.1") / UDP(sport=123, dport=123) / NTP())
        self.at(self.ether(True) / IP(src="162.159.200.1", dst=AGENT) / UDP(sport=123, dport=123) / NTP(), 0.006)


def main() -> None:
    call = Call()
    call.noise()
    for name, chain, ip in SERVICES:
        call.dns(name, chain, ip)
    call.tls("api.mypurecloud.ie", "52.210.12.34", rtt=0.011)
    call.tls("apps.mypurecloud.ie", "52.210.12.35", rtt=0.011)
    call.webrtc_media()
    call.tls("acme.my.salesforce.com", "3.120.181.40", rtt=0.024)
    call.tls("transcribestreaming.us-east-1.amazonaws.com", "3.227.250.10", exchanges=12, rtt=0.078)
    call.noise()
    out = HERE / "demo-call.pcapng"
    wrpcapng(str(out), call.frames)
    print(f"wrote {out} ({len(call.frames)} packets)")


if __name__ == "__main__":
    main()
