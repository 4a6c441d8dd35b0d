"""Capture files and packets built by the tests themselves (no fixture files on disk).

File formats are written with ``struct`` so every variant (byte order, timestamp resolution,
odd pcapng blocks) is under the test's control; packets are plain bytes, mostly built with
scapy.  A *frame* is ``(ts_ns, data)`` or ``(ts_ns, data, wire_length)``.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Iterable, Sequence

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from tracecheck.flows.pipeline import FlowResult, build_flows

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND  # 2023-11-14, a plausible capture time

# Link types (https://www.tcpdump.org/linktypes.html)
NULL, ETHERNET, PPP, RAW12, RAW14, RAW, LOOP, SLL, IPV4, IPV6, SLL2 = 0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276

# --------------------------------------------------------------------------- packets


def tcp(src="10.0.0.1", dst="10.0.0.2", sport=40000, dport=443, flags="A", payload=b"", **ip) -> bytes:
    """An IPv4 (or IPv6 when ``src`` has a colon) TCP packet, no link header."""
    return bytes(_ip(src, dst, **ip) / TCP(sport=sport, dport=dport, flags=flags) / payload)


def udp(src="10.0.0.1", dst="10.0.0.2", sport=40000, dport=53, payload=b"x", **ip) -> bytes:
    return bytes(_ip(src, dst, **ip) / UDP(sport=sport, dport=dport) / payload)


def icmp_echo(src="10.0.0.1", dst="10.0.0.2", reply=False, ident=1, seq=1) -> bytes:
    return bytes(IP(src=src, dst=dst) / ICMP(type=0 if reply else 8, id=ident, seq=seq) / b"ping")


def _ip(src, dst, **kw):
    return IPv6(src=src, dst=dst, **kw) if ":" in src else IP(src=src, dst=dst, **kw)


def ether(packet: bytes, ethertype: int | None = None, src="02:00:00:00:00:01", dst="02:00:00:00:00:02") -> bytes:
    """``packet`` in an Ethernet II frame; the EtherType follows the IP version unless given."""
    if ethertype is None:
        ethertype = 0x86DD if packet[0] >> 4 == 6 else 0x0800
    return bytes(Ether(src=src, dst=dst, type=ethertype)) + packet


def ip_total_length(packet: bytes) -> int:
    """IPv4 total length or IPv6 payload length + 40 of a raw IP packet."""
    if packet[0] >> 4 == 4:
        return struct.unpack(">H", packet[2:4])[0]
    return struct.unpack(">H", packet[4:6])[0] + 40


# --------------------------------------------------------------------------- classic pcap

PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_MODIFIED = 0xA1B2C3D4, 0xA1B23C4D, 0xA1B2CD34


def pcap_bytes(frames: Iterable[Sequence], linktype: int = ETHERNET, nanosecond: bool = False,
               big_endian: bool = False, snaplen: int = 262144, modified: bool = False) -> bytes:
    """A classic pcap file: micro- or nanosecond, either byte order, or Kuznetsov's modified
    format (24-byte record headers)."""
    e = ">" if big_endian else "<"
    magic = PCAP_MAGIC_NS if nanosecond else (PCAP_MAGIC_MODIFIED if modified else PCAP_MAGIC_US)
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for frame in frames:
        ts_ns, data = frame[0], frame[1]
        wire = frame[2] if len(frame) > 2 else len(data)
        sec, frac = divmod(ts_ns, SECOND)
        if not nanosecond:
            frac //= 1000
        out.append(struct.pack(e + "IIII", sec, frac, len(data), wire))
        if modified:
            out.append(struct.pack(e + "IHBB", 0, 0x0800, 0, 0))  # ifindex, protocol, pkt_type, pad
        out.append(bytes(data))
    return b"".join(out)


def write_pcap(path: Path, frames: Iterable[Sequence], linktype: int = ETHERNET, nanosecond: bool = False,
               big_endian: bool = False, gzipped: bool = False, **kw) -> Path:
    data = pcap_bytes(frames, linktype, nanosecond, big_endian, **kw)
    Path(path).write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    return Path(path)


# --------------------------------------------------------------------------- pcapng


def ng_block(btype: int, body: bytes, big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    body = body + b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


def ng_option(code: int, value: bytes, big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def ng_options(options: list[bytes], big_endian: bool = False) -> bytes:
    return b"".join(options) + ng_option(0, b"", big_endian) if options else b""


def ng_shb(big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    return ng_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), big_endian)


def ng_idb(linktype: int = ETHERNET, snaplen: int = 0, tsresol: int | None = None, tsoffset: int | None = None,
           big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    opts = [ng_option(2, b"eth0", big_endian)]  # if_name, to make the option walk do some work
    if tsresol is not None:
        opts.append(ng_option(9, bytes([tsresol]), big_endian))
    if tsoffset is not None:
        opts.append(ng_option(14, struct.pack(e + "q", tsoffset), big_endian))
    return ng_block(1, struct.pack(e + "HHI", linktype, 0, snaplen) + ng_options(opts, big_endian), big_endian)


def ng_epb(iface: int, ticks: int, data: bytes, wirelen: int | None = None, big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    wire = len(data) if wirelen is None else wirelen
    body = struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wire) + data
    body += b"\0" * (-len(data) % 4) + ng_options([ng_option(1, b"comment", big_endian)], big_endian)
    return ng_block(6, body, big_endian)


def ng_opb(iface: int, ticks: int, data: bytes, wirelen: int | None = None, big_endian: bool = False) -> bytes:
    """Obsolete packet block (type 2): 16-bit interface id and drop count."""
    e = ">" if big_endian else "<"
    wire = len(data) if wirelen is None else wirelen
    return ng_block(2, struct.pack(e + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wire) + data, big_endian)


def ng_spb(data: bytes, wirelen: int | None = None, big_endian: bool = False) -> bytes:
    """Simple packet block (type 3): interface 0, no timestamp."""
    e = ">" if big_endian else "<"
    return ng_block(3, struct.pack(e + "I", len(data) if wirelen is None else wirelen) + data, big_endian)


def ng_nrb(big_endian: bool = False) -> bytes:
    """Name resolution block: one IPv4 record, then end of records."""
    e = ">" if big_endian else "<"
    record = bytes([10, 0, 0, 2]) + b"server.example\0"
    body = struct.pack(e + "HH", 1, len(record)) + record + b"\0" * (-len(record) % 4) + struct.pack(e + "HH", 0, 0)
    return ng_block(4, body, big_endian)


def ng_isb(iface: int = 0, big_endian: bool = False) -> bytes:
    """Interface statistics block."""
    e = ">" if big_endian else "<"
    return ng_block(5, struct.pack(e + "III", iface, 0, 0), big_endian)


def ng_custom(big_endian: bool = False) -> bytes:
    """Custom block (0x00000BAD): a private enterprise number and opaque bytes."""
    e = ">" if big_endian else "<"
    return ng_block(0x00000BAD, struct.pack(e + "I", 32473) + b"opaque data", big_endian)


def pcapng_bytes(frames: Iterable[Sequence], linktype: int = ETHERNET, big_endian: bool = False) -> bytes:
    """One section, one interface (microsecond ticks), one EPB per frame."""
    out = [ng_shb(big_endian), ng_idb(linktype, big_endian=big_endian)]
    for frame in frames:
        wire = frame[2] if len(frame) > 2 else None
        out.append(ng_epb(0, frame[0] // 1000, bytes(frame[1]), wire, big_endian))
    return b"".join(out)


def write_pcapng(path: Path, frames: Iterable[Sequence], linktype: int = ETHERNET, big_endian: bool = False,
                 gzipped: bool = False) -> Path:
    data = pcapng_bytes(frames, linktype, big_endian)
    Path(path).write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    return Path(path)


# --------------------------------------------------------------------------- reading back


def flows_of(*paths) -> FlowResult:
    """``build_flows`` over ``paths``, with the accounting invariant checked."""
    result = build_flows([str(p) for p in paths])
    check_accounting(result)
    return result


def check_accounting(result: FlowResult) -> None:
    acc = result.accounting
    assert acc.records == acc.decoded + sum(acc.skipped.values()), acc
    assert all(n > 0 for n in acc.skipped.values()), acc


def frames_of(packets: Iterable[bytes], start_ns: int = T0, step_ns: int = 1_000_000) -> list[tuple[int, bytes]]:
    """Frames ``step_ns`` apart from ``start_ns``."""
    return [(start_ns + i * step_ns, p) for i, p in enumerate(packets)]


def flow_summary(flow) -> tuple:
    """The fields most tests compare, as one tuple."""
    return (flow.proto, flow.orig_h, flow.orig_p, flow.resp_h, flow.resp_p,
            flow.orig_pkts, flow.orig_ip_bytes, flow.resp_pkts, flow.resp_ip_bytes, flow.vlan, flow.tunnel)


# --------------------------------------------------------------------------- many destinations

_ETHERNET_IPV4 = bytes.fromhex("020000000002" "020000000001" "0800")  # dst, src, IPv4
_NOT_PUBLIC_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198, 203} | set(range(224, 256))


def many_destinations_pcap(path: Path, count: int, seed: int = 14, payload: bytes = b"resource-case..") -> list[str]:
    """A pcap of one UDP datagram from 192.168.1.10 to each of ``count`` distinct public IPv4
    addresses (the resource capture of issue 14, small; benchmarks/make_many_destinations.py
    writes the big one).  Built with struct, not scapy: thousands of packets in milliseconds.
    The UDP checksum is 0 (none, as IPv4 allows).  Returns the addresses, in packet order."""
    import random

    rng = random.Random(seed)
    chosen: dict[int, None] = {}
    while len(chosen) < count:
        first = rng.randrange(1, 224)
        if first not in _NOT_PUBLIC_FIRST_OCTETS:
            chosen[(first << 24) | rng.randrange(1 << 24)] = None
    src = bytes([192, 168, 1, 10])
    frames = []
    for index, dst in enumerate(chosen):
        udp = struct.pack(">HHHH", 40000 + index % 20000, 1024 + index % 60000, 8 + len(payload), 0) + payload
        header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), index & 0xFFFF, 0x4000, 64, 17, 0, src,
                             dst.to_bytes(4, "big"))
        header = header[:10] + struct.pack(">H", _ip_checksum(header)) + header[12:]
        frames.append((T0 + index * 100_000, _ETHERNET_IPV4 + header + udp))
    write_pcap(path, frames)
    return [".".join(str(b) for b in dst.to_bytes(4, "big")) for dst in chosen]


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f">{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
