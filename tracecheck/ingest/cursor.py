"""Frames in flight through the layer decoders, one row per frame (or per tunnelled frame).

Decoding is a loop over layers, not over packets: each round, the rows waiting at a layer
(say Ethernet) are decoded together by that layer's module, which moves them on to the next
layer (say IPv4) or retires them, done or skipped with a reason.  A tunnel retires the outer
packet as an observation of its own and spawns a new row for the inner packet, so the outer
flow stays in the table as Zeek's conn.log keeps it.
"""

from __future__ import annotations

import enum

import numpy as np

from tracecheck.ingest import fields
from tracecheck.ingest.records import RecordBatch


class Layer(enum.IntEnum):
    ETHERNET = 1
    VLAN = 2
    SLL = 3
    SLL2 = 4
    NULL = 5          # BSD loopback, address family in the capturing host's byte order
    LOOP = 6          # OpenBSD loopback, address family in network byte order
    RAW = 7           # IPv4 or IPv6, told apart by the version nibble
    PPP = 8
    PPPOE = 9
    MPLS = 10
    IPV4 = 11
    IPV6 = 12
    GRE = 13
    ERSPAN2 = 14
    ERSPAN3 = 15
    VXLAN = 16
    GENEVE = 17
    GTPU = 18
    TEREDO = 19
    AYIYA = 20
    IEEE80211 = 21    # Wi-Fi data frames
    RADIOTAP = 22
    DONE = 100        # an observation for the flow table
    SKIPPED = 101     # retired with a reason


# Columns every row carries; the IP and transport layers fill most of them.
COLUMNS = {
    "rec": np.int64, "pos": np.int64, "end": np.int64, "wire_end": np.int64, "layer": np.int16,
    "reason": np.int32, "vlan": np.int32, "tunnel": np.int32,
    "src_hi": np.uint64, "src_lo": np.uint64, "dst_hi": np.uint64, "dst_lo": np.uint64,
    "proto": np.int16, "ip_len": np.int64, "ip_end": np.int64,
    "frag_id": np.int64, "frag_offset": np.int32, "more_frags": np.bool_,
    "sport": np.int32, "dport": np.int32, "tcp_flags": np.int16, "seq": np.int64,
    "payload": np.int64, "payload_len": np.int64, "payload_head": np.uint64,
}


class Reasons:
    """Skip reasons interned to small integers, so rows carry an int, not a string."""

    def __init__(self) -> None:
        self.names: list[str] = [""]
        self.codes: dict[str, int] = {"": 0}

    def code(self, name: str) -> int:
        if name not in self.codes:
            self.codes[name] = len(self.names)
            self.names.append(name)
        return self.codes[name]


class Tunnels:
    """Encapsulation chains (``vxlan``, ``gre/erspan`` ...) interned to small integers."""

    def __init__(self) -> None:
        self.names: list[str] = [""]
        self.codes: dict[str, int] = {"": 0}

    def inside(self, outer: int, name: str) -> int:
        chain = f"{self.names[outer]}/{name}" if outer else name
        if chain not in self.codes:
            self.codes[chain] = len(self.names)
            self.names.append(chain)
        return self.codes[chain]


class Cursor:
    """Column arrays of the rows being decoded, over one batch's bytes."""

    def __init__(self, batch: RecordBatch, first_layer: np.ndarray, reasons: Reasons, tunnels: Tunnels) -> None:
        n = len(batch)
        self.data = batch.data
        self.reasons, self.tunnels = reasons, tunnels
        self.cols: dict[str, np.ndarray] = {name: np.zeros(n, dtype=t) for name, t in COLUMNS.items()}
        c = self.cols
        c["rec"][:] = np.arange(n)
        c["pos"][:] = batch.offset
        c["end"][:] = batch.offset + batch.caplen
        c["wire_end"][:] = batch.offset + batch.wirelen
        c["layer"][:] = first_layer
        c["vlan"][:] = -1
        c["frag_id"][:] = -1

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["cols"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self.cols["rec"])

    # -- moving rows on

    def move(self, rows: np.ndarray, layer, pos: np.ndarray | None = None, need: int = 0) -> None:
        """Send ``rows`` to ``layer`` at ``pos``; rows without ``need`` captured bytes there are
        skipped as truncated."""
        if pos is not None:
            self.cols["pos"][rows] = pos
        if isinstance(layer, np.ndarray):
            self.cols["layer"][rows] = layer
        else:
            self.cols["layer"][rows] = int(layer)
        if need:
            short = rows[self.cols["pos"][rows] + need > self.cols["end"][rows]]
            if len(short):
                self.skip(short, "truncated_frame")

    def skip(self, rows: np.ndarray, reason: str) -> None:
        self.cols["layer"][rows] = Layer.SKIPPED
        self.cols["reason"][rows] = self.reasons.code(reason)

    def done(self, rows: np.ndarray) -> None:
        self.cols["layer"][rows] = Layer.DONE

    def spawn(self, rows: np.ndarray, layer: Layer, pos: np.ndarray, tunnel: str) -> None:
        """Retire ``rows`` as outer observations and add a row for each inner packet."""
        self.done(rows)
        if not len(rows):
            return
        new = {name: col[rows].copy() for name, col in self.cols.items()}
        new["layer"][:] = layer
        new["pos"][:] = pos
        new["end"][:] = np.minimum(new["end"], new["ip_end"])   # the inner packet ends with the outer one
        new["wire_end"][:] = new["ip_end"]
        outer = new["tunnel"]
        for code in np.unique(outer):
            new["tunnel"][outer == code] = self.tunnels.inside(int(code), tunnel)
        for name in ("proto", "ip_len", "sport", "dport", "tcp_flags", "seq", "payload", "payload_len", "payload_head",
                     "more_frags", "frag_offset"):
            new[name][:] = 0
        new["frag_id"][:] = -1
        self.cols = {name: np.concatenate([self.cols[name], new[name]]) for name in self.cols}
        short = np.flatnonzero(self.cols["pos"] > self.cols["end"])
        if len(short):
            self.skip(short[self.cols["layer"][short] < Layer.DONE], "truncated_frame")


def u8(c: Cursor, at: np.ndarray) -> np.ndarray:
    return c.data[at].astype(np.int64)


def u16(c: Cursor, at: np.ndarray) -> np.ndarray:
    return fields.u16be(c.data, at)


def u32(c: Cursor, at: np.ndarray) -> np.ndarray:
    return fields.u32be(c.data, at)
