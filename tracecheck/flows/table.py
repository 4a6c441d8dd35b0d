"""The flow table: builder columns turned into ``Flow`` rows (CONTRACT.md names and order)."""

from __future__ import annotations

import hashlib
import ipaddress
from functools import lru_cache

import numpy as np

from tracecheck.flows.builder import NONE, FlowBuilder
from tracecheck.vocabulary import Flow

COLUMNS = ("uid", "ts", "duration", "proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
           "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
           "server_name", "name_source", "app", "vlan", "tunnel", "handshake_rtt_ms", "capture_file")

PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
QUIC_PORT = 443
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=1 << 16)
def address(hi: int, lo: int) -> str:
    """Text form of an address kept as two 64-bit halves (IPv4 as ::ffff:a.b.c.d)."""
    value = (hi << 64) | lo
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(value))


def uid(first_record: int, key: str) -> str:
    """Zeek-looking flow id, the same for the same capture on every run."""
    digest = hashlib.blake2b(f"{first_record}|{key}".encode(), digest_size=17).digest()
    return "C" + "".join(_ALPHABET[byte % 62] for byte in digest)


def originator_is_b(f: dict) -> np.ndarray:
    """The side that sent the first SYN; else the side a SYN/ACK was sent to; else whoever
    sent the first packet."""
    syn, synack = f["syn_side"], f["synack_side"]
    return np.where(syn != NONE, syn == 1, np.where(synack != NONE, synack == 0, f["first_side_b"]))


def flow_rows(builder: FlowBuilder, tunnel_names: list[str], capture_names: list[str]) -> tuple[list[Flow], list[int]]:
    """The flows sorted by start time, and each one's index in the builder's columns.

    Everything that can be is computed on whole columns; the per-flow loop only formats."""
    n = builder.flows.size
    if not n:
        return [], []
    f = {name: builder.flows[name] for name in builder.flows.cols}
    order = np.argsort(f["first_ts"], kind="stable")
    b = originator_is_b(f)[order]
    pick = lambda a_name, b_name: np.where(b, f[b_name][order], f[a_name][order])  # noqa: E731
    cols = {
        "orig_hi": pick("a_hi", "b_hi"), "orig_lo": pick("a_lo", "b_lo"), "orig_p": pick("a_port", "b_port"),
        "resp_hi": pick("b_hi", "a_hi"), "resp_lo": pick("b_lo", "a_lo"), "resp_p": pick("b_port", "a_port"),
        "orig_pkts": pick("pkts_a", "pkts_b"), "orig_bytes": pick("bytes_a", "bytes_b"),
        "resp_pkts": pick("pkts_b", "pkts_a"), "resp_bytes": pick("bytes_b", "bytes_a"),
    }
    first_orig, first_resp = pick("first_ts_a", "first_ts_b"), pick("first_ts_b", "first_ts_a")
    syn_ts, synack_ts = f["syn_ts"][order], f["synack_ts"][order]
    proto = f["proto"][order]
    tcp_rtt = (syn_ts != NONE) & (synack_ts != NONE) & (synack_ts >= syn_ts)
    # QUIC: first Initial to the server's first reply.
    quic_rtt = ~tcp_rtt & (proto == 17) & (cols["resp_p"] == QUIC_PORT) & (first_orig != NONE) & (first_resp >= first_orig)
    rtt = np.where(tcp_rtt, synack_ts - syn_ts, np.where(quic_rtt, first_resp - first_orig, -1)) / 1e6
    first_ts, last_ts = f["first_ts"][order], f["last_ts"][order]
    columns = zip(
        cols["orig_hi"].tolist(), cols["orig_lo"].tolist(), cols["orig_p"].tolist(),
        cols["resp_hi"].tolist(), cols["resp_lo"].tolist(), cols["resp_p"].tolist(),
        proto.tolist(), first_ts.tolist(), (last_ts - first_ts).tolist(),
        cols["orig_pkts"].tolist(), cols["orig_bytes"].tolist(), cols["resp_pkts"].tolist(), cols["resp_bytes"].tolist(),
        (tcp_rtt | quic_rtt).tolist(), rtt.tolist(), f["vlan"][order].tolist(), f["tunnel"][order].tolist(),
        f["capture"][order].tolist(), f["first_record"][order].tolist(),
    )
    rows: list[Flow] = []
    for (o_hi, o_lo, o_p, r_hi, r_lo, r_p, proto_number, ts, duration, o_pkts, o_bytes, r_pkts, r_bytes,
         has_rtt, rtt_ms, vlan, tunnel, capture, first_record) in columns:
        orig_h, resp_h = address(o_hi, o_lo), address(r_hi, r_lo)
        proto_name = PROTO_NAMES.get(proto_number) or str(proto_number)
        rows.append(Flow(
            uid=uid(first_record, f"{proto_name}|{orig_h}|{o_p}|{resp_h}|{r_p}|{tunnel}"),
            ts=ts / 1e9, duration=duration / 1e9, proto=proto_name,
            orig_h=orig_h, orig_p=o_p, resp_h=resp_h, resp_p=r_p,
            orig_pkts=o_pkts, orig_ip_bytes=o_bytes, resp_pkts=r_pkts, resp_ip_bytes=r_bytes,
            vlan=vlan if vlan >= 0 else None, tunnel=tunnel_names[tunnel],
            handshake_rtt_ms=rtt_ms if has_rtt else None, capture_file=capture_names[capture],
        ))
    return rows, order.tolist()


def as_record(flow: Flow) -> dict:
    """One flow with the contract's column names, in the contract's order."""
    return {
        "uid": flow.uid, "ts": flow.ts, "duration": flow.duration, "proto": flow.proto,
        "id.orig_h": flow.orig_h, "id.orig_p": flow.orig_p, "id.resp_h": flow.resp_h, "id.resp_p": flow.resp_p,
        "orig_pkts": flow.orig_pkts, "orig_ip_bytes": flow.orig_ip_bytes,
        "resp_pkts": flow.resp_pkts, "resp_ip_bytes": flow.resp_ip_bytes,
        "server_name": flow.server_name, "name_source": flow.name_source, "app": flow.app,
        "vlan": flow.vlan, "tunnel": flow.tunnel, "handshake_rtt_ms": flow.handshake_rtt_ms,
        "capture_file": flow.capture_file,
    }
