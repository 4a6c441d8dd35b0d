"""GRE (RFC 2784/2890), PPTP's enhanced GRE (RFC 2637), and the ERSPAN II/III headers that
switches and cloud mirrors put between GRE and the mirrored Ethernet frame."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8, u16
from tracecheck.ingest.layers import ethernet

CHECKSUM, KEY, SEQUENCE, ACK = 0x8000, 0x2000, 0x1000, 0x0080
ERSPAN_TYPE2 = 0x88BE
ERSPAN2_HEADER = 8
ERSPAN3_HEADER = 12
ERSPAN3_PLATFORM = 8


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = pos + 4 <= c.end[rows]
    c.skip(rows[~ok], "truncated_tunnel")
    rows, pos = rows[ok], pos[ok]
    flags = u16(c, pos)
    version = flags & 0x7
    protocol = u16(c, pos + 2)
    size = 4 + 4 * (((flags & CHECKSUM) > 0).astype(np.int64) + ((flags & KEY) > 0) + ((flags & SEQUENCE) > 0))
    pptp = version == 1
    size = np.where(pptp, 8 + 4 * ((flags & SEQUENCE) > 0) + 4 * ((flags & ACK) > 0), size)
    bad = (version > 1) | (pos + size > c.end[rows])
    c.skip(rows[bad], "malformed_tunnel")  # the outer GRE flow is already counted
    rows, pos, size, protocol, flags = rows[~bad], pos[~bad], size[~bad], protocol[~bad], flags[~bad]
    empty = pos + size >= c.end[rows]  # PPTP acknowledgements carry no packet
    c.skip(rows[empty], "tunnel_without_payload")
    rows, pos, size, protocol, flags = rows[~empty], pos[~empty], size[~empty], protocol[~empty], flags[~empty]
    # ERSPAN type I has no header of its own: GRE without a sequence number, Ethernet right after.
    type1 = (protocol == ERSPAN_TYPE2) & ((flags & SEQUENCE) == 0)
    protocol = np.where(type1, 0x6558, protocol)
    ethernet.dispatch(c, rows, protocol, pos + size)


def decode_erspan2(c: Cursor, rows: np.ndarray) -> None:
    c.move(rows, Layer.ETHERNET, c.pos[rows] + ERSPAN2_HEADER, need=1)


def decode_erspan3(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = pos + ERSPAN3_HEADER <= c.end[rows]
    c.skip(rows[~ok], "truncated_tunnel")
    rows, pos = rows[ok], pos[ok]
    platform = (u8(c, pos + 11) & 0x01) == 1  # the O bit: an 8-byte platform subheader follows
    c.move(rows, Layer.ETHERNET, pos + ERSPAN3_HEADER + np.where(platform, ERSPAN3_PLATFORM, 0), need=1)
