"""BSD loopback (DLT_NULL: address family in the capturing host's byte order; DLT_LOOP: in
network order) and raw IP link types (version nibble tells IPv4 from IPv6)."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8, u32

AF_INET = 2
AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS


def decode_null(c: Cursor, rows: np.ndarray, network_order: bool = False) -> None:
    pos = c.pos[rows]
    ok = pos + 4 <= c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    family = u32(c, pos)
    if not network_order:  # written in the capturing host's order: small values are right
        swapped = ((family & 0xFF) << 24) | ((family & 0xFF00) << 8) | ((family >> 8) & 0xFF00) | (family >> 24)
        family = np.where(family > 0xFFFF, swapped, family)
    v4 = family == AF_INET
    v6 = np.isin(family, AF_INET6)
    c.move(rows[v4], Layer.IPV4, pos[v4] + 4)
    c.move(rows[v6], Layer.IPV6, pos[v6] + 4)
    c.skip(rows[~(v4 | v6)], "non_ip:loopback_family")


def decode_loop(c: Cursor, rows: np.ndarray) -> None:
    decode_null(c, rows, network_order=True)


def decode_raw(c: Cursor, rows: np.ndarray) -> None:
    """An IP packet with no link header: the first nibble says which version."""
    pos = c.pos[rows]
    ok = pos < c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    version = u8(c, pos) >> 4
    c.move(rows[version == 4], Layer.IPV4)
    c.move(rows[version == 6], Layer.IPV6)
    c.skip(rows[(version != 4) & (version != 6)], "malformed_ip_version")
