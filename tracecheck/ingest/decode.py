"""Decode a batch of records into packet observations, all headers at once, layer by layer.

``Decoder.decode_layers`` is the bulk decoder: every round takes the rows waiting at each
layer and hands them to that layer's module (``layers/``).  ``Decoder.decode`` first lets the
compiled common case (``fastpath.py``) take the frames it can, and the layers the rest.  What comes out is a ``Packets`` table — one
row per IP packet seen, inner and outer for tunnels — and a count of the records that gave
none, by reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from tracecheck.ingest import fastpath
from tracecheck.ingest.cursor import COLUMNS, Cursor, Layer, Reasons, Tunnels
from tracecheck.ingest.layers import (ayiya, ethernet, geneve, gre, gtp, ieee80211, ipv4, ipv6, linux_sll, mpls, null, ppp,
                                      teredo, vxlan)
from tracecheck.ingest.records import RecordBatch

# LINKTYPE_* number (https://www.tcpdump.org/linktypes.html) -> the layer a frame starts at.
LINK_TYPES = {
    0: Layer.NULL,
    1: Layer.ETHERNET,
    9: Layer.PPP,
    12: Layer.RAW,     # DLT_RAW as written by some BSDs
    14: Layer.RAW,     # DLT_RAW as written by OpenBSD
    50: Layer.PPP,     # PPP in HDLC-like framing
    51: Layer.PPPOE,   # PPPoE without an Ethernet header
    101: Layer.RAW,
    105: Layer.IEEE80211,
    108: Layer.LOOP,
    113: Layer.SLL,
    127: Layer.RADIOTAP,
    228: Layer.IPV4,
    229: Layer.IPV6,
    276: Layer.SLL2,
}

DECODERS = {
    Layer.ETHERNET: ethernet.decode,
    Layer.VLAN: ethernet.decode_vlan,
    Layer.SLL: linux_sll.decode_sll,
    Layer.SLL2: linux_sll.decode_sll2,
    Layer.NULL: null.decode_null,
    Layer.LOOP: null.decode_loop,
    Layer.RAW: null.decode_raw,
    Layer.PPP: ppp.decode_ppp,
    Layer.PPPOE: ppp.decode_pppoe,
    Layer.MPLS: mpls.decode,
    Layer.IPV4: ipv4.decode,
    Layer.IPV6: ipv6.decode,
    Layer.GRE: gre.decode,
    Layer.ERSPAN2: gre.decode_erspan2,
    Layer.ERSPAN3: gre.decode_erspan3,
    Layer.VXLAN: vxlan.decode,
    Layer.GENEVE: geneve.decode,
    Layer.GTPU: gtp.decode,
    Layer.TEREDO: teredo.decode,
    Layer.AYIYA: ayiya.decode,
    Layer.IEEE80211: ieee80211.decode,
    Layer.RADIOTAP: ieee80211.decode_radiotap,
}

# A frame needs at most a handful of layers; a packet still undecided after this many rounds
# is a tunnel inside a tunnel inside a tunnel ... crafted to make us loop.
MAX_ROUNDS = 32

_FIRST_LAYER = np.zeros(1 << 16, dtype=np.int16)
for _number, _layer in LINK_TYPES.items():
    _FIRST_LAYER[_number] = _layer

PACKET_COLUMNS = ("src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "sport", "dport", "ip_len", "tcp_flags", "seq",
                  "vlan", "tunnel", "payload", "payload_len", "payload_head", "frag_id", "frag_offset", "more_frags")


@dataclass
class Packets:
    """IP packets of one batch, in capture order (a tunnel's outer packet before its inner one)."""

    data: np.ndarray
    """The batch's bytes, for dissectors that look at payloads (``payload``, ``payload_len``;
    ``payload_head`` holds a payload's first eight bytes, big-endian, zero past its end, so the
    dissectors can sort packets by how they start without a gather of their own)."""
    record: np.ndarray
    """Record number across the run (int64)."""
    ts_ns: np.ndarray
    cols: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.record)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["cols"][name]
        except KeyError:
            raise AttributeError(name) from None


class Decoder:
    """Decodes batches; keeps the interned reason and tunnel names across a run."""

    def __init__(self, use_fastpath: bool = True) -> None:
        self.reasons = Reasons()
        self.tunnels = Tunnels()
        self.use_fastpath = use_fastpath
        """Decode the common case compiled (``fastpath.py``) when it is built."""

    def decode(self, batch: RecordBatch) -> tuple[Packets, Counter]:
        common = fastpath.decode_common(batch, COLUMNS) if self.use_fastpath else None
        if common is None:
            return self.decode_layers(batch)
        rows, cols = common
        if len(rows) == len(batch):
            return Packets(data=batch.data, record=np.arange(len(batch)) + batch.first_record, ts_ns=batch.ts_ns,
                           cols=cols), Counter()
        # The rest, layer by layer; then both back into capture order (a tunnel's outer
        # packet before its inner one, as the layer decoder leaves them).
        rest = np.ones(len(batch), dtype=bool)
        rest[rows] = False
        rest = np.flatnonzero(rest)
        others, skipped = self.decode_layers(batch.take(rest))
        record = np.concatenate([rows, rest[others.record]])
        order = np.argsort(record, kind="stable")
        return Packets(
            data=batch.data, record=record[order] + batch.first_record, ts_ns=batch.ts_ns[record[order]],
            cols={name: np.concatenate([cols[name], others.cols[name]])[order] for name in PACKET_COLUMNS},
        ), skipped

    def decode_layers(self, batch: RecordBatch) -> tuple[Packets, Counter]:
        """Every frame of ``batch`` through the layer decoders (``layers/``)."""
        linktype = batch.linktype
        known = (linktype >= 0) & (linktype < len(_FIRST_LAYER))
        first = np.where(known, _FIRST_LAYER[np.where(known, linktype, 0)], 0)
        c = Cursor(batch, first, self.reasons, self.tunnels)
        unsupported = np.flatnonzero(first == 0)
        for number in np.unique(linktype[unsupported]):
            c.skip(unsupported[linktype[unsupported] == number], f"unsupported_linktype:{int(number)}")
        for _ in range(MAX_ROUNDS):
            layer = c.layer
            waiting = layer < Layer.DONE
            if not waiting.any():
                break
            for code in np.unique(layer[waiting]):
                DECODERS[Layer(int(code))](c, np.flatnonzero(layer == code))
                layer = c.layer
        else:
            c.skip(np.flatnonzero(c.layer < Layer.DONE), "too_many_layers")
        return self._packets(c, batch), self._skipped(c, len(batch))

    def _packets(self, c: Cursor, batch: RecordBatch) -> Packets:
        done = c.layer == Layer.DONE
        if len(c) == len(batch) and done.all():  # every record one packet: the columns as they are
            return Packets(data=batch.data, record=c.rec + batch.first_record, ts_ns=batch.ts_ns,
                           cols={name: c.cols[name] for name in PACKET_COLUMNS})
        rows = np.flatnonzero(done)
        if len(c) > len(batch):  # tunnels added inner rows at the end: back into capture order
            rows = rows[np.argsort(c.rec[rows], kind="stable")]
        rec = c.rec[rows]
        return Packets(
            data=batch.data,
            record=rec + batch.first_record,
            ts_ns=batch.ts_ns[rec],
            cols={name: c.cols[name][rows] for name in PACKET_COLUMNS},
        )

    def _skipped(self, c: Cursor, records: int) -> Counter:
        """Records that gave no packet, by the reason of their first retired row."""
        decoded = np.zeros(records, dtype=bool)
        decoded[c.rec[c.layer == Layer.DONE]] = True
        skipped = np.flatnonzero(c.layer == Layer.SKIPPED)
        skipped = skipped[~decoded[c.rec[skipped]]]
        _, first = np.unique(c.rec[skipped], return_index=True)
        codes, counts = np.unique(c.reason[skipped[first]], return_counts=True)
        return Counter({self.reasons.names[int(code)]: int(n) for code, n in zip(codes, counts)})
