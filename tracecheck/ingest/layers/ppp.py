"""PPP (serial, HDLC-framed, in PPTP's GRE) and PPPoE sessions."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8, u16

PPP_IPV4 = 0x0021
PPP_IPV6 = 0x0057
PPPOE_HEADER = 6


def decode_ppp(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = pos + 2 <= c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    # HDLC address and control bytes (0xff 0x03) precede the protocol unless compressed away.
    hdlc = (u8(c, pos) == 0xFF) & (u8(c, pos + 1) == 0x03)
    pos = pos + np.where(hdlc, 2, 0)
    # Protocol-field compression: an odd first byte is a one-byte protocol number.
    short = (u8(c, pos) & 1) == 1
    protocol = np.where(short, u8(c, pos), u16(c, pos))
    _dispatch(c, rows, protocol, pos + np.where(short, 1, 2))


def decode_pppoe(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = pos + PPPOE_HEADER + 2 <= c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    _dispatch(c, rows, u16(c, pos + PPPOE_HEADER), pos + PPPOE_HEADER + 2)


def _dispatch(c: Cursor, rows: np.ndarray, protocol: np.ndarray, pos: np.ndarray) -> None:
    v4, v6 = protocol == PPP_IPV4, protocol == PPP_IPV6
    c.move(rows[v4], Layer.IPV4, pos[v4])
    c.move(rows[v6], Layer.IPV6, pos[v6])
    c.skip(rows[~(v4 | v6)], "non_ip:ppp_control")  # LCP, IPCP, PAP, CHAP ...
