"""Vectorized reads of fixed-size fields at many offsets of one byte array at once.

``data`` is a uint8 array; ``at`` an int64 array of byte offsets.  Each function returns one
value per offset.  Callers keep offsets inside ``data`` (batches are padded for that).
"""

from __future__ import annotations

import numpy as np


def u8(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return data[at].astype(np.int64)


def u16be(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (data[at].astype(np.int64) << 8) | data[at + 1]


def u16le(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (data[at + 1].astype(np.int64) << 8) | data[at]


def u32be(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (u16be(data, at) << 16) | u16be(data, at + 2)


def u32le(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (u16le(data, at + 2) << 16) | u16le(data, at)


def u32(data: np.ndarray, at: np.ndarray, little: bool) -> np.ndarray:
    return u32le(data, at) if little else u32be(data, at)


def u64be(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Eight bytes big-endian as uint64 (for IPv6 address halves)."""
    hi = u32be(data, at).astype(np.uint64)
    lo = u32be(data, at + 4).astype(np.uint64)
    return (hi << np.uint64(32)) | lo
