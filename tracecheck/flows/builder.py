"""Packets to bidirectional flows, batch by batch, with memory that grows with flows only.

A flow is keyed by its two endpoints (address, port) in canonical order, the IP protocol and
the tunnel it travels in.  Per batch the packets are grouped by key with one sort; a group
continues the key's open flow unless the flow timed out (Zeek's inactivity timeouts) or, for
TCP, the connection ended or the tuple was reused as Zeek's conn.log says (``connections.py``)
— then a new flow starts.  Counters are kept per canonical side (A, B) and mapped to
originator/responder at the end, when the first SYN is known.

The accounting runs as one compiled loop over the packets (``_builder.c``) when tracecheck was
built with a C compiler, else as the NumPy passes below, which are also the reference the tests
hold the compiled loop to: the same columns to the bit, the same flow numbering.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from tracecheck.flows import connections
from tracecheck.ingest.decode import Packets

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
TCP, UDP = 6, 17
SECOND = 1_000_000_000
# Zeek's defaults: tcp_inactivity_timeout 5 min; udp/icmp/other 1 min.
TIMEOUT_NS = {TCP: 300 * SECOND}
DEFAULT_TIMEOUT_NS = 60 * SECOND
NONE = np.int64(-1)

# Per-flow columns; "_a"/"_b" are the canonical sides (A is the lower endpoint).
FLOW_COLUMNS = {
    "a_hi": np.uint64, "a_lo": np.uint64, "a_port": np.int64,
    "b_hi": np.uint64, "b_lo": np.uint64, "b_port": np.int64,
    "proto": np.int64, "tunnel": np.int64, "vlan": np.int64, "capture": np.int64, "first_record": np.int64,
    "first_ts": np.int64, "last_ts": np.int64, "first_side_b": np.bool_,
    "pkts_a": np.int64, "bytes_a": np.int64, "pkts_b": np.int64, "bytes_b": np.int64,
    "first_ts_a": np.int64, "first_ts_b": np.int64,
    "syn_side": np.int64, "synack_side": np.int64, "syn_ts": np.int64, "synack_ts": np.int64,
}
# A TCP flow's connection state where the next batch picks it up (``connections.py``): the
# columns of its state row but OPEN and LAST_TS, which the flow has already.
CONNECTION_STATE = {"conn_isn": connections.ISN, "conn_close": connections.CLOSE,
                    "conn_closed_ts": connections.CLOSED_TS, "conn_attempt_from": connections.ATTEMPT_FROM,
                    "conn_syn_side": connections.SYN_SIDE, "conn_seen": connections.SEEN}
FLOW_COLUMNS.update(dict.fromkeys(CONNECTION_STATE, np.int64))
# What the compiled loop reads of each packet, in its order (``_builder.c`` checks the types).
PACKET_INPUTS = ("src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "proto", "tunnel", "vlan", "ts_ns",
                 "tcp_flags", "seq", "ip_len", "record", "counted")

try:
    from tracecheck.flows._builder import COLUMNS as _COMPILED_COLUMNS
    from tracecheck.flows._builder import FlowIndex
    assert _COMPILED_COLUMNS == tuple(FLOW_COLUMNS), "FLOW_COLUMNS and _builder.c disagree"
    COMPILED = True
except ImportError:  # built without a C compiler: the NumPy passes
    FlowIndex = None
    COMPILED = False


class _Columns:
    """Growable column arrays (capacity doubles), one row per flow."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.size = 0
        self.cols = {name: np.zeros(1024, dtype=t) for name, t in spec.items()}

    def add(self, n: int) -> np.ndarray:
        start = self.size
        self.size += n
        capacity = len(next(iter(self.cols.values())))
        if self.size > capacity:
            while capacity < self.size:
                capacity *= 2
            for name, col in self.cols.items():
                grown = np.zeros(capacity, dtype=col.dtype)
                grown[:start] = col[:start]  # the rows in use: copying the zeros too faults in every page
                self.cols[name] = grown
        return np.arange(start, self.size)

    def reserve(self, n: int) -> None:
        """Room for ``n`` more rows (the compiled loop writes them, then ``size`` is moved)."""
        size = self.size
        self.add(n)
        self.size = size

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name][: self.size]


@dataclass
class FlowBuilder:
    """Feed ``Packets`` batches in capture order; read ``flows`` at the end."""

    flows: _Columns = field(default_factory=lambda: _Columns(FLOW_COLUMNS))
    open: dict = field(default_factory=dict)
    """Flow key hash -> index of the key's most recent flow (the NumPy passes'; the compiled loop
    keeps its own hash table, ``_index``)."""
    notes: Counter = field(default_factory=Counter)
    compiled: bool = COMPILED
    """Account with the compiled loop (``_builder.c``); False: with the NumPy passes."""
    _first_fragments: dict = field(default_factory=dict)
    _index: object = None

    def __post_init__(self) -> None:
        self.compiled = self.compiled and COMPILED

    def add(self, p: Packets, capture: int) -> np.ndarray:
        """Account the batch's packets to flows; returns each packet's flow index."""
        if not len(p):
            return np.zeros(0, dtype=np.int64)
        sport, dport, counted = self._attribute_fragments(p)
        if self.compiled:
            return self._add_compiled(p, capture, sport, dport, counted)
        a_hi, a_lo, b_hi, b_lo = p.src_hi, p.src_lo, p.dst_hi, p.dst_lo
        # Canonical order of the two endpoints: packets from B are "swapped".
        swapped = (a_hi > b_hi) | ((a_hi == b_hi) & ((a_lo > b_lo) | ((a_lo == b_lo) & (sport > dport))))
        lo_hi, lo_lo, lo_port = np.where(swapped, b_hi, a_hi), np.where(swapped, b_lo, a_lo), np.where(swapped, dport, sport)
        hi_hi, hi_lo, hi_port = np.where(swapped, a_hi, b_hi), np.where(swapped, a_lo, b_lo), np.where(swapped, sport, dport)
        proto = p.proto.astype(np.int64)
        key = _hash(lo_hi, lo_lo, hi_hi, hi_lo, (lo_port << 16) | hi_port, (proto << 32) | p.tunnel)

        order = np.argsort(key, kind="stable")  # capture order inside each key
        key_sorted = key[order]
        starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
        group = np.cumsum(np.r_[True, key_sorted[1:] != key_sorted[:-1]]) - 1
        ts = p.ts_ns[order]
        flags = p.tcp_flags[order].astype(np.int64)
        is_tcp = proto[order] == TCP
        timeout = np.where(is_tcp, TIMEOUT_NS[TCP], DEFAULT_TIMEOUT_NS)

        # Carried state of each group's key: its open flow and when that flow last saw a packet.
        group_keys = key_sorted[starts].tolist()
        get = self.open.get
        open_flow = np.fromiter((get(k, -1) for k in group_keys), dtype=np.int64, count=len(group_keys))
        has_open = open_flow >= 0
        known = np.maximum(open_flow, 0)
        f = self.flows.cols
        open_last = np.where(has_open, f["last_ts"][known], 0)

        prev_ts = np.r_[0, ts[:-1]]
        prev_ts[starts] = open_last
        new_flow = (ts - prev_ts) > timeout
        new_flow[starts[~has_open]] = True
        tcp_rows = np.flatnonzero(is_tcp)
        if len(tcp_rows):  # TCP: where Zeek ends a connection or sees the tuple reused
            state = self._connection_state(open_flow, open_last)
            packets = np.stack([ts[tcp_rows], flags[tcp_rows], p.seq[order[tcp_rows]].astype(np.int64),
                                swapped[order[tcp_rows]].astype(np.int64), group[tcp_rows]], axis=1)
            tcp_new = np.zeros(len(tcp_rows), dtype=np.uint8)
            connections.split(np.ascontiguousarray(packets), state, tcp_new)
            new_flow[tcp_rows] = tcp_new.astype(bool)

        # Segments: runs of one flow.  One starts at every group start and every new flow; a
        # segment that starts a group without a new flow continues the key's open flow.
        boundary = new_flow.copy()
        boundary[starts] = True
        segment = np.cumsum(boundary) - 1
        seg_starts = np.flatnonzero(boundary)
        seg_group = group[seg_starts]
        continues = ~new_flow[seg_starts]
        seg_flow = np.empty(len(seg_starts), dtype=np.int64)
        seg_flow[continues] = open_flow[seg_group[continues]]
        fresh = ~continues
        new_ids = self.flows.add(int(fresh.sum()))
        seg_flow[fresh] = new_ids
        pkt_flow_sorted = seg_flow[segment]

        self._init_new(new_ids, order[seg_starts[fresh]], p, capture, swapped, lo_hi, lo_lo, lo_port, hi_hi, hi_lo, hi_port, proto)
        self._accumulate(seg_flow, segment, seg_starts, order, p, swapped, ts, flags, is_tcp, counted)

        # Remember each key's open flow, and its connection state, for the next batch.
        group_last = np.r_[starts[1:], len(order)] - 1
        last_flow = pkt_flow_sorted[group_last]
        if len(tcp_rows):
            tcp_groups = np.unique(group[tcp_rows])
            f = self.flows.cols  # the columns may have grown
            for name, column in CONNECTION_STATE.items():
                f[name][last_flow[tcp_groups]] = state[tcp_groups, column]
        self.open.update(zip(group_keys, last_flow.tolist()))

        flow_of = np.empty(len(order), dtype=np.int64)
        flow_of[order] = pkt_flow_sorted
        return flow_of

    def _add_compiled(self, p: Packets, capture: int, sport: np.ndarray, dport: np.ndarray,
                      counted: np.ndarray) -> np.ndarray:
        if self._index is None:
            self._index = FlowIndex()
        given = {**p.cols, "sport": sport, "dport": dport, "ts_ns": p.ts_ns, "record": p.record, "counted": counted}
        self.flows.reserve(len(p))
        flow_of = np.empty(len(p), dtype=np.int64)
        made = self._index.add([self.flows.cols[name] for name in FLOW_COLUMNS], self.flows.size,
                               [given[name] for name in PACKET_INPUTS], capture, flow_of)
        self.flows.size += made
        return flow_of

    # ---------------------------------------------------------------- helpers

    def _connection_state(self, open_flow: np.ndarray, open_last: np.ndarray) -> np.ndarray:
        """One ``connections`` state row per group: its key's open flow as the last batch left it."""
        state = np.full((len(open_flow), connections.STATE_COLUMNS), connections.NONE, dtype=np.int64)
        has_open = open_flow >= 0
        state[:, connections.OPEN] = has_open
        state[:, connections.LAST_TS] = np.where(has_open, open_last, connections.NONE)
        f = self.flows.cols
        known = open_flow[has_open]
        for name, column in CONNECTION_STATE.items():
            state[has_open, column] = f[name][known]
        return state

    def _attribute_fragments(self, p: Packets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Later IP fragments carry no ports: give them the ports of their first fragment.  Also
        which packets count as one (0 for a fragment so attributed: its datagram is counted once,
        at its first fragment, as Zeek and tshark count the reassembled datagram)."""
        sport, dport = p.sport.astype(np.int64), p.dport.astype(np.int64)
        counted = np.ones(len(p), dtype=np.int64)
        fragments = np.flatnonzero(p.frag_id >= 0)
        if not len(fragments):
            return sport, dport, counted
        ident = lambda i: (int(p.src_hi[i]), int(p.src_lo[i]), int(p.dst_hi[i]), int(p.dst_lo[i]), int(p.proto[i]), int(p.frag_id[i]))  # noqa: E731
        for i in fragments:
            if p.frag_offset[i] == 0:
                self._first_fragments[ident(i)] = (int(sport[i]), int(dport[i]))
        if len(self._first_fragments) > 65536:  # bounded: old datagrams are long reassembled
            self._first_fragments = dict(list(self._first_fragments.items())[-32768:])
        for i in fragments:
            if p.frag_offset[i] > 0:
                ports = self._first_fragments.get(ident(i))
                if ports:
                    sport[i], dport[i] = ports
                    counted[i] = 0
                    self.notes["fragments_attributed_to_first_fragment"] += 1
                else:
                    self.notes["fragments_without_first_fragment"] += 1
        return sport, dport, counted

    def _init_new(self, ids, first_rows, p, capture, swapped, lo_hi, lo_lo, lo_port, hi_hi, hi_lo, hi_port, proto) -> None:
        f = self.flows.cols
        f["a_hi"][ids], f["a_lo"][ids], f["a_port"][ids] = lo_hi[first_rows], lo_lo[first_rows], lo_port[first_rows]
        f["b_hi"][ids], f["b_lo"][ids], f["b_port"][ids] = hi_hi[first_rows], hi_lo[first_rows], hi_port[first_rows]
        f["proto"][ids], f["tunnel"][ids], f["vlan"][ids] = proto[first_rows], p.tunnel[first_rows], p.vlan[first_rows]
        f["capture"][ids], f["first_record"][ids] = capture, p.record[first_rows]
        f["first_side_b"][ids] = swapped[first_rows]
        f["first_ts"][ids] = np.iinfo(np.int64).max
        f["last_ts"][ids] = np.iinfo(np.int64).min
        for name in ("first_ts_a", "first_ts_b", "syn_ts", "synack_ts", "syn_side", "synack_side"):
            f[name][ids] = NONE

    def _accumulate(self, seg_flow, segment, seg_starts, order, p, swapped, ts, flags, is_tcp, counted) -> None:
        # Segments are contiguous runs of the sorted packets: reduceat sums each run.
        f = self.flows.cols
        from_b = swapped[order]
        size = p.ip_len[order].astype(np.int64)
        from_b_int = from_b.astype(np.int64)
        counted = counted[order]  # bytes are every fragment's, as on the wire; packets are datagrams
        f["pkts_b"][seg_flow] += np.add.reduceat(from_b_int * counted, seg_starts)
        f["pkts_a"][seg_flow] += np.add.reduceat((1 - from_b_int) * counted, seg_starts)
        f["bytes_b"][seg_flow] += np.add.reduceat(size * from_b_int, seg_starts)
        f["bytes_a"][seg_flow] += np.add.reduceat(size * (1 - from_b_int), seg_starts)
        big = np.iinfo(np.int64).max
        f["first_ts"][seg_flow] = np.minimum(f["first_ts"][seg_flow], np.minimum.reduceat(ts, seg_starts))
        f["last_ts"][seg_flow] = np.maximum(f["last_ts"][seg_flow], np.maximum.reduceat(ts, seg_starts))
        for side, mine in (("a", ~from_b), ("b", from_b)):
            first = np.minimum.reduceat(np.where(mine, ts, big), seg_starts)
            col = f[f"first_ts_{side}"]
            unset = (col[seg_flow] == NONE) & (first != big)
            col[seg_flow[unset]] = first[unset]
        syn = is_tcp & ((flags & (SYN | ACK)) == SYN)
        synack = is_tcp & ((flags & (SYN | ACK)) == (SYN | ACK))
        self._first_of(seg_flow, segment, syn, from_b, ts, "syn")
        self._first_of(seg_flow, segment, synack, from_b, ts, "synack")

    def _first_of(self, seg_flow, segment, mask, from_b, ts, name) -> None:
        """Record the side and time of the flow's first packet matching ``mask``."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        segs, first = np.unique(segment[rows], return_index=True)
        rows = rows[first]
        flows = seg_flow[segs]
        f = self.flows.cols
        unset = f[f"{name}_side"][flows] == NONE
        f[f"{name}_side"][flows[unset]] = from_b[rows[unset]].astype(np.int64)
        f[f"{name}_ts"][flows[unset]] = ts[rows[unset]]


def _hash(*parts: np.ndarray) -> np.ndarray:
    """64-bit mix of the key fields (splitmix64 steps); collisions are astronomically rare for
    the ~10^5 flows of a capture and would merge two flows, never lose a packet."""
    h = np.full(len(parts[0]), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for part in parts:
        h = h ^ part.astype(np.uint64)
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        h = h ^ (h >> np.uint64(31))
    return h
