"""Linux "cooked" captures (``tcpdump -i any``): SLL (16-byte header) and SLL2 (20 bytes)."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, u16
from tracecheck.ingest.layers import ethernet

ARPHRD_NETLINK = 824


def decode_sll(c: Cursor, rows: np.ndarray) -> None:
    _decode(c, rows, header=16, protocol_at=14, hatype_at=2)


def decode_sll2(c: Cursor, rows: np.ndarray) -> None:
    _decode(c, rows, header=20, protocol_at=0, hatype_at=8)


def _decode(c: Cursor, rows: np.ndarray, header: int, protocol_at: int, hatype_at: int) -> None:
    pos = c.pos[rows]
    ok = pos + header <= c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    netlink = u16(c, pos + hatype_at) == ARPHRD_NETLINK
    c.skip(rows[netlink], "non_ip:netlink")
    rows, pos = rows[~netlink], pos[~netlink]
    protocol = u16(c, pos + protocol_at)
    # Below 0x0600 the field is a Linux packet type (802.2, 802.3, CAN ...), not an EtherType.
    linux = protocol < 0x0600
    for value in np.unique(protocol[linux]):
        c.skip(rows[linux & (protocol == value)], f"non_ip:sll_protocol_0x{int(value):04x}")
    ethernet.dispatch(c, rows[~linux], protocol[~linux], pos[~linux] + header)
