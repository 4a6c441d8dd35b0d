"""VXLAN (RFC 7348): 8 bytes, then the mirrored Ethernet frame (AWS VPC Traffic Mirroring,
Azure virtual network TAP)."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8

HEADER = 8
VALID_VNI = 0x08


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = (pos + HEADER <= c.end[rows]) & ((u8(c, pos) & VALID_VNI) != 0)
    c.skip(rows[~ok], "malformed_tunnel")
    c.move(rows[ok], Layer.ETHERNET, pos[ok] + HEADER, need=1)
