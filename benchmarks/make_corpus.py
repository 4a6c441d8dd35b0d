#!/usr/bin/env python3
"""Write a realistic benchmark capture for `tracecheck flows`.

    python benchmarks/make_corpus.py                      # 1,000,000 packets
    python benchmarks/make_corpus.py --packets 5000000    # same ~20k flows, 5x the packets

Classic pcap (microseconds, little endian, Ethernet). About 20k flows interleaved in time:
TLS over TCP (full handshake, ClientHello with SNI, data both ways, FIN), DNS over UDP
(A/AAAA answers for the TLS and QUIC servers, some through a CNAME), SIP over UDP (INVITE,
200 OK with SDP, OPTIONS keep-alives, BYE) with its symmetric G.711 RTP stream, and QUIC on
UDP 443 (real, decryptable v1 Initial packets carrying a ClientHello, then short headers).
About 10% of flows are IPv6 and about 10% are 802.1Q tagged. IP lengths and all IPv4, TCP
and UDP checksums are correct.

The flows (addresses, ports, names, mix) depend only on --seed and --flows, never on
--packets: more packets make the same flows longer, so memory can be compared at 1M and 5M.

Speed: packets are planned as NumPy columns, then written chunk by chunk — pcap record,
Ethernet/VLAN/IP/TCP/UDP headers and the TLS/RTP/QUIC framing are NumPy structured arrays
scattered into a buffer of random bytes, and checksums are segment sums over that buffer.
Only payloads that must parse (ClientHello, DNS, SIP, QUIC Initial: ~3% of packets) are
built in Python. This file is one script on purpose, so it runs without the package.
"""
from __future__ import annotations

import argparse
import hmac
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
EPOCH_US = 1_710_234_000 * 1_000_000  # 2024-03-12 09:00:00 UTC
GATEWAY_MAC = 0x0000_5E00_0101_2A  # a VRRP-style router MAC
MS, SEC = 1_000, 1_000_000  # microseconds

# ---------------------------------------------------------------------------- wire formats
ETH = [("dst_hi", ">u2"), ("dst_lo", ">u4"), ("src_hi", ">u2"), ("src_lo", ">u4")]
VLAN = [("tpid", ">u2"), ("tci", ">u2")]
ETYPE = [("etype", ">u2")]
IP4 = [("vihl", "u1"), ("tos", "u1"), ("tot_len", ">u2"), ("ip_id", ">u2"), ("frag", ">u2"),
       ("ttl", "u1"), ("proto", "u1"), ("ip_sum", ">u2"), ("src4", ">u4"), ("dst4", ">u4")]
IP6 = [("vtf", ">u4"), ("plen6", ">u2"), ("nh", "u1"), ("hlim", "u1"),
       ("src6", "u1", (16,)), ("dst6", "u1", (16,))]
TCP = [("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"),
       ("off_flags", ">u2"), ("win", ">u2"), ("l4_sum", ">u2"), ("urp", ">u2")]
# MSS, SACK-permitted, timestamps, NOP, window scale: what Linux puts in a SYN (20 bytes)
TCP_SYN_OPTS = [("o_mss", ">u4"), ("o_sackp", ">u2"), ("o_ts", ">u2"), ("tsval", ">u4"),
                ("tsecr", ">u4"), ("o_nop_ws", ">u2"), ("o_ws", ">u2")]
TCP_OPTS = [("o_ts", ">u4"), ("tsval", ">u4"), ("tsecr", ">u4")]  # NOP NOP TS (12 bytes)
UDP = [("sport", ">u2"), ("dport", ">u2"), ("ulen", ">u2"), ("l4_sum", ">u2")]
PCAP_REC = np.dtype([("sec", "<u4"), ("usec", "<u4"), ("incl", "<u4"), ("orig", "<u4")])
TLS_REC = np.dtype([("ctype", "u1"), ("ver", ">u2"), ("rlen", ">u2")])
RTP_HDR = np.dtype([("vpxcc", "u1"), ("mpt", "u1"), ("rseq", ">u2"), ("rts", ">u4"), ("ssrc", ">u4")])
QUIC_SHORT = np.dtype([("qfirst", "u1"), ("dcid", "u1", (8,))])

# ------------------------------------------------------------------------ packet roles
# A role fixes direction (0 = originator -> responder), TCP flags and payload framing.
APP_RANDOM, APP_SPECIAL, APP_TLS, APP_RTP, APP_QUIC = range(5)
ROLES = {  # name: (direction, tcp flags, framing)
    "syn": (0, 0x02, APP_RANDOM), "synack": (1, 0x12, APP_RANDOM), "ack3": (0, 0x10, APP_RANDOM),
    "client_hello": (0, 0x18, APP_SPECIAL), "server_hello": (1, 0x18, APP_SPECIAL),
    "server_flight": (1, 0x18, APP_TLS), "ack_flight": (0, 0x10, APP_RANDOM),
    "client_finished": (0, 0x18, APP_SPECIAL), "s_data": (1, 0x18, APP_TLS),
    "c_data": (0, 0x18, APP_TLS), "c_ack": (0, 0x10, APP_RANDOM), "fin_c": (0, 0x11, APP_RANDOM),
    "fin_s": (1, 0x11, APP_RANDOM), "last_ack": (0, 0x10, APP_RANDOM),
    "dns_q": (0, 0, APP_SPECIAL), "dns_r": (1, 0, APP_SPECIAL),
    "qi_c": (0, 0, APP_SPECIAL), "qi_s": (1, 0, APP_SPECIAL), "qhs_s": (1, 0, APP_SPECIAL),
    "qi_c2": (0, 0, APP_SPECIAL), "q_c": (0, 0, APP_QUIC), "q_s": (1, 0, APP_QUIC),
    "sip_c": (0, 0, APP_SPECIAL), "sip_s": (1, 0, APP_SPECIAL),
    "rtp_c": (0, 0, APP_RTP), "rtp_s": (1, 0, APP_RTP),
}
R = {name: i for i, name in enumerate(ROLES)}
ROLE_DIR, ROLE_FLAGS, ROLE_APP = (np.array([v[k] for v in ROLES.values()], np.uint8) for k in range(3))
TLS_HEAD = [R[n] for n in ("syn", "synack", "ack3", "client_hello", "server_hello",
                           "server_flight", "ack_flight", "client_finished")]
TLS_TAIL = [R["fin_c"], R["fin_s"], R["last_ack"]]
QUIC_HEAD = [R["qi_c"], R["qi_s"], R["qhs_s"], R["qi_c2"]]
KIND_TLS, KIND_DNS, KIND_QUIC, KIND_SIP, KIND_RTP = range(5)
KIND_NAMES = ["tls", "dns", "quic", "sip", "rtp"]

DOMAINS = """google.com googleapis.com gstatic.com youtube.com microsoft.com office.com office365.com
live.com microsoftonline.com windows.net azureedge.net amazonaws.com cloudfront.net amazon.com
akamaized.net akamaiedge.net fastly.net cloudflare.com apple.com icloud.com zoom.us slack.com
salesforce.com force.com zendesk.com atlassian.net github.com githubusercontent.com okta.com
twilio.com genesys.cloud five9.com nice-incontact.com talkdesk.com hubspot.com intercom.io
sentry.io datadoghq.eu datadoghq.com newrelic.com segment.io mixpanel.com hotjar.com
doubleclick.net facebook.com fbcdn.net linkedin.com licdn.com dropbox.com box.com
docusign.net adobe.com typekit.net jsdelivr.net unpkg.com stripe.com paypal.com
teams.microsoft.com webex.com ringcentral.com vonage.com 8x8.com sap.com oraclecloud.com""".split()
PREFIXES = """www api cdn static login auth eu us events telemetry media upload files app
portal assets img mail graph s3 edge gateway ws push sync update config metrics logs chat
voice video rtc signal id accounts status docs data""".split()
PUBLIC_V4_FIRST = [3, 13, 18, 20, 23, 31, 34, 35, 40, 46, 51, 52, 54, 63, 64, 66, 74, 77,
                   91, 104, 108, 130, 142, 151, 157, 162, 185, 199, 204, 216]
PUBLIC_V6_PREFIX = [0x2A001450, 0x26064700, 0x26001F18, 0x262001EC, 0x2A010111, 0x2A032880,
                    0x24048000, 0x2A0226F0]
OUIS = [0x001C23, 0x3C5282, 0xF8BC12, 0x00155D, 0x7085C2, 0xD4BED9, 0x805EC0, 0x001565]


# ------------------------------------------------------------------------------- helpers
def group_cumsum(values: np.ndarray, group_start: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """Cumulative sum restarting at each group (rows contiguous per group, group_start per row)."""
    c = np.cumsum(values, dtype=np.int64)
    before = c - values
    out = c if inclusive else before
    return out - before[group_start]


def allocate(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split `total` into integer parts proportional to `weights` (largest remainder)."""
    total -= minimum * len(weights)
    share = weights / weights.sum() * total
    parts = np.floor(share).astype(np.int64)
    parts[np.argsort(parts - share, kind="stable")[: total - parts.sum()]] += 1
    return parts + minimum


def scatter(buf: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> None:
    """Copy each structured row's bytes into buf at its offset."""
    raw = rows.view(np.uint8).reshape(len(rows), rows.dtype.itemsize)
    buf[offsets[:, None] + np.arange(rows.dtype.itemsize)] = raw


class WordSums:
    """Ones'-complement sums of any byte range of a buffer from one prefix sum of its
    big-endian 16-bit words. A range starting at an odd offset is read one byte early, which
    swaps its bytes; x256 modulo 0xFFFF swaps them back (RFC 1071, byte order independence).
    The uint32 prefix wraps, but differences stay exact for ranges under 128 KiB."""

    def __init__(self, buf: np.ndarray):
        self.buf = buf  # one spare byte past the end when its length is odd
        self.prefix = np.zeros(len(buf) // 2 + 1, np.uint32)
        np.cumsum(buf[: len(buf) // 2 * 2].view(">u2"), dtype=np.uint32, out=self.prefix[1:])

    def __call__(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Sum (congruent modulo 0xFFFF, unfolded) of each buf[start:end], odd tail zero-padded."""
        odd_start, odd_end = (starts & 1) == 1, (ends & 1) == 1
        first, last = starts // 2, (ends + odd_start) // 2
        sums = (self.prefix[last] - self.prefix[first]).astype(np.uint64)
        even = ~odd_start
        sums[even & odd_end] += self.buf[ends[even & odd_end] - 1].astype(np.uint64) << 8
        sums[odd_start] -= self.buf[starts[odd_start] - 1].astype(np.uint64) << 8
        spill = odd_start & odd_end
        sums[spill] -= self.buf[ends[spill]]
        sums[odd_start] <<= 8
        return sums


def fold(total: np.ndarray) -> np.ndarray:
    for _ in range(3):
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF).astype(np.uint16)


# --------------------------------------------------------------------- payload builders
def varint(v: int) -> bytes:
    for size, tag in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if v < 1 << (8 * size - 2):
            return (v | tag << (8 * size - 8)).to_bytes(size, "big")
    raise ValueError(v)


def tls_ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def u16_list(values, prefix="!H") -> bytes:
    return struct.pack(prefix, 2 * len(values)) + b"".join(struct.pack("!H", v) for v in values)


def client_hello(rand: bytes, sni: str, quic_params: bytes | None = None) -> bytes:
    """A Chrome-like TLS 1.3 ClientHello handshake message (without the record header)."""
    name = sni.encode()
    alpn = [b"h3"] if quic_params is not None else [b"h2", b"http/1.1"]
    alpn_body = b"".join(bytes([len(p)]) + p for p in alpn)
    exts = [
        tls_ext(0x0000, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name),
        tls_ext(0x0017, b""), tls_ext(0xFF01, b"\x00"),
        tls_ext(0x000A, u16_list([0x001D, 0x0017, 0x0018])), tls_ext(0x000B, b"\x01\x00"),
        tls_ext(0x0023, b""), tls_ext(0x0010, struct.pack("!H", len(alpn_body)) + alpn_body),
        tls_ext(0x0005, b"\x01\x00\x00\x00\x00"),
        tls_ext(0x000D, u16_list([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601])),
        tls_ext(0x0012, b""), tls_ext(0x0033, struct.pack("!HHH", 36, 0x001D, 32) + rand[32:64]),
        tls_ext(0x002D, b"\x01\x01"), tls_ext(0x002B, b"\x04\x03\x04\x03\x03"),
        tls_ext(0x001B, b"\x02\x00\x02"),
    ]
    if quic_params is not None:
        exts.append(tls_ext(0x0039, quic_params))
        ciphers, session = [0x1301, 0x1302, 0x1303], b""
    else:
        ciphers = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8,
                   0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
        session = rand[64:96]
    ext = b"".join(exts)
    body = (b"\x03\x03" + rand[:32] + bytes([len(session)]) + session + u16_list(ciphers)
            + b"\x01\x00" + struct.pack("!H", len(ext)) + ext)
    return b"\x01" + len(body).to_bytes(3, "big") + body


def server_hello(rand: bytes, session: bytes) -> bytes:
    ext = tls_ext(0x002B, b"\x03\x04") + tls_ext(0x0033, struct.pack("!HH", 0x001D, 32) + rand[32:64])
    body = (b"\x03\x03" + rand[:32] + bytes([len(session)]) + session + b"\x13\x01\x00"
            + struct.pack("!H", len(ext)) + ext)
    return b"\x02" + len(body).to_bytes(3, "big") + body


def tls_record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


QUIC_V1_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")


def hkdf_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(secret, block + info + bytes([i]), "sha256")
        out, i = out + block, i + 1
    return out[:length]


def quic_initial_keys(dcid: bytes, side: bytes):
    secret = hkdf_label(hmac.digest(QUIC_V1_SALT, dcid, "sha256"), side + b" in", 32)
    return (AESGCM(hkdf_label(secret, b"quic key", 16)), hkdf_label(secret, b"quic iv", 12),
            Cipher(algorithms.AES(hkdf_label(secret, b"quic hp", 16)), modes.ECB()))


def quic_long(ptype: int, dcid: bytes, scid: bytes, pn: int, frames: bytes, keys, noise: bytes,
              size: int | None = None) -> bytes:
    """One QUIC v1 long-header packet; protected with `keys`, or random bytes when None."""
    pn_len = 2
    head = (bytes([0xC0 | ptype << 4 | (pn_len - 1)]) + b"\x00\x00\x00\x01"
            + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid + (b"\x00" if ptype == 0 else b""))
    if size is not None:  # PADDING frames up to the requested packet size
        frames += b"\x00" * max(0, size - (len(head) + 2 + pn_len + len(frames) + 16))
    head += struct.pack("!H", 0x4000 | (pn_len + len(frames) + 16))
    pn_bytes = pn.to_bytes(pn_len, "big")
    if keys is None:
        return bytes([0xC0 | ptype << 4 | noise[0] & 0x0F]) + head[1:] + noise[1:pn_len + len(frames) + 17]
    aead, iv, hp = keys
    nonce = iv[:4] + (int.from_bytes(iv[4:], "big") ^ pn).to_bytes(8, "big")
    sealed = aead.encrypt(nonce, frames, head + pn_bytes)
    mask = hp.encryptor().update(sealed[4 - pn_len: 20 - pn_len])
    protected_pn = bytes(b ^ m for b, m in zip(pn_bytes, mask[1:]))
    return bytes([head[0] ^ (mask[0] & 0x0F)]) + head[1:] + protected_pn + sealed


def quic_params(scid: bytes) -> bytes:
    params = [(0x01, varint(30000)), (0x04, varint(15728640)), (0x05, varint(6291456)),
              (0x06, varint(6291456)), (0x07, varint(6291456)), (0x08, varint(100)),
              (0x09, varint(103)), (0x0F, scid)]
    return b"".join(varint(k) + varint(len(v)) + v for k, v in params)


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def dns_pair(qid: int, name: str, v6: bool, cname: str | None, addr: bytes) -> tuple[bytes, bytes]:
    qtype = 28 if v6 else 1
    question = dns_name(name) + struct.pack("!HH", qtype, 1)
    edns = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    query = struct.pack("!6H", qid, 0x0120, 1, 0, 0, 1) + question + edns
    answers, target = b"", 12  # a pointer to the question name
    if cname:
        rdata = dns_name(cname)
        answers += struct.pack("!HHHIH", 0xC000 | 12, 5, 1, 300, len(rdata)) + rdata
        target = 12 + len(question) + 12
    answers += struct.pack("!HHHIH", 0xC000 | target, qtype, 1, 60, len(addr)) + addr
    response = (struct.pack("!6H", qid, 0x8180, 1, 1 + bool(cname), 0, 1)
                + question + answers + edns)
    return query, response


def sip_message(first_line: str, headers: list[tuple[str, str]], body: str = "") -> bytes:
    lines = [first_line] + [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def sdp(ip: str, port: int, session: int, codecs: str) -> str:
    rtpmap = {"0": "a=rtpmap:0 PCMU/8000", "8": "a=rtpmap:8 PCMA/8000",
              "101": "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16"}
    return "\r\n".join([
        "v=0", f"o=- {session} {session} IN IP4 {ip}", "s=-", f"c=IN IP4 {ip}", "t=0 0",
        f"m=audio {port} RTP/AVP {codecs}", *(rtpmap[c] for c in codecs.split()),
        "a=ptime:20", "a=sendrecv"]) + "\r\n"


def ip4_str(a: int) -> str:
    return ".".join(str(a >> s & 255) for s in (24, 16, 8, 0))


# ------------------------------------------------------------------------- the flow set
def make_flows(seed: int, n_flows: int) -> tuple[dict, dict]:
    """Hosts, servers and every flow. Depends on seed and n_flows only (never on packets)."""
    rng = np.random.default_rng([seed, 0xF10])
    n_calls = max(1, n_flows // 200)
    n_tls, n_quic = round(n_flows * 0.53), round(n_flows * 0.13)
    n_dns_max = n_flows - n_tls - n_quic - 2 * n_calls
    n_clients, n_phones, n_servers = max(4, n_flows // 50), max(2, n_flows // 700), max(8, n_flows * 3 // 40)

    # hosts: desktop clients on 10.20/16 + fd00:20::/56, desk phones on 10.30/16; 10% tagged
    n_hosts = n_clients + n_phones
    idx = np.arange(n_hosts)
    ip4 = np.where(idx < n_clients, (10 << 24 | 20 << 16) + ((idx // 250 + 1) << 8) + idx % 250 + 10,
                   (10 << 24 | 30 << 16) + idx - n_clients + 10).astype(np.uint32)
    ip6 = np.zeros((n_hosts, 16), np.uint8)
    ip6[:, :8] = np.frombuffer(bytes.fromhex("fd00002000000001"), np.uint8)
    ip6[:, 7] = idx // 250 + 1
    ip6[:, 8:] = rng.integers(0, 256, (n_hosts, 8), dtype=np.uint8)
    hosts = {
        "ip4": ip4, "ip6": ip6,
        "mac": (np.array(OUIS, np.uint64)[rng.integers(0, len(OUIS), n_hosts)] << np.uint64(24))
        | rng.integers(0, 1 << 24, n_hosts).astype(np.uint64),
        "tci": np.concatenate([np.where(rng.permutation(n_clients) < n_clients // 10, 130, 0),
                               np.where(rng.permutation(n_phones) < max(1, n_phones // 10), 5 << 13 | 300, 0)]
                              ).astype(np.uint16),
        "port_base": rng.integers(32768, 59000, n_hosts),
        "rtp_base": rng.integers(8192, 12000, n_hosts) * 2,
    }

    # servers: a name, one IPv4 and one IPv6 address, sometimes behind a CDN CNAME
    combos = np.array([f"{p}.{d}" for p in PREFIXES for d in DOMAINS])
    names = list(combos[rng.choice(len(combos), size=min(n_servers, len(combos)), replace=False)])
    n_servers = len(names)
    s_ip4 = (np.array(PUBLIC_V4_FIRST, np.uint32)[rng.integers(0, len(PUBLIC_V4_FIRST), n_servers)] << 24
             | rng.integers(0, 1 << 24, n_servers).astype(np.uint32))
    s_ip6 = np.zeros((n_servers, 16), np.uint8)
    s_ip6[:, :4] = np.array(PUBLIC_V6_PREFIX, ">u4")[rng.integers(0, len(PUBLIC_V6_PREFIX), n_servers)] \
        .view(np.uint8).reshape(-1, 4)
    s_ip6[:, 4:] = rng.integers(0, 256, (n_servers, 12), dtype=np.uint8)
    s_ip6[:, 8:14] = 0  # ::xxxx-style interface ids, as most servers use
    cdn = ["edgekey.net", "cloudfront.net", "akamaiedge.net", "azureedge.net", "trafficmanager.net"]
    cnames = [f"{n.split('.')[0]}-{i}.{cdn[i % len(cdn)]}" if rng.random() < 0.3 else None
              for i, n in enumerate(names)]
    popularity = 1.0 / np.arange(1, n_servers + 1) ** 0.9
    popularity = popularity[rng.permutation(n_servers)] / popularity.sum()
    servers = {"names": names, "cnames": cnames, "ip4": s_ip4, "ip6": s_ip6,
               "ttl": rng.integers(44, 120, n_servers).astype(np.uint8)}

    def web_flows(n: int, kind: int, sigma: float) -> dict:
        return {"kind": np.full(n, kind), "host": rng.integers(0, n_clients, n),
                "server": rng.choice(n_servers, size=n, p=popularity), "v6": rng.random(n) < 0.1,
                "u": rng.random(n), "weight": rng.lognormal(0, sigma, n)}

    tls, quic = web_flows(n_tls, KIND_TLS, 1.4), web_flows(n_quic, KIND_QUIC, 1.2)
    web = {k: np.concatenate([tls[k], quic[k]]) for k in tls}
    # a DNS lookup before the first connection of a client to a name (later ones hit the cache)
    order = np.argsort(web["u"], kind="stable")
    key = (web["host"] * n_servers + web["server"]) * 2 + web["v6"]
    _, first = np.unique(key[order], return_index=True)
    targets = np.sort(order[first][rng.permutation(len(first))[:n_dns_max]])
    n_dns = len(targets)
    dns = {"kind": np.full(n_dns, KIND_DNS), "host": web["host"][targets],
           "server": web["server"][targets], "v6": web["v6"][targets], "u": web["u"][targets],
           "weight": np.ones(n_dns), "target": targets}
    calls = {"kind": np.repeat([[KIND_SIP, KIND_RTP]], n_calls, 0).ravel(),
             "host": np.repeat(n_clients + rng.integers(0, n_phones, n_calls), 2),
             "server": np.full(2 * n_calls, -1), "v6": np.zeros(2 * n_calls, bool),
             "u": np.repeat(rng.random(n_calls) * 0.95, 2),
             "weight": np.repeat(rng.lognormal(0, 0.6, n_calls), 2)}
    parts = [web, dns, calls]
    F = {k: np.concatenate([p.get(k, np.full(len(p["kind"]), -1)) for p in parts])
         for k in ("kind", "host", "server", "v6", "u", "weight", "target")}
    n = len(F["kind"])
    kind, host, server, v6 = F["kind"], F["host"], F["server"], F["v6"]
    F["proto"] = np.where(kind == KIND_TLS, 6, 17).astype(np.uint8)

    # ports: one ephemeral counter per host, in order of first use; RTP from an even range
    F["c_port"] = np.zeros(n, np.int64)
    for is_rtp in (False, True):
        sel = np.nonzero((kind == KIND_RTP) == is_rtp)[0]
        sel = sel[np.lexsort((F["u"][sel], host[sel]))]
        rank = np.arange(len(sel)) - np.searchsorted(host[sel], host[sel])
        F["c_port"][sel] = (hosts["rtp_base"][host[sel]] + 2 * rank if is_rtp
                            else hosts["port_base"][host[sel]] + rank)
    F["s_port"] = np.select([kind == KIND_DNS, kind == KIND_SIP, kind == KIND_RTP], [53, 5060, 0], 443)
    F["s_port"][kind == KIND_RTP] = rng.integers(5000, 10000, n_calls) * 2

    voice_net = (185 << 24) + (int(rng.integers(0, 1 << 16)) << 8)  # the contact-centre provider
    proxy, media = voice_net + 10, voice_net + 64
    web_sel = server >= 0
    F["s_ip4"] = np.zeros(n, np.uint32)
    F["s_ip4"][web_sel] = s_ip4[server[web_sel]]
    F["s_ip4"][kind == KIND_DNS] = 10 << 24 | 20 << 16 | 53
    F["s_ip4"][kind == KIND_SIP], F["s_ip4"][kind == KIND_RTP] = proxy, media
    F["s_ip6"] = np.zeros((n, 16), np.uint8)
    F["s_ip6"][web_sel] = s_ip6[server[web_sel]]
    F["s_ip6"][kind == KIND_DNS] = np.frombuffer(bytes.fromhex("fd000020" + "0" * 22 + "53"), np.uint8)
    F["s_ttl"] = np.where(web_sel, servers["ttl"][np.maximum(server, 0)], 64).astype(np.uint8)
    F["s_ttl"][kind == KIND_DNS] = 64
    F["s_ttl"][kind >= KIND_SIP] = 57
    F["c_ip4"], F["c_ip6"], F["c_mac"], F["tci"] = (hosts[k][host] for k in ("ip4", "ip6", "mac", "tci"))
    F["tos"] = np.select([kind == KIND_RTP, kind == KIND_SIP], [0xB8, 0x68], 0).astype(np.uint8)
    F["rtt"] = np.clip(rng.lognormal(np.log(25 * MS), 0.8, n), 2 * MS, 400 * MS).astype(np.int64)
    F["rtt"][kind == KIND_DNS] = rng.integers(500, 30 * MS, (kind == KIND_DNS).sum())
    F["mss"] = np.where(v6, 1428, 1448)
    for col, hi in (("isn", 1 << 32), ("ipid", 1 << 16), ("flowlabel", 1 << 20), ("tsbase", 1 << 31),
                    ("ssrc", 1 << 32), ("rtp_seq0", 1 << 16), ("rtp_ts0", 1 << 31)):
        F[col] = rng.integers(0, hi, (n, 2), dtype=np.int64)
    F["win"] = rng.integers(400, 3000, (n, 2))
    F["cid"] = rng.integers(0, 256, (n, 3, 8), dtype=np.uint8)  # QUIC: initial DCID, client, server
    return F, {"hosts": hosts, "servers": servers, "n_calls": n_calls}


# ------------------------------------------------------------------------ packet planning
def expand(flow_ids: np.ndarray, head: list[int], n_var: np.ndarray, tail: list[int]):
    """Rows for flows laid out head roles, n_var open slots (role -1), tail roles."""
    per = len(head) + n_var + len(tail)
    flow = np.repeat(flow_ids, per)
    first = np.repeat(np.cumsum(per) - per, per)
    pos = np.arange(len(flow)) - first
    nv = np.repeat(n_var, per)
    role = np.full(len(flow), -1, np.int64)
    in_head, in_tail = pos < len(head), pos >= len(head) + nv
    role[in_head] = np.asarray(head)[pos[in_head]]
    if tail:
        role[in_tail] = np.asarray(tail)[(pos - len(head) - nv)[in_tail]]
    return flow, role, first


class Planner:
    """Every packet of the capture as columns: flow, role, time, payload length, TCP seq/ack,
    special payload index, RTP seq/timestamp. Specials are the payloads built in Python."""

    def __init__(self, F: dict, world: dict, n_packets: int, seed: int):
        self.F, self.world, self.specials = F, world, []
        self.rng = np.random.default_rng([seed, 0x9AC, n_packets])
        self.noise = self.rng.bytes(1 << 20)
        self.names = world["servers"]["names"]
        self.ids = {k: np.nonzero(F["kind"] == k)[0] for k in range(5)}
        span = max(60.0, 300.0 * n_packets / 1e6) * SEC  # ~3,300 packets/s whatever the size
        self.span = span
        self.start = np.zeros(len(F["kind"]), np.int64)  # set per kind once durations are known
        n = {k: len(v) for k, v in self.ids.items()}
        variable = n_packets - (11 * n[KIND_TLS] + 4 * n[KIND_QUIC] + 2 * n[KIND_DNS] + 7 * n[KIND_SIP])
        self.rtp_n = allocate(int(variable * 0.3), F["weight"][self.ids[KIND_RTP]], minimum=100)
        self.keepalives = np.maximum(0, ((self.rtp_n + 1) // 2 * 20 * MS - SEC) // (25 * SEC))
        rest = variable - self.rtp_n.sum() - 2 * self.keepalives.sum()
        if rest < 4 * (n[KIND_TLS] + n[KIND_QUIC]):
            raise ValueError(f"{n_packets} packets are too few for {len(F['kind'])} flows")
        self.tls_var = allocate(int(rest * 0.7), F["weight"][self.ids[KIND_TLS]], minimum=2)
        self.quic_var = allocate(rest - self.tls_var.sum(), F["weight"][self.ids[KIND_QUIC]], minimum=2)

    # -- small tools
    def noise_bytes(self, k: int) -> bytes:
        o = int(self.rng.integers(0, len(self.noise) - k))
        return self.noise[o:o + k]

    def uniform(self, lo, hi, k=None):
        return self.rng.integers(lo, hi, k)

    def data_gaps(self, pause: np.ndarray) -> np.ndarray:
        """Mostly back-to-back segments, now and then (chance `pause`) a wait for the user."""
        k = len(pause)
        gaps = self.rng.exponential(3 * MS, k)
        think = self.rng.random(k) < pause
        gaps[think] = self.rng.uniform(0.3 * SEC, 8 * SEC, think.sum())
        return gaps.astype(np.int64) + 1

    def attach(self, cols: dict, role_name: str, payloads: list[bytes]) -> None:
        m = cols["role"] == R[role_name]
        cols["special"][m] = len(self.specials) + np.arange(m.sum())
        cols["plen"][m] = [len(p) for p in payloads]
        self.specials.extend(payloads)

    def place(self, flows: np.ndarray, durations: np.ndarray) -> None:
        """Start each flow at a random time that lets it end inside the capture window."""
        room = np.maximum(0, self.span - durations)
        self.start[flows] = (0.2 * SEC + self.F["u"][flows] * room).astype(np.int64)

    def columns(self, flow, role, first=None, gaps=None, t=None) -> dict:
        n = len(flow)
        if t is None:
            t = group_cumsum(gaps, first)
            last = np.r_[first[1:] != first[:-1], True]
            self.place(flow[last], t[last])
            t += self.start[flow]
        return {"flow": flow, "role": role, "t": t, "plen": np.zeros(n, np.int64),
                "seq": np.zeros(n, np.int64), "ack": np.zeros(n, np.int64),
                "special": np.full(n, -1, np.int64), "rtp_seq": np.zeros(n, np.int64),
                "rtp_ts": np.zeros(n, np.int64)}

    def by_role(self, role: np.ndarray, out: np.ndarray, rules: dict) -> None:
        for name, rule in rules.items():
            m = role == R[name]
            out[m] = rule(m)

    # -- TLS over TCP
    def tls(self) -> dict:
        F, rng, ids = self.F, self.rng, self.ids[KIND_TLS]
        flow, role, first = expand(ids, TLS_HEAD, self.tls_var, TLS_TAIL)
        var = role < 0
        role[var] = rng.choice([R["s_data"], R["c_ack"], R["c_data"]], var.sum(), p=[0.55, 0.3, 0.15])
        lone_ack = (role == R["c_ack"]) & (np.roll(role, 1) != R["s_data"])  # ACK only new data
        role[lone_ack] = R["s_data"]
        rtt, mss = F["rtt"][flow], F["mss"][flow]
        pause = np.minimum(0.03, 20 / np.repeat(self.tls_var, self.tls_var + 11))  # ~20 pauses at most
        gaps = np.zeros(len(flow), np.int64)
        U = self.uniform
        self.by_role(role, gaps, {
            "synack": lambda m: rtt[m], "ack3": lambda m: U(60, 400, m.sum()),
            "client_hello": lambda m: U(100, 1500, m.sum()),
            "server_hello": lambda m: rtt[m] + U(500, 15 * MS, m.sum()),
            "server_flight": lambda m: U(20, 400, m.sum()), "ack_flight": lambda m: U(40, 300, m.sum()),
            "client_finished": lambda m: U(500, 8 * MS, m.sum()),
            "s_data": lambda m: self.data_gaps(pause[m]), "c_data": lambda m: self.data_gaps(pause[m]),
            "c_ack": lambda m: self.data_gaps(pause[m]), "fin_c": lambda m: U(MS, 3 * SEC, m.sum()),
            "fin_s": lambda m: rtt[m], "last_ack": lambda m: U(40, 300, m.sum())})
        cols = self.columns(flow, role, first, gaps)
        plen = cols["plen"]
        self.by_role(role, plen, {
            "s_data": lambda m: np.where(rng.random(m.sum()) < 0.75, mss[m], U(40, mss[m])),
            "c_data": lambda m: np.where(rng.random(m.sum()) < 0.93, U(40, 700, m.sum()), mss[m]),
            "server_flight": lambda m: U(600, mss[m])})
        hellos, answers, finished = [], [], []
        randoms = rng.bytes(160 * len(ids))
        sh_sizes = U(1100, F["mss"][ids])
        for i, f in enumerate(ids):
            r = randoms[160 * i:160 * i + 160]
            hellos.append(tls_record(0x16, client_hello(r[:96], self.names[F["server"][f]]), 0x0301))
            head = tls_record(0x16, server_hello(r[96:], r[64:96])) + b"\x14\x03\x03\x00\x01\x01"
            answers.append(head + tls_record(0x17, self.noise_bytes(int(sh_sizes[i]) - len(head) - 5)))
            finished.append(b"\x14\x03\x03\x00\x01\x01" + tls_record(0x17, self.noise_bytes(53)))
        self.attach(cols, "client_hello", hellos)
        self.attach(cols, "server_hello", answers)
        self.attach(cols, "client_finished", finished)
        # sequence numbers: SYN and FIN take one each; ACK what the peer has sent so far
        d, flags = ROLE_DIR[role], ROLE_FLAGS[role]
        used = plen + (flags >> 1 & 1) + (flags & 1)
        sent = [group_cumsum(used * (d == k), first, inclusive=False) for k in (0, 1)]
        upto = [group_cumsum(used * (d == k), first) for k in (0, 1)]
        isn = F["isn"][flow]
        cols["seq"] = np.where(d == 0, isn[:, 0] + sent[0], isn[:, 1] + sent[1]) & 0xFFFFFFFF
        ack = np.where(d == 0, isn[:, 1] + upto[1], isn[:, 0] + upto[0]) & 0xFFFFFFFF
        cols["ack"] = np.where(flags & 0x10, ack, 0)
        return cols

    # -- QUIC on UDP 443
    def quic(self) -> dict:
        F, rng, ids, U = self.F, self.rng, self.ids[KIND_QUIC], self.uniform
        flow, role, first = expand(ids, QUIC_HEAD, self.quic_var, [])
        var = role < 0
        role[var] = rng.choice([R["q_s"], R["q_c"]], var.sum(), p=[0.6, 0.4])
        rtt = F["rtt"][flow]
        pause = np.minimum(0.03, 20 / np.repeat(self.quic_var, self.quic_var + 4))
        gaps = np.zeros(len(flow), np.int64)
        self.by_role(role, gaps, {
            "qi_s": lambda m: rtt[m] + U(500, 5 * MS, m.sum()), "qhs_s": lambda m: U(20, 300, m.sum()),
            "qi_c2": lambda m: U(300, 3 * MS, m.sum()),
            "q_s": lambda m: self.data_gaps(pause[m]), "q_c": lambda m: self.data_gaps(pause[m])})
        cols = self.columns(flow, role, first, gaps)
        self.by_role(role, cols["plen"], {
            "q_s": lambda m: np.where(rng.random(m.sum()) < 0.7, U(1200, 1351, m.sum()), U(30, 1200, m.sum())),
            "q_c": lambda m: np.where(rng.random(m.sum()) < 0.85, U(30, 61, m.sum()), U(60, 601, m.sum()))})
        ack0 = b"\x02\x00\x00\x00\x00"
        packets = {"qi_c": [], "qi_s": [], "qhs_s": [], "qi_c2": []}
        randoms = rng.bytes(160 * len(ids))
        for i, f in enumerate(ids):
            r = randoms[160 * i:160 * i + 160]
            dcid, c_cid, s_cid = (bytes(c) for c in F["cid"][f])
            client, server = quic_initial_keys(dcid, b"client"), quic_initial_keys(dcid, b"server")
            ch = client_hello(r[:96], self.names[F["server"][f]], quic_params(c_cid))
            packets["qi_c"].append(quic_long(0, dcid, c_cid, 0, b"\x06\x00" + varint(len(ch)) + ch,
                                             client, b"", size=1250))
            sh = server_hello(r[96:], b"")
            s_init = quic_long(0, c_cid, s_cid, 0, ack0 + b"\x06\x00" + varint(len(sh)) + sh, server, b"")
            packets["qi_s"].append(s_init + quic_long(2, c_cid, s_cid, 0, b"", None, self.noise_bytes(1400),
                                                      size=1200 - len(s_init)))
            packets["qhs_s"].append(quic_long(2, c_cid, s_cid, 1, b"", None, self.noise_bytes(1400),
                                              size=int(U(700, 1200, 1)[0])))
            c_hs = quic_long(2, s_cid, c_cid, 0, b"", None, self.noise_bytes(200), size=int(U(70, 110, 1)[0]))
            packets["qi_c2"].append(quic_long(0, s_cid, c_cid, 1, ack0, client, b"", size=1200 - len(c_hs)) + c_hs)
        for name, payloads in packets.items():
            self.attach(cols, name, payloads)
        return cols

    # -- DNS over UDP, just before the connection that needed it
    def dns(self) -> dict:
        F, ids, servers = self.F, self.ids[KIND_DNS], self.world["servers"]
        flow = np.repeat(ids, 2)
        role = np.tile([R["dns_q"], R["dns_r"]], len(ids))
        answered = self.start[F["target"][ids]] - self.uniform(2 * MS, 20 * MS, len(ids))
        t = np.stack([answered - F["rtt"][ids], answered], 1).ravel()
        cols = self.columns(flow, role, t=t)
        queries, responses = [], []
        qids = self.uniform(0, 1 << 16, len(ids))
        for i, f in enumerate(ids):
            s = F["server"][f]
            addr = bytes(servers["ip6"][s]) if F["v6"][f] else int(servers["ip4"][s]).to_bytes(4, "big")
            q, a = dns_pair(int(qids[i]), self.names[s], bool(F["v6"][f]), servers["cnames"][s], addr)
            queries.append(q)
            responses.append(a)
        self.attach(cols, "dns_q", queries)
        self.attach(cols, "dns_r", responses)
        return cols

    # -- SIP calls and their RTP
    def calls(self) -> list[dict]:
        F, U = self.F, self.uniform
        sip_ids, rtp_ids = self.ids[KIND_SIP], self.ids[KIND_RTP]
        rtp_counts = [(self.rtp_n + 1) // 2, self.rtp_n // 2]  # phone -> media, media -> phone
        rtp_start = np.zeros((len(sip_ids), 2), np.int64)
        for ids in (sip_ids, rtp_ids):
            self.place(ids, 10 * SEC + rtp_counts[0] * 20 * MS)
        rows: list[tuple[int, int, int, bytes]] = []  # flow, role, time, payload
        domain = "sip.cc-provider.net"
        for i, (f, g) in enumerate(zip(sip_ids, rtp_ids)):
            phone, proxy, media = (ip4_str(int(x)) for x in (F["c_ip4"][f], F["s_ip4"][f], F["s_ip4"][g]))
            port, rtt = int(F["c_port"][f]), int(F["rtt"][f])
            user, callee = f"agent{int(F['host'][f]):04d}", f"+4930{int(U(1000000, 9999999, 1)[0])}"
            call_id, tag_c, tag_s = (self.noise_bytes(8).hex() for _ in range(3))
            via = lambda: f"SIP/2.0/UDP {phone}:{port};rport;branch=z9hG4bK{self.noise_bytes(6).hex()}"
            dialog = [("From", f'"Agent {user[5:]}" <sip:{user}@{domain}>;tag={tag_c}'),
                      ("To", f"<sip:{callee}@{domain}>"), ("Call-ID", f"{call_id}@{phone}")]
            answered = dialog[:1] + [("To", f"<sip:{callee}@{domain}>;tag={tag_s}"), dialog[2]]
            contact = ("Contact", f"<sip:{user}@{phone}:{port}>")
            invite_via = via()
            t = int(self.start[f])

            def send(direction: int, gap: int, message: bytes):
                nonlocal t
                t += gap
                rows.append((f, R["sip_s" if direction else "sip_c"], t, message))

            send(0, 0, sip_message(f"INVITE sip:{callee}@{domain} SIP/2.0", [
                ("Via", invite_via), ("Max-Forwards", "70"), *dialog, ("CSeq", "1 INVITE"), contact,
                ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, UPDATE"),
                ("User-Agent", "Yealink SIP-T46U 108.86.0.45")],
                sdp(phone, int(F["c_port"][g]), int(U(1, 1 << 31, 1)[0]), "0 8 101")))
            reply = [("Via", invite_via + f";received={phone}"), *dialog, ("CSeq", "1 INVITE")]
            send(1, rtt, sip_message("SIP/2.0 100 Trying", reply))
            reply[1:4] = answered
            send(1, int(U(50 * MS, 300 * MS, 1)[0]), sip_message("SIP/2.0 180 Ringing", reply))
            send(1, int(U(2 * SEC, 9 * SEC, 1)[0]), sip_message("SIP/2.0 200 OK", reply + [
                ("Contact", f"<sip:{callee}@{proxy}:5060>"), ("Server", "cc-sbc 4.2")],
                sdp(media, int(F["s_port"][g]), int(U(1, 1 << 31, 1)[0]), "0 101")))
            rtp_start[i] = t + U(10 * MS, 60 * MS, 2)
            send(0, int(U(500, 5 * MS, 1)[0]), sip_message(f"ACK sip:{callee}@{proxy}:5060 SIP/2.0", [
                ("Via", via()), ("Max-Forwards", "70"), *answered, ("CSeq", "1 ACK")]))
            acked = t
            for k in range(int(self.keepalives[i])):  # NAT keep-alives while the call runs
                t = acked + (k + 1) * 25 * SEC
                ping = [("Via", via()), ("Max-Forwards", "70"), dialog[0], ("To", f"<sip:{domain}>"),
                        ("Call-ID", f"{self.noise_bytes(8).hex()}@{phone}"), ("CSeq", f"{k + 1} OPTIONS")]
                send(0, 0, sip_message(f"OPTIONS sip:{domain} SIP/2.0", ping))
                ping[0] = ("Via", ping[0][1] + f";received={phone}")
                send(1, rtt, sip_message("SIP/2.0 200 OK", ping[:1] + ping[2:]))
            t = int(rtp_start[i].max() + rtp_counts[0][i] * 20 * MS)
            bye = [("Via", via()), ("Max-Forwards", "70"), *answered, ("CSeq", "2 BYE")]
            send(0, int(U(5 * MS, 50 * MS, 1)[0]), sip_message(f"BYE sip:{callee}@{proxy}:5060 SIP/2.0", bye))
            send(1, rtt, sip_message("SIP/2.0 200 OK", bye[:1] + bye[2:]))
        flow, role, t = (np.array([r[k] for r in rows], np.int64) for k in range(3))
        sip = self.columns(flow, role, t=t)
        sip["special"] = len(self.specials) + np.arange(len(rows))
        sip["plen"] = np.array([len(r[3]) for r in rows], np.int64)
        self.specials.extend(r[3] for r in rows)

        parts = [sip]
        for direction, counts in enumerate(rtp_counts):  # 20 ms G.711 frames, steady SSRC
            flow = np.repeat(rtp_ids, counts)
            first = np.repeat(np.cumsum(counts) - counts, counts)
            k = np.arange(len(flow)) - first
            jitter = U(-200, 200, len(flow)) if direction == 0 else U(-3 * MS, 3 * MS, len(flow))
            t = np.repeat(rtp_start[:, direction], counts) + k * 20 * MS + jitter
            cols = self.columns(flow, np.full(len(flow), R["rtp_s" if direction else "rtp_c"]), t=t)
            cols["plen"][:] = 12 + 160
            cols["rtp_seq"] = (F["rtp_seq0"][flow, direction] + k) & 0xFFFF
            cols["rtp_ts"] = (F["rtp_ts0"][flow, direction] + 160 * k) & 0xFFFFFFFF
            parts.append(cols)
        return parts

    def packets(self) -> dict:
        """All packets in capture order, strictly increasing timestamps."""
        parts = [self.tls(), self.quic(), self.dns(), *self.calls()]
        P = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.argsort(P["t"], kind="stable")
        P = {k: v[order] for k, v in P.items()}
        t = P["t"] - P["t"][0] - np.arange(len(order))
        P["t"] = np.maximum.accumulate(t) + np.arange(len(order))
        # per flow and direction packet counter (IPv4 identification)
        key = P["flow"] * 2 + ROLE_DIR[P["role"]]
        by_key = np.argsort(key, kind="stable")
        sorted_key = key[by_key]
        rank = np.empty(len(key), np.int64)
        rank[by_key] = np.arange(len(key)) - np.searchsorted(sorted_key, sorted_key)
        P["rank"] = rank
        P["flow"] = P["flow"].astype(np.int32)
        return P


# ------------------------------------------------------------------------------- writing
def header_rows(F: dict, P: dict, m: np.ndarray, tagged: bool, v6: bool, l4: str) -> np.ndarray:
    """Ethernet [+ 802.1Q] + IPv4/IPv6 + TCP/UDP headers, one structured row per packet."""
    opts = {"syn": TCP + TCP_SYN_OPTS, "tcp": TCP + TCP_OPTS, "udp": UDP}[l4]
    rows = np.zeros(m.sum(), ETH + (VLAN if tagged else []) + ETYPE + (IP6 if v6 else IP4) + opts)
    f, role, t, plen = P["flow"][m], P["role"][m], P["t"][m], P["plen"][m]
    d = ROLE_DIR[role].astype(np.int64)
    back = d == 1
    src_mac = np.where(back, GATEWAY_MAC, F["c_mac"][f])
    dst_mac = np.where(back, F["c_mac"][f], GATEWAY_MAC)
    rows["src_hi"], rows["src_lo"] = src_mac >> np.uint64(32), src_mac & np.uint64(0xFFFFFFFF)
    rows["dst_hi"], rows["dst_lo"] = dst_mac >> np.uint64(32), dst_mac & np.uint64(0xFFFFFFFF)
    if tagged:
        rows["tpid"], rows["tci"] = 0x8100, F["tci"][f]
    l4_len = {"syn": 40, "tcp": 32, "udp": 8}[l4] + plen
    proto = 6 if l4 != "udp" else 17
    if v6:
        rows["etype"], rows["nh"], rows["plen6"] = 0x86DD, proto, l4_len
        rows["vtf"] = 0x60000000 | F["tos"][f].astype(np.int64) << 20 | F["flowlabel"][f, d]
        rows["hlim"] = np.where(back, F["s_ttl"][f], 64)
        rows["src6"] = np.where(back[:, None], F["s_ip6"][f], F["c_ip6"][f])
        rows["dst6"] = np.where(back[:, None], F["c_ip6"][f], F["s_ip6"][f])
    else:
        rows["etype"], rows["vihl"], rows["tos"], rows["proto"] = 0x0800, 0x45, F["tos"][f], proto
        rows["tot_len"], rows["frag"] = 20 + l4_len, 0x4000
        rows["ip_id"] = (F["ipid"][f, d] + P["rank"][m]) & 0xFFFF
        rows["ttl"] = np.where(back, F["s_ttl"][f], 64)
        rows["src4"] = np.where(back, F["s_ip4"][f], F["c_ip4"][f])
        rows["dst4"] = np.where(back, F["c_ip4"][f], F["s_ip4"][f])
    rows["sport"] = np.where(back, F["s_port"][f], F["c_port"][f])
    rows["dport"] = np.where(back, F["c_port"][f], F["s_port"][f])
    if l4 == "udp":
        rows["ulen"] = l4_len
        return rows
    flags = ROLE_FLAGS[role]
    rows["seq"], rows["ack"] = P["seq"][m], P["ack"][m]
    rows["off_flags"] = (l4_len - plen) << 10 | flags
    rows["win"] = np.where(l4 == "syn", np.where(back, 65160, 64240), F["win"][f, d])
    ms = t // 1000
    rows["tsval"] = (F["tsbase"][f, d] + ms) & 0xFFFFFFFF
    # echo the peer's latest timestamp: the server's is fresh, the client's one round trip old
    seen = np.where(back, t - F["rtt"][f], t - 500) // 1000
    rows["tsecr"] = np.where(flags & 0x10, (F["tsbase"][f, 1 - d] + seen) & 0xFFFFFFFF, 0)
    if l4 == "syn":
        rows["o_mss"] = 0x02040000 | F["mss"][f]
        rows["o_sackp"], rows["o_ts"], rows["o_nop_ws"], rows["o_ws"] = 0x0402, 0x080A, 0x0103, 0x0307
    else:
        rows["o_ts"] = 0x0101080A
    return rows


def render(F: dict, P: dict, specials: list[bytes], rng: np.random.Generator) -> np.ndarray:
    """The pcap records of one chunk of packets, as bytes."""
    f, role, plen = P["flow"], P["role"], P["plen"]
    d, flags, app = ROLE_DIR[role].astype(np.int64), ROLE_FLAGS[role], ROLE_APP[role]
    v6, tagged, tcp = F["v6"][f], F["tci"][f] > 0, F["proto"][f] == 6
    l2, l3 = 14 + 4 * tagged, np.where(v6, 40, 20)
    l4 = np.where(tcp, np.where(flags & 2, 40, 32), 8)
    caplen = l2 + l3 + l4 + plen
    record = np.cumsum(16 + caplen) - (16 + caplen)
    size = int(record[-1] + 16 + caplen[-1])
    buf = rng.bit_generator.random_raw(size // 8 + 1).view(np.uint8)[: size + 1]  # payload bytes
    recs = np.zeros(len(f), PCAP_REC)
    ts = EPOCH_US + P["t"]
    recs["sec"], recs["usec"], recs["incl"], recs["orig"] = ts // SEC, ts % SEC, caplen, caplen
    scatter(buf, record, recs)
    frame = record + 16
    for is_tagged in (False, True):
        for is_v6 in (False, True):
            for kind in ("syn", "tcp", "udp"):
                is_syn = (flags & 2) > 0
                is_kind = {"syn": tcp & is_syn, "tcp": tcp & ~is_syn, "udp": ~tcp}[kind]
                m = (tagged == is_tagged) & (v6 == is_v6) & is_kind
                if m.any():
                    scatter(buf, frame[m], header_rows(F, P, m, is_tagged, is_v6, kind))
    ip = frame + l2
    seg = ip + l3
    payload = seg + l4
    m = app == APP_TLS
    rows = np.zeros(m.sum(), TLS_REC)
    rows["ctype"], rows["ver"], rows["rlen"] = 0x17, 0x0303, plen[m] - 5
    scatter(buf, payload[m], rows)
    m = app == APP_RTP
    rows = np.zeros(m.sum(), RTP_HDR)
    rows["vpxcc"], rows["mpt"] = 0x80, np.where(P["rtp_seq"][m] == F["rtp_seq0"][f[m], d[m]], 0x80, 0)
    rows["rseq"], rows["rts"], rows["ssrc"] = P["rtp_seq"][m], P["rtp_ts"][m], F["ssrc"][f[m], d[m]]
    scatter(buf, payload[m], rows)
    m = app == APP_QUIC
    rows = np.zeros(m.sum(), QUIC_SHORT)
    rows["qfirst"] = 0x40 | rng.integers(0, 0x40, m.sum())
    rows["dcid"] = F["cid"][f[m], 2 - d[m]]  # the peer's connection ID
    scatter(buf, payload[m], rows)
    view = memoryview(buf)
    for i in np.nonzero(P["special"] >= 0)[0]:
        body = specials[P["special"][i]]
        view[payload[i]: payload[i] + len(body)] = body
    # checksums, all summed before any is written: TCP/UDP over the pseudo-header, IPv4 header
    word_sums = WordSums(buf)
    addr = ip + np.where(v6, 8, 12)
    seg_end = frame + caplen
    l4_sum = fold(word_sums(seg, seg_end) + word_sums(addr, addr + np.where(v6, 32, 8))
                  + np.where(tcp, 6, 17).astype(np.uint64) + (seg_end - seg).astype(np.uint64))
    l4_sum[(l4_sum == 0) & ~tcp] = 0xFFFF
    m = ~v6
    ip_sum = fold(word_sums(ip[m], ip[m] + 20))
    at = seg + np.where(tcp, 16, 6)
    buf[at], buf[at + 1] = l4_sum >> 8, l4_sum & 0xFF
    buf[ip[m] + 10], buf[ip[m] + 11] = ip_sum >> 8, ip_sum & 0xFF
    return buf[:size]


def write_pcap(path: Path, F: dict, P: dict, specials: list[bytes], seed: int, chunk: int = 1 << 16) -> int:
    rng = np.random.default_rng([seed, 0x3A7])
    n = len(P["flow"])
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for lo in range(0, n, chunk):
            out.write(render(F, {k: v[lo:lo + chunk] for k, v in P.items()}, specials, rng))
        return out.tell()


def default_path(n_packets: int, seed: int) -> Path:
    return CORPUS_DIR / f"corpus-{n_packets}-s{seed}.pcap"


def generate(n_packets: int, n_flows: int = 20_000, seed: int = 1, path: Path | None = None) -> dict:
    """Write the capture and a JSON sidecar describing it; return that description."""
    began = time.perf_counter()
    n_flows = min(n_flows, n_packets // 40)
    if n_flows < 200:
        raise ValueError("need at least 8,000 packets")
    F, world = make_flows(seed, n_flows)
    planner = Planner(F, world, n_packets, seed)
    P = planner.packets()
    path = Path(path) if path else default_path(n_packets, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = write_pcap(path, F, P, planner.specials, seed)
    kinds = np.bincount(F["kind"], minlength=len(KIND_NAMES))
    summary = {
        "file": path.name, "seed": seed, "packets": int(len(P["flow"])), "flows": int(len(F["kind"])),
        "flows_by_kind": {name: int(c) for name, c in zip(KIND_NAMES, kinds)},
        "packets_by_kind": {name: int(c) for name, c in zip(
            KIND_NAMES, np.bincount(F["kind"][P["flow"]], minlength=len(KIND_NAMES)))},
        "ipv6_flows": int(F["v6"].sum()), "vlan_flows": int((F["tci"] > 0).sum()),
        "ip_bytes": int((P["plen"] + np.where(F["v6"][P["flow"]], 40, 20)
                         + np.where(F["proto"][P["flow"]] == 6,
                                    np.where(ROLE_FLAGS[P["role"]] & 2, 40, 32), 8)).sum()),
        "file_bytes": size, "duration_s": round(float(P["t"][-1]) / SEC, 3),
        "seconds_to_write": round(time.perf_counter() - began, 2),
    }
    path.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000, help="packets to write (default 1,000,000)")
    ap.add_argument("--flows", type=int, default=20_000, help="flows (default 20,000; same set for any --packets)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("-o", "--output", type=Path, help=f"pcap path (default {default_path(1_000_000, 1)})")
    ap.add_argument("--quiet", action="store_true", help="print nothing")
    args = ap.parse_args(argv)
    try:
        summary = generate(args.packets, args.flows, args.seed, args.output)
    except ValueError as exc:
        print(f"make_corpus: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        rate = summary["packets"] / summary["seconds_to_write"]
        print(f"wrote {args.output or default_path(args.packets, args.seed)}: {summary['packets']:,} packets, "
              f"{summary['flows']:,} flows, {summary['file_bytes'] / 1e6:,.1f} MB, "
              f"{summary['duration_s']:,.0f} s of traffic in {summary['seconds_to_write']} s ({rate:,.0f} packets/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
