"""IEEE 802.11 data frames (LINKTYPE 105) and the radiotap header before them (LINKTYPE 127):
a Wi-Fi capture in monitor mode at the agent's desk.  Zeek reads both.

Only unprotected data frames carry IP a capture can read: their header (24 bytes, 30 with a
fourth address when both DS bits are set, +2 for QoS, +4 for an HT control field), then an
LLC/SNAP header whose last two bytes are the EtherType.  Management and control frames,
protected (WPA) frames, frames without a body and A-MSDU aggregates are counted as skipped.
"""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8, u16
from tracecheck.ingest.layers import ethernet

RADIOTAP_LENGTH_AT = 2  # little-endian, the whole radiotap header

# Frame control, byte 0: type in bits 2-3, subtype in bits 4-7; byte 1: flags.
TYPE_DATA = 2
SUBTYPE_QOS = 0x08
SUBTYPE_NO_BODY = 0x04  # null data, QoS null, CF-ACK/CF-poll without data
FLAGS_TO_DS_FROM_DS = 0x03
FLAG_PROTECTED = 0x40
FLAG_ORDER = 0x80  # with QoS: an HT control field follows
QOS_AMSDU = 0x80  # QoS control, first byte: the body is an A-MSDU aggregate
HEADER = 24
FOURTH_ADDRESS = 6
QOS_CONTROL = 2
HT_CONTROL = 4
SNAP = bytes.fromhex("aaaa03000000")
SNAP_HEADER = 8  # the six bytes above, then the EtherType


def decode_radiotap(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = pos + 4 <= c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    length = u8(c, pos + RADIOTAP_LENGTH_AT).astype(np.int64) | (u8(c, pos + RADIOTAP_LENGTH_AT + 1).astype(np.int64) << 8)
    c.move(rows, Layer.IEEE80211, pos + length, need=HEADER)


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = pos + HEADER <= c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    control, flags = u8(c, pos), u8(c, pos + 1)
    kind, subtype = (control >> 2) & 0x03, (control >> 4) & 0x0F
    data = kind == TYPE_DATA
    c.skip(rows[~data], "non_ip:wlan_management_or_control")
    rows, pos, flags, subtype = rows[data], pos[data], flags[data], subtype[data]
    unreadable = ((flags & FLAG_PROTECTED) != 0) | ((subtype & SUBTYPE_NO_BODY) != 0)
    c.skip(rows[unreadable], "non_ip:wlan_protected_or_empty")
    rows, pos, flags, subtype = rows[~unreadable], pos[~unreadable], flags[~unreadable], subtype[~unreadable]
    qos = (subtype & SUBTYPE_QOS) != 0
    body = (pos + HEADER + np.where((flags & FLAGS_TO_DS_FROM_DS) == FLAGS_TO_DS_FROM_DS, FOURTH_ADDRESS, 0)
            + np.where(qos, QOS_CONTROL, 0) + np.where(qos & ((flags & FLAG_ORDER) != 0), HT_CONTROL, 0))
    ok = body + SNAP_HEADER <= c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, body, qos = rows[ok], body[ok], qos[ok]
    amsdu = qos & ((u8(c, body - QOS_CONTROL) & QOS_AMSDU) != 0)
    snap = np.ones(len(rows), dtype=bool)
    for i, byte in enumerate(SNAP):
        snap &= u8(c, body + i) == byte
    c.skip(rows[amsdu], "non_ip:wlan_amsdu")
    c.skip(rows[~amsdu & ~snap], "non_ip:llc")
    keep = ~amsdu & snap
    ethernet.dispatch(c, rows[keep], u16(c, body[keep] + SNAP_HEADER - 2), body[keep] + SNAP_HEADER)
