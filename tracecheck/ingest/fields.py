"""Vectorized reads of fixed-size fields at many offsets of one byte array at once.

``data`` is a uint8 array; ``at`` an int64 array of byte offsets.  Each function returns one
value per offset.  A multi-byte field is read with a single gather through a view of the
bytes with a stride of one (every offset is the start of a 2- or 4-byte integer), which is
several times faster than gathering byte by byte.  Callers keep offsets inside ``data``
(batches are padded for that).
"""

from __future__ import annotations

import numpy as np


def _view(data: np.ndarray, dtype: str) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    return np.ndarray(shape=(len(data) - size + 1,), dtype=dtype, buffer=data, strides=(1,))


def u16be(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return _view(data, ">u2")[at].astype(np.int64)


def u32be(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return _view(data, ">u4")[at].astype(np.int64)


def u32le(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return _view(data, "<u4")[at].astype(np.int64)


def u32(data: np.ndarray, at: np.ndarray, little: bool) -> np.ndarray:
    return u32le(data, at) if little else u32be(data, at)


def u64be(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Eight bytes big-endian as uint64 (for IPv6 address halves)."""
    return _view(data, ">u8")[at].astype(np.uint64)
