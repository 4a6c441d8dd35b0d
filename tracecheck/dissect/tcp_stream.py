"""One direction of a TCP connection, put back in order from its segments.

Only the start of a stream matters to tracecheck (a ClientHello, an HTTP request line, a DNS
message), so the reassembler keeps the first ``limit`` bytes and drops the rest.  Captures are
hostile input: segments may come out of order, twice, overlapping with different bytes, or
with sequence numbers that wrap past 2**32; none of that raises.

Overlaps are resolved "first seen wins": a byte, once stored, is never overwritten.  That is
what most receivers do with an in-window retransmission, and it makes the result independent
of how a retransmission was cut.
"""

from __future__ import annotations

SEQ_MOD = 1 << 32
_HALF = 1 << 31
DEFAULT_LIMIT = 64 * 1024


def seq_diff(a: int, b: int) -> int:
    """``a - b`` in sequence space: negative when ``a`` is before ``b`` (RFC 1982 style)."""
    d = (a - b) % SEQ_MOD
    return d - SEQ_MOD if d >= _HALF else d


class StreamReassembler:
    """Collects one direction's segments and hands back the in-order prefix.

    The stream starts at the initial sequence number: SYN's sequence number + 1 when the SYN
    was seen (or ``isn`` was given), else the lowest sequence number seen so far.  Without a
    SYN the start moves back when an earlier segment turns up, as long as that keeps the data
    already held within ``limit``.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT, isn: int | None = None) -> None:
        if limit <= 0:
            raise ValueError("limit must be positive")
        self.limit = limit
        self._base: int | None = None if isn is None else isn % SEQ_MOD
        self._anchored = isn is not None  # True once the start is known for sure (SYN)
        self._data = bytearray()  # bytes from the stream start, holes are zeros
        self._have = bytearray()  # 1 where _data holds a real byte
        self.truncated = False
        """True when bytes at or past ``limit`` were dropped."""
        self.segments = 0
        """Segments given to ``add`` (retransmissions included)."""

    @property
    def isn(self) -> int | None:
        """Sequence number of the stream's first byte, if known or guessed."""
        return self._base

    @property
    def syn_seen(self) -> bool:
        return self._anchored

    def add(self, seq: int, payload: bytes, syn: bool = False) -> None:
        """Store a segment; ``syn`` when the segment had the SYN flag (its data starts at seq+1)."""
        self.segments += 1
        seq %= SEQ_MOD
        if syn:
            seq = (seq + 1) % SEQ_MOD
            if not self._anchored:
                self._anchored = True
                self._move_base(seq)
        if not payload:
            return
        if self._base is None:
            self._base = seq
        offset = seq_diff(seq, self._base)
        if offset < 0 and not self._anchored and -offset < self.limit:
            self._move_base(seq)
            offset = 0
        if offset < 0:  # before the known start: keep only the part after it
            payload = payload[-offset:]
            offset = 0
        self._store(offset, payload)

    def contiguous(self) -> bytes:
        """The bytes from the stream start up to the first hole (at most ``limit``)."""
        hole = self._have.find(0)
        return bytes(self._data if hole < 0 else self._data[:hole])

    def buffered(self) -> int:
        """Bytes held, holes excluded."""
        return len(self._have) - self._have.count(0)

    def _store(self, offset: int, payload: bytes) -> None:
        end = offset + len(payload)
        if end > self.limit:
            self.truncated = True
            end = self.limit
        if offset >= end:
            return
        if end > len(self._data):
            grow = end - len(self._data)
            self._data.extend(bytes(grow))
            self._have.extend(bytes(grow))
        pos = offset
        while pos < end:  # copy each run of not-yet-held bytes; held bytes stay (first wins)
            start = self._have.find(0, pos, end)
            if start < 0:
                break
            stop = self._have.find(1, start, end)
            if stop < 0:
                stop = end
            self._data[start:stop] = payload[start - offset : stop - offset]
            self._have[start:stop] = b"\x01" * (stop - start)
            pos = stop

    def _move_base(self, new_base: int) -> None:
        """Re-express held bytes relative to a new start, dropping what falls outside."""
        if self._base is None:
            self._base = new_base
            return
        shift = seq_diff(self._base, new_base)  # > 0: the new start is earlier
        self._base = new_base
        if shift > 0:
            pad = bytes(min(shift, self.limit))
            self._data[:0] = pad
            self._have[:0] = pad
            if len(self._data) > self.limit:
                if self._have.find(1, self.limit) >= 0:
                    self.truncated = True
                del self._data[self.limit :]
                del self._have[self.limit :]
        elif shift < 0:
            del self._data[:-shift]
            del self._have[:-shift]
