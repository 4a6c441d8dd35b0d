"""Teredo (RFC 4380): IPv6 in UDP, optionally behind authentication and origin indications.

On port 3544 a datagram is taken as Teredo whenever it decodes; on any other port (a relay
on a port of its own) only when it has Teredo's shape, as Zeek's Teredo analyzer finds it:
the optional indications, then an IPv6 header whose payload length fills the datagram
exactly, with a Teredo address (2001:0::/32) on one side — every Teredo client has one
(RFC 4380 §4).  Random bytes, DNS, RTP and QUIC meet all three by chance about once in 2^50.
``_fastpath.c`` (``looks_like_teredo``) applies the same test to leave such datagrams here.
"""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u8, u16, u32

AUTHENTICATION = 0x0001
AUTHENTICATION_FIXED = 13  # indication type, id length, auth length, 8-byte nonce, confirmation
ORIGIN = 0x0000
ORIGIN_SIZE = 8
IPV6_HEADER = 40
SMALLEST = IPV6_HEADER
TEREDO_PREFIX = 0x20010000  # the first 32 bits of a Teredo address
SOURCE, DESTINATION = 8, 24  # offsets of the addresses in the IPv6 header


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


def may_start(head: np.ndarray) -> np.ndarray:
    """Payloads whose first bytes (``payload_head``) could begin Teredo: an IPv6 version
    nibble, or the type of an authentication or origin indication."""
    return ((head >> np.uint64(60)) == 6) | ((head >> np.uint64(49)) == 0)


def looks_like_teredo(c: Cursor, at: np.ndarray, captured: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Which UDP payloads at ``at`` (``captured`` bytes of ``size`` on the wire, as the UDP
    header says) have Teredo's shape.  Every read is of captured bytes."""
    skip = np.zeros(len(at), dtype=np.int64)
    readable = captured >= 4
    auth = readable & (u16(c, np.where(readable, at, 0)) == AUTHENTICATION)
    skip = np.where(auth, AUTHENTICATION_FIXED + u8(c, np.where(auth, at + 2, 0)) + u8(c, np.where(auth, at + 3, 0)), 0)
    readable = skip + 2 <= captured
    origin = readable & (u16(c, np.where(readable, at + skip, 0)) == ORIGIN)
    skip = np.where(origin, skip + ORIGIN_SIZE, skip)
    whole = skip + IPV6_HEADER <= captured
    ip = np.where(whole, at + skip, 0)
    teredo_address = (u32(c, ip + SOURCE) == TEREDO_PREFIX) | (u32(c, ip + DESTINATION) == TEREDO_PREFIX)
    return whole & ((u8(c, ip) >> 4) == 6) & (IPV6_HEADER + u16(c, ip + 4) == size - skip) & teredo_address
