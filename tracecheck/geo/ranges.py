"""Longest-prefix match as sorted integer ranges and ``numpy.searchsorted``.

A source's prefixes nest (an AWS /14 holds a more specific /22 of another service), so they are
first *flattened*: cut into disjoint ranges, each owned by the most specific prefix covering it.
Then one ``searchsorted`` over the range starts (and gaps' starts) answers every address at once.

Keys: IPv4 as ``uint32``; IPv6 as 16 big-endian bytes (numpy ``S16``), which sort exactly as the
128-bit numbers do.  IPv4-mapped (``::ffff:a.b.c.d``) and NAT64 (``64:ff9b::a.b.c.d``) addresses
are looked up as the IPv4 address they carry: that is where the packets go.
"""

from __future__ import annotations

import functools
import itertools
import operator
import socket
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tracecheck.errors import UserError

_V4_MAPPED = bytes(10) + b"\xff\xff"
_NAT64 = bytes.fromhex("0064ff9b0000000000000000")
_V4_MAPPED_BYTES = np.frombuffer(_V4_MAPPED, dtype=np.uint8)
_NAT64_BYTES = np.frombuffer(_NAT64, dtype=np.uint8)
_NEWLINE, _COLON, _PERCENT, _DOT = (ord(c) for c in "\n:%.")
_QUAD_WIDTH = 16  # "255.255.255.255" and a byte to spare: a row is two uint64 words
_BEFORE = 3  # an octet's three digits are read back from its end, even where it has fewer
_QUAD_COLUMNS = np.arange(_QUAD_WIDTH, dtype=np.uint8)
_BYTE_SUM = np.uint64(0x0101010101010101)
_OCTET_LEAST = np.array([0, 0, 10, 100, 0], dtype=np.int16)
"""By an octet's number of digits (4: more), its least value: "01" is not an octet to inet_pton."""


@dataclass(frozen=True)
class AddressKeys:
    """Addresses as search keys, split by family, each family sorted for cache-friendly search."""

    count: int
    v4: np.ndarray
    """uint32 keys, ascending."""
    v4_index: np.ndarray
    """Position in the caller's list of each ``v4`` key."""
    v6: np.ndarray
    """S16 keys, ascending."""
    v6_index: np.ndarray

    @functools.cached_property
    def order(self) -> np.ndarray:
        """The caller's position of each key, IPv4 ones first: the keys' own order."""
        return np.concatenate([self.v4_index, self.v6_index])

    @classmethod
    def parse(cls, addresses: list[str]) -> "AddressKeys":
        """Parse textual addresses; anything that is not one is a UserError naming it."""
        try:
            return cls._parse_in_bulk(addresses)
        except (OSError, TypeError, ValueError):  # find which one, and say so
            return cls._parse_one_by_one(addresses)

    @classmethod
    def _parse_in_bulk(cls, addresses: list[str]) -> "AddressKeys":
        """``parse`` with no Python step per dotted quad (most addresses): numpy reads them all
        from one joined buffer.  IPv6, and anything ``_dotted_quads`` is unsure of, go through
        ``inet_pton`` (in C loops: ``map``)."""
        count = len(addresses)
        if count == 0:
            return cls._parse_one_by_one(addresses)
        # "\n" ends each address; the ones in front and the padding let ``_dotted_quads`` read a
        # few bytes before and _QUAD_WIDTH after any address
        buffer = np.frombuffer(("\n" * _BEFORE + "\n".join(addresses) + "\n" * _QUAD_WIDTH).encode("ascii"),
                               dtype=np.uint8)
        ends = np.flatnonzero(buffer == _NEWLINE)
        if len(ends) != _BEFORE + count - 1 + _QUAD_WIDTH:
            raise ValueError("a newline inside an address")
        starts = ends[_BEFORE - 1:_BEFORE - 1 + count] + 1
        ends = ends[_BEFORE:_BEFORE + count]
        lengths = ends - starts
        is_v6 = np.logical_or.reduceat(buffer == _COLON, starts)
        v4_pos = np.flatnonzero(~is_v6)
        v4 = np.zeros(len(v4_pos), dtype=np.uint32)
        short = np.flatnonzero(lengths[v4_pos] < _QUAD_WIDTH)
        v4[short], read = _dotted_quads(buffer, starts[v4_pos[short]], lengths[v4_pos[short]])
        unread = np.ones(len(v4_pos), dtype=bool)
        unread[short[read]] = False
        if unread.any():  # not a plain dotted quad: inet_pton says what it is, or raises
            texts = map(addresses.__getitem__, v4_pos[unread].tolist())
            v4[unread] = np.frombuffer(b"".join(map(functools.partial(socket.inet_pton, socket.AF_INET), texts)), dtype=">u4")
        v6_pos = np.flatnonzero(is_v6)
        v6_texts: Iterable[str] = map(addresses.__getitem__, v6_pos.tolist())
        if (buffer == _PERCENT).any():  # drop a zone id (fe80::1%eth0)
            v6_texts = map(operator.itemgetter(0), map(str.partition, v6_texts, itertools.repeat("%")))
        raw6 = np.frombuffer(b"".join(map(functools.partial(socket.inet_pton, socket.AF_INET6), v6_texts)), dtype=np.uint8)
        raw6 = raw6.reshape(-1, 16)
        head = raw6[:, :12]
        carries_v4 = (head == _V4_MAPPED_BYTES).all(axis=1) | (head == _NAT64_BYTES).all(axis=1)
        if carries_v4.any():  # IPv4-mapped and NAT64: looked up as the IPv4 address they carry
            v4 = np.concatenate([v4, np.ascontiguousarray(raw6[carries_v4, 12:]).view(">u4").reshape(-1)])
            v4_pos = np.concatenate([v4_pos, v6_pos[carries_v4]])
            raw6, v6_pos = raw6[~carries_v4], v6_pos[~carries_v4]
        # sorted by (key, position): one flat sort of both packed into a uint64, ~10x a stable argsort
        v4_sorted = np.sort((v4.astype(np.uint64) << np.uint64(32)) | v4_pos.astype(np.uint64))
        v6 = np.ascontiguousarray(raw6).view("S16").reshape(-1)
        return cls(count=count, v4=(v4_sorted >> np.uint64(32)).astype(np.uint32),
                   v4_index=(v4_sorted & np.uint64(0xFFFFFFFF)).astype(np.int64),
                   v6=v6, v6_index=v6_pos.astype(np.int64))._v6_sorted()

    def _v6_sorted(self) -> "AddressKeys":
        halves = np.ascontiguousarray(self.v6).view(">u8").reshape(-1, 2)
        order = np.argsort(halves[:, 0])
        if (np.diff(halves[order, 0]) == 0).any():  # the high halves do not settle it
            order = np.lexsort((halves[:, 1], halves[:, 0]))
        return replace(self, v6=self.v6[order], v6_index=self.v6_index[order])

    @classmethod
    def _parse_one_by_one(cls, addresses: list[str]) -> "AddressKeys":
        v4_raw, v4_pos, v6_raw, v6_pos = [], [], [], []
        inet_pton, af4, af6 = socket.inet_pton, socket.AF_INET, socket.AF_INET6
        for position, text in enumerate(addresses):
            try:
                if ":" in text:
                    raw = inet_pton(af6, text.partition("%")[0])  # drop a zone id (fe80::1%eth0)
                    if raw[:12] == _V4_MAPPED or raw[:12] == _NAT64:
                        v4_raw.append(raw[12:])
                        v4_pos.append(position)
                    else:
                        v6_raw.append(raw)
                        v6_pos.append(position)
                else:
                    v4_raw.append(inet_pton(af4, text))
                    v4_pos.append(position)
            except (OSError, TypeError):
                raise UserError(f"{text!r} is not an IP address") from None
        v4 = np.frombuffer(b"".join(v4_raw), dtype=">u4").astype(np.uint32)
        v6 = np.frombuffer(b"".join(v6_raw), dtype="S16") if v6_raw else np.empty(0, dtype="S16")
        v4_order, v6_order = np.argsort(v4, kind="stable"), np.argsort(v6, kind="stable")
        return cls(
            count=len(addresses),
            v4=v4[v4_order], v4_index=np.asarray(v4_pos, dtype=np.int64)[v4_order],
            v6=v6[v6_order], v6_index=np.asarray(v6_pos, dtype=np.int64)[v6_order],
        )


def _dotted_quads(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The addresses written ``a.b.c.d`` in ``buffer`` (bytes) at ``starts``, as uint32, and
    which of them are exactly what ``inet_pton`` accepts (four decimal octets, none over 255,
    no leading zeros); the others' values are meaningless.  ``lengths`` are below 16, and
    ``buffer`` holds ``_BEFORE`` bytes before and ``_QUAD_WIDTH`` from every start."""
    text = sliding_window_view(buffer, _QUAD_WIDTH)[starts]  # a row of 16 bytes per address
    inside = _QUAD_COLUMNS < lengths.astype(np.uint8)[:, None]
    code = text - np.uint8(_DOT)  # ".": 0, "/": 1, digits: 2-11, anything else: more (it wraps)
    dot = inside & (code == 0)
    stray = inside & ((code > 11) | (code == 1))
    # per-row "any" and "count" without a reduction over 16 columns: a row is two uint64 words
    stray_words, dot_words = stray.view(np.uint64), dot.view(np.uint64)
    dots = ((dot_words[:, 0] + dot_words[:, 1]) * _BYTE_SUM) >> np.uint64(56)
    rows = np.flatnonzero(((stray_words[:, 0] | stray_words[:, 1]) == 0) & (dots == 3))
    if len(rows) < len(starts):
        dot = dot[rows]
    dot_at = (np.flatnonzero(dot) & (_QUAD_WIDTH - 1)).reshape(-1, 3)
    start, exact, value = starts[rows], np.ones(len(rows), dtype=bool), np.zeros(len(rows), dtype=np.int64)
    begin = 0
    for k in range(4):  # octet k: from ``begin`` to its dot (or the address's end)
        end = dot_at[:, k] if k < 3 else lengths[rows]
        digits = end - begin
        after = start + end  # the byte after the octet, in ``buffer``
        ones, tens, hundreds = (buffer[after - back].astype(np.int16) - ord("0") for back in (1, 2, 3))
        octet = ones + np.where(digits >= 2, tens * 10, 0) + np.where(digits >= 3, hundreds * 100, 0)
        exact &= (digits >= 1) & (digits <= 3) & (octet <= 255) & (octet >= _OCTET_LEAST[np.minimum(digits, 4)])
        value = (value << 8) | octet
        begin = end + 1
    values = np.zeros(len(starts), dtype=np.uint32)
    values[rows] = value
    read = np.zeros(len(starts), dtype=bool)
    read[rows] = exact
    return values, read


def flatten(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Nested ``(first, last, row)`` ranges -> disjoint ranges owned by the innermost range.

    Input ranges must nest or be disjoint (CIDR blocks always do) and hold no duplicates.
    A stack of the ranges that enclose the current position does it in one sorted pass.
    """
    out: list[tuple[int, int, int]] = []
    stack: list[tuple[int, int]] = []  # (last, row) of enclosing ranges, innermost on top
    position = 0  # first address not yet given to a range
    for first, last, row in sorted(ranges, key=lambda r: (r[0], -r[1])):
        while stack and stack[-1][0] < first:
            end, owner = stack.pop()
            if position <= end:
                out.append((position, end, owner))
                position = end + 1
        if stack and position < first:
            out.append((position, first - 1, stack[-1][1]))
        position = first
        stack.append((last, row))
    while stack:
        end, owner = stack.pop()
        if position <= end:
            out.append((position, end, owner))
            position = end + 1
    return out


class RangeTable:
    """Disjoint ranges for both families; ``find`` gives each address's row, or -1.

    Kept as *bounds*: the ranges' first addresses and the first address of every gap between
    them (row -1), from address 0 on, so that the last bound at or below an address is its answer:
    one ``searchsorted`` and one gather, with no check against the range's end.
    """

    def __init__(self, v4: tuple[np.ndarray, np.ndarray, np.ndarray], v6: tuple[np.ndarray, np.ndarray, np.ndarray]):
        """``v4``, ``v6``: (first, last, row) of each range, ascending by first; IPv4 as uint32,
        IPv6 as S16 keys."""
        self._ranges = len(v4[0]) + len(v6[0])
        v4_first, v4_last, v4_row = v4
        after = v4_last.astype(np.uint64) + np.uint64(1)
        self.v4_bounds, self.v4_rows = _with_gaps(v4_first.astype(np.uint32), (after & np.uint64(0xFFFFFFFF)).astype(np.uint32),
                                                  after <= np.uint64(0xFFFFFFFF), v4_row)
        v6_first, v6_last, v6_row = v6
        last = np.ascontiguousarray(v6_last, dtype="S16").view(">u8").reshape(-1, 2).astype(np.uint64)
        lo = last[:, 1] + np.uint64(1)  # + 1 with a carry into the high half
        hi = last[:, 0] + (lo == 0).astype(np.uint64)
        self.v6_bounds, self.v6_rows = _with_gaps(np.asarray(v6_first, dtype="S16"), v6_keys(hi, lo),
                                                  (lo != 0) | (last[:, 0] != np.uint64(2**64 - 1)), v6_row)

    def __len__(self) -> int:
        return self._ranges

    @classmethod
    def from_networks(cls, networks: Iterable[tuple[str, int]]) -> "RangeTable":
        """Build from ``(prefix text, row)``; for a prefix given twice, the first row wins.

        A prefix that does not parse raises ``ValueError`` naming it.
        """
        v4_text, v4_rows, v6_text, v6_rows = [], [], [], []
        for text, row in networks:
            if ":" in text:
                v6_text.append(text)
                v6_rows.append(row)
            else:
                v4_text.append(text)
                v4_rows.append(row)
        v4 = _v4_ranges(v4_text, np.asarray(v4_rows, dtype=np.int32))
        v6 = _v6_ranges(v6_text, np.asarray(v6_rows, dtype=np.int32))
        return cls(v4, v6)

    @classmethod
    def from_bounds(cls, v4_bounds: np.ndarray, v4_rows: np.ndarray, v6_bounds: np.ndarray, v6_rows: np.ndarray,
                    ranges: int) -> "RangeTable":
        """A table from the bounds another one computed (``arrays()``), e.g. read back from a cache."""
        table = cls.__new__(cls)
        table.v4_bounds, table.v4_rows, table.v6_bounds, table.v6_rows = v4_bounds, v4_rows, v6_bounds, v6_rows
        table._ranges = ranges
        return table

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``from_bounds`` needs, by name."""
        return {"v4_bounds": self.v4_bounds, "v4_rows": self.v4_rows, "v6_bounds": self.v6_bounds,
                "v6_rows": self.v6_rows, "ranges": np.asarray(self._ranges, dtype=np.int64)}

    def find(self, keys: AddressKeys) -> np.ndarray:
        """The row of each address, in the caller's order."""
        rows = np.empty(keys.count, dtype=np.int32)
        rows[keys.order] = self.find_sorted(keys)
        return rows

    def find_sorted(self, keys: AddressKeys) -> np.ndarray:
        """The row of each address in the keys' own order (``keys.order``): no scattering."""
        if not self._ranges:
            return np.full(keys.count, -1, dtype=np.int32)
        return np.concatenate([_owners(self.v4_bounds, self.v4_rows, keys.v4),
                               _owners(self.v6_bounds, self.v6_rows, keys.v6)])


def _owners(bounds: np.ndarray, owner: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The row of each of ``query`` (ascending): search the shorter of the two in the other."""
    if len(bounds) < len(query):  # the queries from each bound on are its: one run each
        first = np.searchsorted(query, bounds, side="left")
        return np.repeat(owner, np.diff(first, append=len(query)))
    return owner[np.searchsorted(bounds, query, side="right") - 1]


def _with_gaps(first: np.ndarray, after: np.ndarray, ends_before_top: np.ndarray,
               row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds and their rows: each range's first address, then the address ``after`` it where
    a gap follows (row -1); and a gap from address 0 if the first range starts later."""
    count = len(first)
    bounds = np.empty(2 * count + 1, dtype=first.dtype)
    rows = np.full(2 * count + 1, -1, dtype=np.int32)
    bounds[0] = np.zeros(1, dtype=first.dtype)[0]  # the lowest key: 0, or 16 zero bytes
    bounds[1::2], bounds[2::2], rows[1::2] = first, after, row
    keep = np.ones(2 * count + 1, dtype=bool)
    keep[0] = count == 0 or first[0] != bounds[0]
    gap = ends_before_top.copy()  # no gap after a range that reaches the last address
    gap[:-1] &= after[:-1] < first[1:]
    keep[2::2] = gap
    return bounds[keep], rows[keep]


def _split(texts: list[str], family: int, bits: int) -> tuple[bytes, np.ndarray]:
    """Packed address bytes and prefix lengths of ``texts`` (``a.b.c.d/len``)."""
    raw, lengths = [], []
    for text in texts:
        address, _, length = text.strip().partition("/")
        try:
            raw.append(socket.inet_pton(family, address))
            prefixlen = int(length) if length else bits
        except (OSError, ValueError):
            raise ValueError(f"{text!r} is not an IP prefix") from None
        if not 0 <= prefixlen <= bits:
            raise ValueError(f"{text!r} has a prefix length outside 0-{bits}")
        lengths.append(prefixlen)
    return b"".join(raw), np.asarray(lengths, dtype=np.int64)


def _first_occurrences(key_columns: list[np.ndarray]) -> np.ndarray:
    """Indices of the first occurrence of each distinct row of ``key_columns``, in input order."""
    keys = np.stack(key_columns, axis=1)
    as_bytes = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).reshape(-1)
    _, first = np.unique(as_bytes, return_index=True)
    return np.sort(first)


def _flattened(firsts, lasts, rows, as_int, from_int) -> tuple:
    ranges = flatten(list(zip(map(as_int, firsts), map(as_int, lasts), rows.tolist())))
    if not ranges:
        return [], [], []
    f, l, r = zip(*ranges)
    return from_int(f), from_int(l), np.asarray(r, dtype=np.int32)


def _v4_ranges(texts: list[str], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not texts:
        return np.empty(0, np.uint32), np.empty(0, np.uint32), np.empty(0, np.int32)
    raw, lengths = _split(texts, socket.AF_INET, 32)
    address = np.frombuffer(raw, dtype=">u4").astype(np.uint64)
    host = (np.uint64(1) << (32 - lengths).astype(np.uint64)) - np.uint64(1)
    first, last = address & ~host & np.uint64(0xFFFFFFFF), address | host
    keep = _first_occurrences([first, last])
    f, l, r = _flattened(first[keep], last[keep], rows[keep], int, lambda v: np.asarray(v, dtype=np.uint32))
    if len(r) == 0:
        return np.empty(0, np.uint32), np.empty(0, np.uint32), np.empty(0, np.int32)
    return f, l, r


def _v6_ranges(texts: list[str], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not texts:
        return np.empty(0, "S16"), np.empty(0, "S16"), np.empty(0, np.int32)
    raw, lengths = _split(texts, socket.AF_INET6, 128)
    halves = np.frombuffer(raw, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    last_hi, last_lo = v6_last(halves[:, 0], halves[:, 1], lengths)
    first_hi, first_lo = _v6_first(halves[:, 0], halves[:, 1], lengths)
    keep = _first_occurrences([first_hi, first_lo, last_hi, last_lo])
    firsts, lasts = v6_keys(first_hi, first_lo)[keep], v6_keys(last_hi, last_lo)[keep]
    as_int = lambda key: int.from_bytes(key.ljust(16, b"\0"), "big")  # noqa: E731 - numpy drops trailing NULs
    as_keys = lambda values: np.frombuffer(b"".join(v.to_bytes(16, "big") for v in values), dtype="S16")  # noqa: E731
    f, l, r = _flattened(firsts, lasts, rows[keep], as_int, as_keys)
    if len(r) == 0:
        return np.empty(0, "S16"), np.empty(0, "S16"), np.empty(0, np.int32)
    return f, l, r


def v6_keys(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Two uint64 halves -> S16 keys (big-endian bytes sort as the 128-bit numbers do)."""
    halves = np.empty((len(hi), 2), dtype=">u8")
    halves[:, 0], halves[:, 1] = hi, lo
    return halves.view("S16").reshape(-1)


def v6_last(hi: np.ndarray, lo: np.ndarray, prefixlen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last address of each IPv6 prefix, as uint64 halves."""
    host = 128 - prefixlen.astype(np.int64)
    ones = np.uint64(2**64 - 1)
    lo_bits = np.minimum(host, 64).astype(np.uint64)
    hi_bits = np.clip(host - 64, 0, 64).astype(np.uint64)
    # a shift by 64 is undefined in C, so full halves are handled apart
    lo_mask = np.where(lo_bits >= 64, ones, (np.uint64(1) << (lo_bits % np.uint64(64))) - np.uint64(1))
    hi_mask = np.where(hi_bits >= 64, ones, (np.uint64(1) << (hi_bits % np.uint64(64))) - np.uint64(1))
    return hi | hi_mask, lo | lo_mask


def _v6_first(hi: np.ndarray, lo: np.ndarray, prefixlen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first address of each IPv6 prefix (host bits cleared), as uint64 halves."""
    last_hi, last_lo = v6_last(np.zeros_like(hi), np.zeros_like(lo), prefixlen)  # the host masks
    return hi & ~last_hi, lo & ~last_lo


def network_text(bits: int, first: int, prefixlen: int) -> str:
    """``(32, 0x03f80000, 14)`` -> ``"3.248.0.0/14"``."""
    if bits == 32:
        return f"{socket.inet_ntop(socket.AF_INET, first.to_bytes(4, 'big'))}/{prefixlen}"
    return f"{socket.inet_ntop(socket.AF_INET6, first.to_bytes(16, 'big'))}/{prefixlen}"
