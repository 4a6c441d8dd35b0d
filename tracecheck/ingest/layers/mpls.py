"""MPLS label stacks: skip labels to the bottom of the stack, then guess the payload as every
router does (first nibble 4 or 6 is IP; 0 is a pseudowire control word before Ethernet)."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8

LABEL = 4
MAX_LABELS = 16


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows].copy()
    end = c.end[rows]
    active = np.ones(len(rows), dtype=bool)
    for _ in range(MAX_LABELS):
        active &= pos + LABEL <= end
        bottom = active & ((u8(c, np.minimum(pos + 2, end)) & 1) == 1)
        pos = np.where(active, pos + LABEL, pos)
        active &= ~bottom
        if not active.any():
            break
    ok = pos < end
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    nibble = u8(c, pos) >> 4
    c.move(rows[nibble == 4], Layer.IPV4, pos[nibble == 4])
    c.move(rows[nibble == 6], Layer.IPV6, pos[nibble == 6])
    pw = nibble == 0
    c.move(rows[pw], Layer.ETHERNET, pos[pw] + 4)
    c.skip(rows[~((nibble == 4) | (nibble == 6) | pw)], "non_ip:mpls_payload")
