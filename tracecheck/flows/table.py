"""The flow table: builder columns turned into the contract's columns (CONTRACT.md names and order).

The table is built and written column by column; a row becomes a ``Flow`` only when a later
stage reads it as one (``analyze`` does, ``tracecheck flows`` never does).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import fields
from functools import lru_cache
from types import MappingProxyType

import numpy as np

from tracecheck.flows.builder import NONE, FlowBuilder
from tracecheck.vocabulary import Flow

COLUMNS = ("uid", "ts", "duration", "proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
           "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
           "server_name", "name_source", "app", "vlan", "tunnel", "handshake_rtt_ms", "capture_file")
# Rows are made with Flow(*row): the columns must be Flow's fields, in the same order.
assert [c.removeprefix("id.") for c in COLUMNS] == [f.name for f in fields(Flow)], "COLUMNS and Flow disagree"

PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
QUIC_PORT = 443
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_UID_LETTERS = bytes(ord(_ALPHABET[byte % 62]) for byte in range(256))  # a bytes.translate table
_UID_DIGEST = 17


@lru_cache(maxsize=1 << 16)
def address(hi: int, lo: int) -> str:
    """Text form of an address kept as two 64-bit halves (IPv4 as ::ffff:a.b.c.d)."""
    if hi == 0 and (lo >> 32) == 0xFFFF:  # dotted quad by hand: ipaddress's object costs 9x as much
        return f"{(lo >> 24) & 255}.{(lo >> 16) & 255}.{(lo >> 8) & 255}.{lo & 255}"
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def uid(first_record: int, key: str) -> str:
    """Zeek-looking flow id, the same for the same capture on every run."""
    return uids([f"{first_record}|{key}"])[0]


def uids(keys: list[str]) -> list[str]:
    """``uid`` of many ``first_record|key`` strings: the digests are mapped to letters in one go."""
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(key.encode(), digest_size=_UID_DIGEST).digest() for key in keys])
    letters = digests.translate(_UID_LETTERS).decode("ascii")
    return ["C" + letters[start:start + _UID_DIGEST] for start in range(0, len(letters), _UID_DIGEST)]


class FlowTable(Sequence):
    """The flow table as columns keyed by ``COLUMNS``; also a read-only sequence of ``Flow``.

    Treat the column lists as frozen: stages that add to a table make a new one (``with_names``)."""

    def __init__(self, columns: dict[str, list], builder_index: list[int]) -> None:
        self.columns: Mapping[str, list] = MappingProxyType(columns)
        """Each contract column as a list of plain Python values (None where a cell is empty)."""
        self.builder_index = builder_index
        """Each row's index in the flow builder's columns (what the dissectors annotate)."""
        self._rows: list[Flow] | None = None

    @classmethod
    def empty(cls) -> FlowTable:
        return cls({column: [] for column in COLUMNS}, [])

    def __len__(self) -> int:
        return len(self.builder_index)

    def __getitem__(self, i):
        if isinstance(i, slice) or self._rows is not None:
            return self.rows()[i]
        return Flow(*(self.columns[column][i] for column in COLUMNS))

    def __iter__(self):
        return iter(self.rows())

    def __eq__(self, other) -> bool:
        if isinstance(other, FlowTable):  # the rows, not where the builder happened to keep them
            return self.columns == other.columns
        if isinstance(other, list):
            return self.rows() == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"FlowTable({len(self)} flows)"

    def rows(self) -> list[Flow]:
        """Every row as a ``Flow`` (made once, on first use)."""
        if self._rows is None:
            self._rows = [Flow(*row) for row in zip(*(self.columns[column] for column in COLUMNS))]
        return self._rows

    def forget_rows(self) -> None:
        """Let the ``Flow`` objects go (a stage done with them, where the columns suffice): they
        are made again on next use."""
        self._rows = None

    def with_names(self, server_name: list[str], name_source: list[str], app: list[str]) -> FlowTable:
        """A new table sharing this one's columns but for the three the dissectors fill."""
        named = {**self.columns, "server_name": server_name, "name_source": name_source, "app": app}
        return FlowTable(named, self.builder_index)


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


def originator_is_b(f: dict) -> np.ndarray:
    """The side that sent the first SYN; else the side a SYN/ACK was sent to; else whoever
    sent the first packet."""
    syn, synack = f["syn_side"], f["synack_side"]
    return np.where(syn != NONE, syn == 1, np.where(synack != NONE, synack == 0, f["first_side_b"]))


def flow_table(builder: FlowBuilder, tunnel_names: list[str], capture_names: list[str]) -> FlowTable:
    """The flows sorted by start time, every column computed on whole arrays.

    Python runs per flow only where there is no array form: the uid's hash and its key text."""
    n = builder.flows.size
    if not n:
        return FlowTable.empty()
    f = {name: builder.flows[name] for name in builder.flows.cols}
    order = np.argsort(f["first_ts"], kind="stable")
    b = originator_is_b(f)[order]

    def pick(a_name: str, b_name: str) -> np.ndarray:
        """The originator's (or responder's) value of a per-side column pair."""
        return np.where(b, f[b_name][order], f[a_name][order])

    orig_p, resp_p = pick("a_port", "b_port"), pick("b_port", "a_port")
    first_orig, first_resp = pick("first_ts_a", "first_ts_b"), pick("first_ts_b", "first_ts_a")
    syn_ts, synack_ts = f["syn_ts"][order], f["synack_ts"][order]
    proto = f["proto"][order]
    tcp_rtt = (syn_ts != NONE) & (synack_ts != NONE) & (synack_ts >= syn_ts)
    # QUIC: first Initial to the server's first reply.
    quic_rtt = ~tcp_rtt & (proto == 17) & (resp_p == QUIC_PORT) & (first_orig != NONE) & (first_resp >= first_orig)
    rtt = np.where(tcp_rtt, synack_ts - syn_ts, np.where(quic_rtt, first_resp - first_orig, -1)) / 1e6
    first_ts, last_ts = f["first_ts"][order], f["last_ts"][order]
    vlan = f["vlan"][order]

    orig_h, resp_h = _addresses((pick("a_hi", "b_hi"), pick("a_lo", "b_lo")), (pick("b_hi", "a_hi"), pick("b_lo", "a_lo")))
    proto_name = _texts(proto, lambda number: PROTO_NAMES.get(number) or str(number))
    tunnel_code = f["tunnel"][order]
    orig_ports, resp_ports = orig_p.tolist(), resp_p.tolist()
    # The uid's key names the tunnel by its code (the decoder's tunnel index), not its text.
    keys = [f"{first}|{p}|{oh}|{op}|{rh}|{rp}|{t}" for first, p, oh, op, rh, rp, t
            in zip(f["first_record"][order].tolist(), proto_name, orig_h, orig_ports, resp_h, resp_ports, tunnel_code.tolist())]
    columns = {
        "uid": uids(keys),
        # ns to s in float64, as Python's int / float would round it
        "ts": (first_ts / 1e9).tolist(), "duration": ((last_ts - first_ts) / 1e9).tolist(),
        "proto": proto_name,
        "id.orig_h": orig_h, "id.orig_p": orig_ports, "id.resp_h": resp_h, "id.resp_p": resp_ports,
        "orig_pkts": pick("pkts_a", "pkts_b").tolist(), "orig_ip_bytes": pick("bytes_a", "bytes_b").tolist(),
        "resp_pkts": pick("pkts_b", "pkts_a").tolist(), "resp_ip_bytes": pick("bytes_b", "bytes_a").tolist(),
        "server_name": [""] * n, "name_source": [""] * n, "app": [""] * n,
        "vlan": np.where(vlan >= 0, vlan.astype(object), None).tolist(),
        "tunnel": _texts(tunnel_code, tunnel_names.__getitem__),
        "handshake_rtt_ms": np.where(tcp_rtt | quic_rtt, rtt.astype(object), None).tolist(),
        "capture_file": _texts(f["capture"][order], capture_names.__getitem__),
    }
    return FlowTable(columns, order.tolist())


def _texts(codes: np.ndarray, text_of) -> list[str]:
    """``[text_of(code) for code in codes]``, calling ``text_of`` once per distinct code."""
    distinct, inverse = np.unique(codes, return_inverse=True)
    return np.array([text_of(code) for code in distinct.tolist()], dtype=object)[inverse.reshape(-1)].tolist()


def _addresses(*sides: tuple[np.ndarray, np.ndarray]) -> list[list[str]]:
    """Text of each side's (hi, lo) address column; each distinct address is formatted once."""
    hi, lo = np.concatenate([s[0] for s in sides]), np.concatenate([s[1] for s in sides])
    order = np.lexsort((lo, hi))
    hi_sorted, lo_sorted = hi[order], lo[order]
    starts = np.r_[True, (hi_sorted[1:] != hi_sorted[:-1]) | (lo_sorted[1:] != lo_sorted[:-1])]
    texts = np.array([address(h, low) for h, low in zip(hi_sorted[starts].tolist(), lo_sorted[starts].tolist())], dtype=object)
    distinct_of = np.empty(len(order), dtype=np.int64)
    distinct_of[order] = np.cumsum(starts) - 1
    every = texts[distinct_of]
    size = len(sides[0][0])
    return [every[i * size:(i + 1) * size].tolist() for i in range(len(sides))]
