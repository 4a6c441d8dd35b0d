#!/usr/bin/env python3
"""Write the resource capture of issue 14: small UDP packets to many distinct public addresses.

    python benchmarks/make_many_destinations.py                        # ~9.4 MB, 130k addresses
    python benchmarks/make_many_destinations.py --destinations 20000   # a smaller one

A classic pcap (microseconds, little endian, Ethernet) in which one client (192.168.1.10) sends
--packets-per-destination UDP datagrams of --payload random bytes to each of --destinations
distinct public IPv4 addresses, from random ephemeral ports to random high ports, 100 us apart.
Every address is a destination that tracecheck has to place and judge, so the capture is small
but costs what its destinations cost: the shape of a port scan or of a peer-to-peer client.

The addresses are drawn at random (deterministic for --seed) from the whole IPv4 space minus
the special-purpose blocks (RFC 6890: private, loopback, link-local, CGN, multicast, reserved,
documentation), so the embedded GeoIP places them all over the world, as the real ones would be.

Packets are built as NumPy structured arrays and written in one go (about a second for 130k
packets); IPv4 and UDP checksums are correct. One script on purpose: it runs without the package.
A sidecar ``.json`` says what is in the file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
EPOCH_US = 1_710_234_000 * 1_000_000  # 2024-03-12 09:00:00 UTC
CLIENT = (192 << 24) | (168 << 16) | (1 << 8) | 10  # 192.168.1.10
SPECIAL_BLOCKS = [  # (network, prefix length): never a public destination (RFC 6890)
    ("0.0.0.0", 8), ("10.0.0.0", 8), ("100.64.0.0", 10), ("127.0.0.0", 8),
    ("169.254.0.0", 16), ("172.16.0.0", 12), ("192.0.0.0", 24), ("192.0.2.0", 24),
    ("192.88.99.0", 24), ("192.168.0.0", 16), ("198.18.0.0", 15), ("198.51.100.0", 24),
    ("203.0.113.0", 24), ("224.0.0.0", 3),
]

PCAP_HEADER = np.array([(0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)], dtype=[
    ("magic", "<u4"), ("major", "<u2"), ("minor", "<u2"), ("zone", "<i4"), ("sigfigs", "<u4"),
    ("snaplen", "<u4"), ("linktype", "<u4")])
HEADERS = [  # pcap record, Ethernet, IPv4, UDP; the payload follows
    ("sec", "<u4"), ("usec", "<u4"), ("incl", "<u4"), ("orig", "<u4"),
    ("eth_dst", "u1", (6,)), ("eth_src", "u1", (6,)), ("etype", ">u2"),
    ("vihl", "u1"), ("tos", "u1"), ("tot_len", ">u2"), ("ip_id", ">u2"), ("frag", ">u2"),
    ("ttl", "u1"), ("proto", "u1"), ("ip_sum", ">u2"), ("src", ">u4"), ("dst", ">u4"),
    ("sport", ">u2"), ("dport", ">u2"), ("ulen", ">u2"), ("udp_sum", ">u2"),
]


def public_addresses(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct random public IPv4 addresses (uint32), in random order."""
    chosen = np.empty(0, np.uint32)
    while chosen.size < count:
        draw = rng.integers(1 << 24, 1 << 32, size=2 * (count - chosen.size) + 1024, dtype=np.uint64)
        draw = draw.astype(np.uint32)
        keep = np.ones(draw.size, bool)
        for network, length in SPECIAL_BLOCKS:
            a, b, c, d = (int(x) for x in network.split("."))
            base = (a << 24) | (b << 16) | (c << 8) | d
            keep &= (draw >> np.uint32(32 - length)) != np.uint32(base >> (32 - length))
        chosen = np.unique(np.concatenate([chosen, draw[keep]]))
    return rng.permutation(chosen)[:count]


def ones_complement_sum(words: np.ndarray) -> np.ndarray:
    """Fold rows of 16-bit words (uint64 sums) to the 16-bit one's complement checksum."""
    total = words.sum(axis=1, dtype=np.uint64)
    while (total >> 16).any():
        total = (total & 0xFFFF) + (total >> 16)
    return (~total.astype(np.uint16)) & 0xFFFF


def build(destinations: int, per_destination: int, payload: int, seed: int) -> tuple[bytes, dict]:
    rng = np.random.default_rng(seed)
    addresses = public_addresses(destinations, rng)
    n = destinations * per_destination
    dst = np.tile(addresses, per_destination)  # every address once, then again: interleaved
    headers = np.zeros(n, HEADERS)
    record = headers.dtype.itemsize - 16 + payload
    ts = EPOCH_US + np.arange(n, dtype=np.int64) * 100
    headers["sec"], headers["usec"] = ts // 1_000_000, ts % 1_000_000
    headers["incl"] = headers["orig"] = record
    headers["eth_dst"] = [0x00, 0x00, 0x5E, 0x00, 0x01, 0x2A]
    headers["eth_src"] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    headers["etype"] = 0x0800
    headers["vihl"], headers["ttl"], headers["proto"] = 0x45, 64, 17
    headers["tot_len"] = 20 + 8 + payload
    headers["ip_id"] = np.arange(n) & 0xFFFF
    headers["frag"] = 0x4000  # don't fragment
    headers["src"], headers["dst"] = CLIENT, dst
    headers["sport"] = np.tile(rng.integers(32768, 61000, destinations), per_destination)
    headers["dport"] = np.tile(rng.integers(1024, 65536, destinations), per_destination)
    headers["ulen"] = 8 + payload
    body = rng.integers(0, 256, size=(n, payload + payload % 2), dtype=np.uint8)
    body[:, payload:] = 0  # an odd payload is padded with a zero byte for the checksum only

    raw = headers.view(np.uint8).reshape(n, -1)
    ip = raw[:, 30:50]
    headers["ip_sum"] = ones_complement_sum(ip.view(">u2").astype(np.uint64))
    pseudo = np.stack([headers["src"] >> 16, headers["src"] & 0xFFFF, headers["dst"] >> 16,
                       headers["dst"] & 0xFFFF, np.full(n, 17), headers["ulen"]], axis=1)
    udp_words = np.concatenate([raw[:, 50:58].copy().view(">u2").astype(np.uint64),
                                body.view(">u2").astype(np.uint64)], axis=1)
    udp_sum = ones_complement_sum(np.concatenate([pseudo.astype(np.uint64), udp_words], axis=1))
    headers["udp_sum"] = np.where(udp_sum == 0, 0xFFFF, udp_sum)

    records = np.concatenate([headers.view(np.uint8).reshape(n, -1), body[:, :payload]], axis=1)
    data = PCAP_HEADER.tobytes() + records.tobytes()
    about = {"generator": "make_many_destinations.py", "destinations": destinations,
             "packets": n, "packets_per_destination": per_destination, "payload_bytes": payload,
             "ip_bytes": int(n * (28 + payload)), "file_bytes": len(data), "seed": seed,
             "client": "192.168.1.10"}
    return data, about


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--destinations", type=int, default=130_000,
                        help="distinct public addresses (default 130000: a ~9.4 MB file)")
    parser.add_argument("--packets-per-destination", type=int, default=1)
    parser.add_argument("--payload", type=int, default=16, help="UDP payload bytes (default 16)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("-o", "--output", type=Path, help="default: benchmarks/corpus/many-<N>.pcap")
    args = parser.parse_args(argv)
    if args.destinations < 1 or args.packets_per_destination < 1 or not 0 <= args.payload <= 1400:
        parser.error("--destinations and --packets-per-destination must be >= 1, --payload 0..1400")
    out = args.output or CORPUS_DIR / f"many-{args.destinations}.pcap"
    data, about = build(args.destinations, args.packets_per_destination, args.payload, args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    out.with_suffix(".json").write_text(json.dumps(about, indent=2) + "\n")
    print(f"{out}: {about['packets']:,} packets to {about['destinations']:,} destinations, "
          f"{len(data) / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
