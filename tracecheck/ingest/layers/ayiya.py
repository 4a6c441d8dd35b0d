"""AYIYA ("Anything In Anything", SixXS tunnels): identity and signature, then IPv4 or IPv6."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8

HEADER = 8
FORWARD = 1


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    end = c.end[rows]
    first, second, third = u8(c, pos), u8(c, pos + 1), u8(c, pos + 2)
    payload = pos + HEADER + (1 << (first >> 4)) + (second >> 4) * 4
    nxt = u8(c, pos + 3)
    ok = (pos + HEADER <= end) & ((third & 0x0F) == FORWARD) & (payload < end) & ((nxt == 4) | (nxt == 41))
    c.skip(rows[~ok], "not_tunnelled_data")
    rows, payload, nxt = rows[ok], payload[ok], nxt[ok]
    c.move(rows[nxt == 4], Layer.IPV4, payload[nxt == 4])
    c.move(rows[nxt == 41], Layer.IPV6, payload[nxt == 41])
