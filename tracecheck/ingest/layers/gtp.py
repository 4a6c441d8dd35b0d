"""GTP-U (3GPP TS 29.281): user packets of mobile networks; only G-PDUs carry one."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8

HEADER = 8
OPTIONAL = 4  # sequence number, N-PDU number, next extension type
G_PDU = 0xFF
MAX_EXTENSIONS = 8


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    end = c.end[rows]
    flags = u8(c, pos)
    ok = ((flags >> 5) == 1) & ((flags & 0x10) != 0) & (u8(c, pos + 1) == G_PDU) & (pos + HEADER <= end)
    c.skip(rows[~ok], "not_tunnelled_data")  # echo, error indication ...: the outer flow says it all
    rows, pos, end, flags = rows[ok], pos[ok], end[ok], flags[ok]
    at = pos + HEADER + np.where((flags & 0x07) != 0, OPTIONAL, 0)
    following = np.where((flags & 0x04) != 0, u8(c, np.minimum(at - 1, end)), 0)
    for _ in range(MAX_EXTENSIONS):  # extension headers: length in 4-byte units, next type last
        more = (following != 0) & (at < end)
        if not more.any():
            break
        size = u8(c, np.minimum(at, end)) * 4  # rows done walking may point far past their frame
        more &= size > 0
        following = np.where(more, u8(c, np.minimum(at + size - 1, end)), 0)
        at = np.where(more, at + size, at)
    ok = at < end
    c.skip(rows[~ok], "truncated_tunnel")
    rows, at = rows[ok], at[ok]
    version = u8(c, at) >> 4
    c.move(rows[version == 4], Layer.IPV4, at[version == 4])
    c.move(rows[version == 6], Layer.IPV6, at[version == 6])
    c.skip(rows[(version != 4) & (version != 6)], "not_tunnelled_data")
