"""Teredo (RFC 4380): IPv6 in UDP, optionally behind authentication and origin indications."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8, u16

AUTHENTICATION = 0x0001
ORIGIN = 0x0000
ORIGIN_SIZE = 8


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows].copy()
    end = c.end[rows]
    ok = pos + 2 <= end
    auth = ok & (u16(c, pos) == AUTHENTICATION)
    # id length, auth length, 8-byte nonce, 1-byte confirmation
    pos = np.where(auth, pos + 4 + u8(c, pos + 2) + u8(c, pos + 3) + 9, pos)
    ok &= pos + 2 <= end
    origin = ok & (u16(c, np.minimum(pos, end)) == ORIGIN)
    pos = np.where(origin, pos + ORIGIN_SIZE, pos)
    ok &= pos + 40 <= end
    ok &= (u8(c, np.minimum(pos, end)) >> 4) == 6
    c.skip(rows[~ok], "not_tunnelled_data")  # Teredo bubbles and qualification traffic
    c.move(rows[ok], Layer.IPV6, pos[ok])
