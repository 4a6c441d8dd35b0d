"""IPv6 (RFC 8200) and its extension headers, walked to the upper-layer protocol."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, u8, u16, u32
from tracecheck.ingest.fields import u64be

HEADER = 40
HOP_BY_HOP, ROUTING, FRAGMENT, AH, DEST_OPTS, MOBILITY, HIP, SHIM6 = 0, 43, 44, 51, 60, 135, 139, 140
EXTENSIONS = (HOP_BY_HOP, ROUTING, FRAGMENT, AH, DEST_OPTS, MOBILITY, HIP, SHIM6)
MAX_EXTENSIONS = 12
IS_EXTENSION = np.zeros(256, dtype=bool)
IS_EXTENSION[list(EXTENSIONS)] = True

from tracecheck.ingest.layers import transport  # noqa: E402


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    end = c.end[rows]
    short = pos + HEADER > end
    c.skip(rows[short], "truncated_ip_header")
    rows, pos, end = rows[~short], pos[~short], end[~short]
    bad = (u8(c, pos) >> 4) != 6
    c.skip(rows[bad], "malformed_ipv6")
    rows, pos, end = rows[~bad], pos[~bad], end[~bad]

    payload_len = u16(c, pos + 4)
    total = np.where(payload_len == 0, c.wire_end[rows] - pos, payload_len + HEADER)  # jumbograms
    c.src_hi[rows] = u64be(c.data, pos + 8)
    c.src_lo[rows] = u64be(c.data, pos + 16)
    c.dst_hi[rows] = u64be(c.data, pos + 24)
    c.dst_lo[rows] = u64be(c.data, pos + 32)
    c.ip_len[rows] = total
    c.ip_end[rows] = pos + total

    # Walk extension headers; a header that runs past the captured bytes stops the walk, and
    # the packet is kept with that header's number as its protocol (attributed, not dropped).
    nxt = u8(c, pos + 6)
    at = pos + HEADER
    for _ in range(MAX_EXTENSIONS):
        ext = IS_EXTENSION[nxt] & (at + 8 <= end)
        if not ext.any():
            break
        size = np.where(nxt == FRAGMENT, 8, np.where(nxt == AH, (u8(c, at + 1) + 2) * 4, (u8(c, at + 1) + 1) * 8))
        frag = ext & (nxt == FRAGMENT)
        if frag.any():
            fr = rows[frag]
            word = u16(c, at[frag] + 2)
            c.frag_offset[fr] = (word >> 3) * 8
            c.more_frags[fr] = (word & 1) == 1
            c.frag_id[fr] = u32(c, at[frag] + 4)
        fits = ext & (at + size <= end)
        nxt = np.where(fits, u8(c, at), nxt)
        at = np.where(fits, at + size, at)
        if not (fits == ext).all():  # header cut short by the snap length: stop there
            break
    c.proto[rows] = nxt
    stuck = IS_EXTENSION[nxt]  # ports unknown: leave the packet at IP level
    whole = c.frag_id[rows] < 0
    c.frag_offset[rows[whole]] = 0
    transport.decode(c, rows[~stuck], at[~stuck])
    c.done(rows[stuck])
