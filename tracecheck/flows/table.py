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
    """The flows sorted by start time, and each one's index in the builder's columns."""
    f = {name: builder.flows[name] for name in builder.flows.cols}
    n = builder.flows.size
    orig_b = originator_is_b(f)
    rows: list[Flow] = []
    order = [int(i) for i in np.argsort(f["first_ts"], kind="stable")] if n else []
    for i in order:
        b = bool(orig_b[i])
        side = ("b", "a") if b else ("a", "b")
        o, r = side
        proto = int(f["proto"][i])
        orig_h = address(int(f[f"{o}_hi"][i]), int(f[f"{o}_lo"][i]))
        resp_h = address(int(f[f"{r}_hi"][i]), int(f[f"{r}_lo"][i]))
        orig_p, resp_p = int(f[f"{o}_port"][i]), int(f[f"{r}_port"][i])
        ts = int(f["first_ts"][i])
        rtt = None
        if f["syn_ts"][i] != NONE and f["synack_ts"][i] != NONE and f["synack_ts"][i] >= f["syn_ts"][i]:
            rtt = (int(f["synack_ts"][i]) - int(f["syn_ts"][i])) / 1e6
        elif proto == 17 and resp_p == QUIC_PORT and f[f"first_ts_{o}"][i] != NONE and f[f"first_ts_{r}"][i] != NONE:
            delay = int(f[f"first_ts_{r}"][i]) - int(f[f"first_ts_{o}"][i])
            rtt = delay / 1e6 if delay >= 0 else None  # QUIC: first Initial to first reply
        vlan = int(f["vlan"][i])
        proto_name = PROTO_NAMES.get(proto, str(proto))
        key = f"{proto_name}|{orig_h}|{orig_p}|{resp_h}|{resp_p}|{int(f['tunnel'][i])}"
        rows.append(Flow(
            uid=uid(int(f["first_record"][i]), key),
            ts=ts / 1e9,
            duration=(int(f["last_ts"][i]) - ts) / 1e9,
            proto=proto_name,
            orig_h=orig_h, orig_p=orig_p, resp_h=resp_h, resp_p=resp_p,
            orig_pkts=int(f[f"pkts_{o}"][i]), orig_ip_bytes=int(f[f"bytes_{o}"][i]),
            resp_pkts=int(f[f"pkts_{r}"][i]), resp_ip_bytes=int(f[f"bytes_{r}"][i]),
            vlan=vlan if vlan >= 0 else None,
            tunnel=tunnel_names[int(f["tunnel"][i])],
            handshake_rtt_ms=rtt,
            capture_file=capture_names[int(f["capture"][i])],
        ))
    return rows, order


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
