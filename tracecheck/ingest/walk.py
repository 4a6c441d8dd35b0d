"""The record walk: where each record of a block starts.

pcap records and pcapng blocks are variable-length and each header says where the next one
begins, so finding them is a loop over records — the one per-record loop of the readers;
everything after it is vectorized.  It runs compiled (``_walk.c``, built when tracecheck is
installed) and falls back to the Python below, which also serves as the reference the tests
hold the compiled walk to.  Both write into a caller's int64 array sized for the worst case
(``capacity``) and return how many records they noted, with the header fields too, since
they have them in hand (reading them again later would be a second pass over the block).
"""

from __future__ import annotations

import struct

import numpy as np

_pcap_header = {True: struct.Struct("<IIII").unpack_from, False: struct.Struct(">IIII").unpack_from}
_u32x2 = {True: struct.Struct("<II").unpack_from, False: struct.Struct(">II").unpack_from}
_epb_fields = {True: struct.Struct("<IIIII").unpack_from, False: struct.Struct(">IIIII").unpack_from}
ENHANCED_PACKET = 6


def capacity(block_length: int, smallest_record: int, columns: int = 1, pool=None) -> np.ndarray:
    """An output array no walk over ``block_length`` bytes can overrun (from ``pool``, a
    ``records.BlockPool``, when given)."""
    rows = block_length // smallest_record + 1
    shape = (rows, columns) if columns > 1 else rows
    if pool is None:
        return np.empty(shape, dtype=np.int64)
    return pool.array(capacity_bytes(block_length, smallest_record, columns)).view(np.int64).reshape(shape)


def capacity_bytes(block_length: int, smallest_record: int, columns: int = 1) -> int:
    """The size of ``capacity``'s array."""
    return (block_length // smallest_record + 1) * columns * 8


PCAP_COLUMNS = 5
"""What ``pcap_records`` notes of each record: offset, ts_sec, ts_frac, caplen, wirelen."""


def pcap_records_py(block, records: np.ndarray, pos: int, header_size: int, little: bool,
                    max_frame: int) -> tuple[int, int, int]:
    """The whole pcap records from ``pos`` on, one row of ``records`` each (``PCAP_COLUMNS``);
    stop at the first record cut by the block's end or claiming more than ``max_frame`` bytes.
    Returns (records noted, where the walk stopped, the caplen read there or 0)."""
    header_of = _pcap_header[bool(little)]
    length = len(block)
    last = length - header_size
    room = records.size // PCAP_COLUMNS
    noted: list[tuple] = []
    note = noted.append
    caplen = 0
    while pos <= last and len(noted) < room:
        ts_sec, ts_frac, caplen, wirelen = header_of(block, pos)
        if caplen > max_frame or pos + header_size + caplen > length:
            break
        note((pos, ts_sec, ts_frac, caplen, wirelen))
        pos += header_size + caplen
        caplen = 0
    if noted:
        records.reshape(-1)[: len(noted) * PCAP_COLUMNS] = np.array(noted, dtype=np.int64).reshape(-1)
    return len(noted), pos, caplen


PCAPNG_COLUMNS = 7
"""What ``pcapng_packets`` notes of each enhanced packet block: offset, length, interface,
ts_high, ts_low, caplen, wirelen."""


def pcapng_packets_py(block, records: np.ndarray, pos: int, little: bool, min_length: int,
                      max_block: int) -> tuple[int, int]:
    """Consecutive enhanced packet blocks from ``pos`` on, one row of ``records`` each
    (``PCAPNG_COLUMNS``); stop at the first block of another type, of a length not a multiple
    of 4 or outside ``min_length``..``max_block``, cut by the block's end, or when ``records``
    is full.  Returns (noted, stop)."""
    head = _u32x2[bool(little)]
    fields = _epb_fields[bool(little)]
    length = len(block)
    room = records.size // PCAPNG_COLUMNS
    noted: list[tuple] = []
    while pos + 12 <= length and len(noted) < room:
        btype, size = head(block, pos)
        if btype != ENHANCED_PACKET or size % 4 or not min_length <= size <= max_block or pos + size > length:
            break
        noted.append((pos, size, *fields(block, pos + 8)))
        pos += size
    if noted:
        records.reshape(-1)[: len(noted) * PCAPNG_COLUMNS] = np.array(noted, dtype=np.int64).reshape(-1)
    return len(noted), pos


try:
    from tracecheck.ingest._walk import pcap_records, pcapng_packets
    COMPILED = True
except ImportError:  # built without a C compiler: the same walk, in Python
    pcap_records, pcapng_packets = pcap_records_py, pcapng_packets_py
    COMPILED = False
