"""Longest-prefix match as sorted integer ranges and ``numpy.searchsorted``.

A source's prefixes nest (an AWS /14 holds a more specific /22 of another service), so they are
first *flattened*: cut into disjoint ranges, each owned by the most specific prefix covering it.
Then one ``searchsorted`` over the range starts answers every address at once.

Keys: IPv4 as ``uint32``; IPv6 as 16 big-endian bytes (numpy ``S16``), which sort exactly as the
128-bit numbers do.  IPv4-mapped (``::ffff:a.b.c.d``) and NAT64 (``64:ff9b::a.b.c.d``) addresses
are looked up as the IPv4 address they carry: that is where the packets go.
"""

from __future__ import annotations

import functools
import itertools
import operator
import socket
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from tracecheck.errors import UserError

_V4_MAPPED = bytes(10) + b"\xff\xff"
_NAT64 = bytes.fromhex("0064ff9b0000000000000000")
_V4_MAPPED_BYTES = np.frombuffer(_V4_MAPPED, dtype=np.uint8)
_NAT64_BYTES = np.frombuffer(_NAT64, dtype=np.uint8)


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

    @classmethod
    def parse(cls, addresses: list[str]) -> "AddressKeys":
        """Parse textual addresses; anything that is not one is a UserError naming it."""
        try:
            return cls._parse_in_bulk(addresses)
        except (OSError, TypeError, ValueError):  # find which one, and say so
            return cls._parse_one_by_one(addresses)

    @classmethod
    def _parse_in_bulk(cls, addresses: list[str]) -> "AddressKeys":
        """``parse`` with the per-address work in C loops (``map``): ~2x faster than a Python loop."""
        inet_pton, af4, af6 = socket.inet_pton, socket.AF_INET, socket.AF_INET6
        is_v6 = list(map(operator.contains, addresses, itertools.repeat(":")))
        if any(is_v6):
            v6_pos = np.flatnonzero(np.array(is_v6, dtype=bool))
            v4_texts = list(itertools.compress(addresses, map(operator.not_, is_v6)))
            v4_pos = np.flatnonzero(~np.array(is_v6, dtype=bool))
            v6_texts = map(operator.itemgetter(0), map(str.partition, itertools.compress(addresses, is_v6),
                                                       itertools.repeat("%")))  # drop a zone id (fe80::1%eth0)
            raw6 = np.frombuffer(b"".join(map(functools.partial(inet_pton, af6), v6_texts)), dtype=np.uint8)
            raw6 = raw6.reshape(-1, 16)
            head = raw6[:, :12]
            carries_v4 = ((head == _V4_MAPPED_BYTES).all(axis=1) | (head == _NAT64_BYTES).all(axis=1))
        else:
            v4_texts, v4_pos = addresses, np.arange(len(addresses), dtype=np.int64)
            v6_pos, raw6, carries_v4 = np.empty(0, np.int64), np.empty((0, 16), np.uint8), np.empty(0, bool)
        v4 = np.frombuffer(b"".join(map(functools.partial(inet_pton, af4), v4_texts)), dtype=">u4")
        if carries_v4.any():  # IPv4-mapped and NAT64: looked up as the IPv4 address they carry
            v4 = np.concatenate([v4, np.ascontiguousarray(raw6[carries_v4, 12:]).view(">u4").reshape(-1)])
            v4_pos = np.concatenate([v4_pos, v6_pos[carries_v4]])
            raw6, v6_pos = raw6[~carries_v4], v6_pos[~carries_v4]
        v4 = v4.astype(np.uint32)
        v6 = np.ascontiguousarray(raw6).view("S16").reshape(-1)
        halves = np.ascontiguousarray(raw6).view(">u8").reshape(-1, 2)
        v4_order = np.argsort(v4, kind="stable")
        v6_order = np.lexsort((halves[:, 1], halves[:, 0])) if len(v6) else np.empty(0, np.int64)
        return cls(count=len(addresses), v4=v4[v4_order], v4_index=v4_pos.astype(np.int64)[v4_order],
                   v6=v6[v6_order], v6_index=v6_pos.astype(np.int64)[v6_order])

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
    """Disjoint ranges for both families; ``find`` gives each address's row, or -1."""

    def __init__(self, v4: tuple[np.ndarray, np.ndarray, np.ndarray], v6: tuple[np.ndarray, np.ndarray, np.ndarray]):
        self.v4_first, self.v4_last, self.v4_row = v4
        self.v6_first, self.v6_last, self.v6_row = v6

    def __len__(self) -> int:
        return len(self.v4_first) + len(self.v6_first)

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

    def find(self, keys: AddressKeys) -> np.ndarray:
        rows = np.full(keys.count, -1, dtype=np.int32)
        for query, index, first, last, row in (
            (keys.v4, keys.v4_index, self.v4_first, self.v4_last, self.v4_row),
            (keys.v6, keys.v6_index, self.v6_first, self.v6_last, self.v6_row),
        ):
            if len(query) == 0 or len(first) == 0:
                continue
            slot = np.searchsorted(first, query, side="right") - 1
            inside = slot >= 0
            slot_ok = np.where(inside, slot, 0)
            inside &= query <= last[slot_ok]
            rows[index[inside]] = row[slot_ok[inside]]
        return rows


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
