"""The decoder's common case, compiled: Ethernet (+ VLAN tags) → IPv4/IPv6 → TCP/UDP.

Frames that are exactly that — most of any capture — are decoded in one pass each by
``_fastpath.c``; every other frame is left to the layer-by-layer NumPy decoder, which stays the
definition of what a frame decodes to (the tests hold the two equal).  Without the compiled
module (tracecheck installed without a C compiler) everything takes the NumPy path.
"""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.records import RecordBatch

try:
    from tracecheck.ingest._fastpath import ethernet_ip
    COMPILED = True
except ImportError:
    COMPILED = False

ETHERNET = 1  # LINKTYPE_ETHERNET
UINT64_COLUMNS = ("src_hi", "src_lo", "dst_hi", "dst_lo", "payload_head")
INT64_COLUMNS = ("proto", "sport", "dport", "ip_len", "tcp_flags", "seq", "vlan", "payload", "payload_len")


def decode_common(batch: RecordBatch, dtypes: dict) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """The batch's common-case frames: their indices in the batch (ascending) and their packet
    columns (typed as ``dtypes``), or None when there is nothing to do here."""
    if not COMPILED:
        return None
    ethernet = batch.linktype == ETHERNET
    candidates = None if ethernet.all() else np.flatnonzero(ethernet)
    if candidates is not None and not len(candidates):
        return None
    ethernet_frames = batch if candidates is None else batch.take(candidates)
    n = len(ethernet_frames)
    frames = np.empty((n, 3), dtype=np.int64)
    frames[:, 0] = ethernet_frames.offset
    frames[:, 1] = ethernet_frames.offset + ethernet_frames.caplen
    frames[:, 2] = ethernet_frames.offset + ethernet_frames.wirelen
    wide = np.empty((len(UINT64_COLUMNS), n), dtype=np.uint64)
    numbers = np.empty((len(INT64_COLUMNS), n), dtype=np.int64)
    decoded = np.empty(n, dtype=np.uint8)
    count = ethernet_ip(batch.data, frames, wide, numbers, decoded)
    if count == n:
        rows = np.arange(n) if candidates is None else candidates
    else:
        took = np.flatnonzero(decoded)
        rows = took if candidates is None else candidates[took]
        wide, numbers = wide[:, took], numbers[:, took]
    cols = dict(zip(UINT64_COLUMNS, wide))
    cols.update((name, column.astype(dtypes[name], copy=False)) for name, column in zip(INT64_COLUMNS, numbers))
    cols["tunnel"] = np.zeros(len(rows), dtype=dtypes["tunnel"])
    cols["frag_id"] = np.full(len(rows), -1, dtype=dtypes["frag_id"])
    cols["frag_offset"] = np.zeros(len(rows), dtype=dtypes["frag_offset"])
    cols["more_frags"] = np.zeros(len(rows), dtype=dtypes["more_frags"])
    return rows, cols
