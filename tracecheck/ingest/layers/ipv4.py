"""IPv4 (RFC 791): options skipped by the header length, fragments marked for attribution."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, u8, u16, u32
from tracecheck.ingest.layers import transport

MIN_HEADER = 20
V4_MAPPED = np.uint64(0xFFFF << 32)  # addresses are kept as IPv6: ::ffff:a.b.c.d


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    end = c.end[rows]
    short = pos + MIN_HEADER > end
    if short.any():
        c.skip(rows[short], "truncated_ip_header")
        rows, pos, end = rows[~short], pos[~short], end[~short]

    first = u8(c, pos)
    header = (first & 0x0F) * 4
    total = u16(c, pos + 2)
    # Segmentation offload leaves total length 0: the wire length is the truth then.
    total = np.where(total == 0, c.wire_end[rows] - pos, total)
    bad = ((first >> 4) != 4) | (header < MIN_HEADER) | (total < header) | (pos + header > end)
    if bad.any():
        c.skip(rows[bad], "malformed_ipv4")
        keep = ~bad
        rows, pos, header, total = rows[keep], pos[keep], header[keep], total[keep]

    c.src_hi[rows] = 0
    c.dst_hi[rows] = 0
    c.src_lo[rows] = V4_MAPPED | u32(c, pos + 12).astype(np.uint64)
    c.dst_lo[rows] = V4_MAPPED | u32(c, pos + 16).astype(np.uint64)
    c.proto[rows] = u8(c, pos + 9)
    c.ip_len[rows] = total
    c.ip_end[rows] = pos + total

    flags = u16(c, pos + 6)
    offset = (flags & 0x1FFF) * 8
    more = (flags & 0x2000) != 0
    fragment = more | (offset > 0)
    if fragment.any():
        frag_rows = rows[fragment]
        c.frag_id[frag_rows] = u16(c, pos[fragment] + 4)
        c.frag_offset[frag_rows] = offset[fragment]
        c.more_frags[frag_rows] = more[fragment]
    transport.decode(c, rows, pos + header)
