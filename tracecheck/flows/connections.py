"""Where one TCP connection on a 5-tuple ends and the next begins, as Zeek's conn.log splits them.

A key (5-tuple and tunnel) can carry many connections one after another.  Zeek starts a new
connection on a packet of the key when the old one is gone or the packet reuses the tuple:

- gone: no packet for ``tcp_inactivity_timeout`` (5 min); 5 s after the close was complete
  (``tcp_close_delay``: FIN from both sides, or from one side while the other never sent;
  ``tcp_reset_delay``: a RST); 5 s after a SYN the other side never answered
  (``tcp_attempt_delay``, a connection attempt);
- reused: a SYN (without ACK) after either side closed (FIN or RST), or with another initial
  sequence number than the connection's SYN (a retried connection, not a retransmitted SYN);
  a SYN into a connection that began mid-stream (no SYN, only data seen) too.

A SYN after only a SYN/ACK is the handshake seen out of order, not a new connection.  (Zeek's
``TCPSessionAdapter::IsReuse``, ``AttemptTimer``, ``ResetTimer`` and ``ConnDeleteTimer`` hold the
same rules; read, not copied.)

The rules are a state machine over each key's packets in capture order, so they run as one
loop: compiled (``_connections.c``) when tracecheck was built with a C compiler, else the
Python below, which is also the reference the tests hold the compiled loop to.
"""

from __future__ import annotations

import numpy as np

SECOND = 1_000_000_000
TCP_TIMEOUT_NS = 300 * SECOND   # tcp_inactivity_timeout
CLOSE_DELAY_NS = 5 * SECOND     # tcp_close_delay and tcp_reset_delay
ATTEMPT_DELAY_NS = 5 * SECOND   # tcp_attempt_delay
NONE = -1
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10

# A packet: one int64 row (ts_ns, tcp flags, seq, side 0/1, group).
PACKET_COLUMNS = 5
# A key's open connection: one int64 row per group, read at the start and left at the end.
OPEN, LAST_TS, ISN, CLOSE, CLOSED_TS, ATTEMPT_FROM, SYN_SIDE, SEEN = range(8)
STATE_COLUMNS = 8
# CLOSE bits: FIN from side 0, from side 1, a RST.  SEEN bits: a packet from side 0, from
# side 1, a packet other than a SYN/ACK.
FIN_0, FIN_1, RESET = 1, 2, 4
SIDE_0, SIDE_1, NOT_SYNACK = 1, 2, 4


def split_py(packets: np.ndarray, state: np.ndarray, new_flow: np.ndarray) -> None:
    """Set ``new_flow[i]`` where packet ``i`` starts a new connection; ``state`` (one row per
    group, ``STATE_COLUMNS``) goes in as each key's open connection and comes out as its last."""
    rows = state.tolist()
    for i, (ts, flags, seq, side, group) in enumerate(packets.tolist()):
        s, side = rows[group], int(side != 0)
        new = _starts_anew(s, ts, flags, seq)
        new_flow[i] = new
        if new:
            s[:] = [1, ts, NONE, 0, NONE, NONE, NONE, 0]
        _account(s, ts, flags, seq, side)
    if rows:
        state[:] = np.array(rows, dtype=np.int64)


def _later(ts: int, then: int, by: int) -> bool:
    """``ts`` more than ``by`` after ``then`` (``then`` unset: never)."""
    return then != NONE and ts > then and ts - then > by


def _starts_anew(s: list, ts: int, flags: int, seq: int) -> bool:
    if not s[OPEN] or _later(ts, s[LAST_TS], TCP_TIMEOUT_NS):
        return True
    if _later(ts, s[CLOSED_TS], CLOSE_DELAY_NS) or _later(ts, s[ATTEMPT_FROM], ATTEMPT_DELAY_NS):
        return True
    if flags & (SYN | ACK) != SYN:
        return False
    if s[CLOSE]:
        return True
    if s[ISN] != NONE:
        return seq != s[ISN]
    return bool(s[SEEN] & NOT_SYNACK)


def _account(s: list, ts: int, flags: int, seq: int, side: int) -> None:
    side_bit = SIDE_1 if side else SIDE_0
    if flags & (SYN | ACK) == SYN and s[ISN] == NONE:
        s[ISN] = seq
        if s[SEEN] == 0:  # the connection opens with this SYN: an attempt until answered
            s[ATTEMPT_FROM], s[SYN_SIDE] = ts, side
    if s[SYN_SIDE] != NONE and side != s[SYN_SIDE]:
        s[ATTEMPT_FROM] = NONE
    if flags & (SYN | ACK) != SYN | ACK:
        s[SEEN] |= NOT_SYNACK
    s[SEEN] |= side_bit
    if flags & RST:
        s[CLOSE] |= RESET
    if flags & FIN:
        s[CLOSE] |= FIN_1 if side else FIN_0
    fins = s[CLOSE] & (FIN_0 | FIN_1)
    if s[CLOSED_TS] == NONE and (s[CLOSE] & RESET or fins == FIN_0 | FIN_1 or (fins and s[SEEN] & (SIDE_0 | SIDE_1) == fins)):
        s[CLOSED_TS] = ts
    if ts > s[LAST_TS]:
        s[LAST_TS] = ts


try:
    from tracecheck.flows._connections import split
    COMPILED = True
except ImportError:  # built without a C compiler: the same loop, in Python
    split = split_py
    COMPILED = False
