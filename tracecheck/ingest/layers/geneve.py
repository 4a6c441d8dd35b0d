"""GENEVE (RFC 8926): AWS Gateway Load Balancer's encapsulation; options skipped by length."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, u8, u16
from tracecheck.ingest.layers import ethernet

HEADER = 8


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    first = u8(c, pos)
    size = HEADER + (first & 0x3F) * 4
    ok = ((first >> 6) == 0) & (pos + size <= c.end[rows])
    c.skip(rows[~ok], "malformed_tunnel")
    rows, pos, size = rows[ok], pos[ok], size[ok]
    ethernet.dispatch(c, rows, u16(c, pos + 2), pos + size)
