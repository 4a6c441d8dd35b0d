"""Classic libpcap files: micro- or nanosecond timestamps, either byte order.

Format: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html
A 24-byte file header, then records of a 16-byte header (ts_sec, ts_frac, caplen, wirelen)
followed by the frame.  Records are variable-length, so finding them is a walk (``walk.py``);
everything after the walk is vectorized over the block.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

import numpy as np

from tracecheck.ingest import walk
from tracecheck.ingest.records import BLOCK_SIZE, MAX_FRAME, BlockPool, BlockRead, ReadStats, RecordBatch, make_batch

# magic as read little-endian -> (file is little-endian, nanosecond timestamps, record header size)
MAGICS = {
    0xA1B2C3D4: (True, False, 16),
    0xA1B23C4D: (True, True, 16),
    0xD4C3B2A1: (False, False, 16),
    0x4D3CB2A1: (False, True, 16),
    0xA1B2CD34: (True, False, 24),  # Kuznetsov's "modified" pcap (extra ifindex/protocol/type)
    0x34CDB2A1: (False, False, 24),
}
FILE_HEADER = 24


def is_pcap(head: bytes) -> bool:
    return len(head) >= 4 and struct.unpack("<I", head[:4])[0] in MAGICS


def format_name(head: bytes) -> str:
    little, nano, rec = MAGICS[struct.unpack("<I", head[:4])[0]]
    return "pcap-ns" if nano else ("pcap-modified" if rec == 24 else "pcap")


def read_pcap(stream: BinaryIO, stats: ReadStats, first_record: int = 0) -> Iterator[RecordBatch]:
    """Yield the records of a pcap file whose first bytes have not been consumed yet."""
    header = stream.read(FILE_HEADER)
    little, nano, record_header = MAGICS[struct.unpack("<I", header[:4])[0]]
    if len(header) < FILE_HEADER:
        stats.warnings.append("file ends inside the pcap file header")
        return
    endian = "<" if little else ">"
    network = struct.unpack(endian + "I", header[20:24])[0]
    linktype = network & 0x03FFFFFF  # the top bits may carry an FCS length
    stats.saw_linktype(linktype)
    frac_to_ns = 1 if nano else 1000

    carry = b""
    record = first_record
    file_pos = FILE_HEADER  # file offset of the block's first byte, for messages
    want = BLOCK_SIZE
    pool = BlockPool()
    records_pool = BlockPool(least=walk.capacity_bytes(BLOCK_SIZE + 2 * MAX_FRAME, record_header, walk.PCAP_COLUMNS))
    while True:
        block, eof, records, count, pos, caplen = _read_and_walk(stream, carry, want, pool, records_pool,
                                                                 record_header, little)
        length = len(block)
        last = length - record_header
        if count:
            yield _batch(block, records[:count], frac_to_ns, record_header, linktype, record, stats)
            record += count
        if pos <= last and caplen > MAX_FRAME:
            stats.records += 1
            stats.skipped["corrupt_record_header"] += 1
            stats.warnings.append(
                f"record {record + 1} at byte {file_pos + pos} claims a {caplen}-byte frame; "
                "the file is corrupt from there on, stopped reading"
            )
            return
        carry = block[pos:]
        file_pos += pos
        if eof:
            if carry:
                stats.records += 1
                stats.skipped["truncated_record"] += 1
                stats.warnings.append(f"the last record (byte {file_pos}, {len(carry)} of its bytes) is cut short: the file is truncated")
            return
        # A frame larger than what is left of the block: read enough to hold it whole.
        want = max(BLOCK_SIZE, record_header + caplen - len(carry)) if pos <= last else BLOCK_SIZE


def _read_and_walk(stream, carry, want: int, pool: BlockPool, records_pool: BlockPool, record_header: int,
                   little: bool):
    """A block and the walk of its records, each chunk walked as it is read (``BlockRead``)."""
    reading = BlockRead(stream, carry, want, pool)
    records = walk.capacity(reading.end, record_header, walk.PCAP_COLUMNS, records_pool)
    count, pos, caplen = 0, 0, 0
    while reading.read_chunk():
        walked, pos, caplen = walk.pcap_records(reading.data, records[count:], pos, record_header, little, MAX_FRAME)
        count += walked
        if caplen > MAX_FRAME and pos <= reading.size - record_header:
            break  # corrupt from here: nothing after it is read
    return reading.data, reading.eof, records, count, pos, caplen


def _batch(block, records, frac_to_ns, record_header, linktype, record, stats) -> RecordBatch:
    starts, ts_sec, ts_frac, caplen, wirelen = records.T
    ts_ns = ts_sec * 1_000_000_000 + ts_frac * frac_to_ns
    stats.records += len(starts)
    stats.saw_times(ts_ns)
    return make_batch(block, starts + record_header, caplen, np.maximum(wirelen, caplen), ts_ns,
                      np.full(len(starts), linktype), record)
