"""pcapng files: several sections (each with its own byte order), several interfaces with
their own link types and timestamp resolutions, and enhanced/simple/obsolete packet blocks.

Format: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html
The walk over blocks (``walk.py``) is the only per-block loop; packet fields are then read in bulk.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np

from tracecheck.ingest import walk
from tracecheck.ingest.pcapng_options import IF_TSOFFSET, IF_TSRESOL, walk_options
from tracecheck.ingest.records import BLOCK_SIZE, MAX_FRAME, BlockPool, BlockRead, ReadStats, RecordBatch, make_batch

SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 1
OBSOLETE_PACKET = 2
SIMPLE_PACKET = 3
INTERFACE_STATISTICS = 5
ENHANCED_PACKET = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
# Smallest valid length of blocks whose fixed fields we read: shorter ones are malformed.
MIN_LENGTH = {INTERFACE_DESCRIPTION: 20, ENHANCED_PACKET: 32, OBSOLETE_PACKET: 32, SIMPLE_PACKET: 16}
MAX_BLOCK = MAX_FRAME + 4096
BLOCK_NAMES = {4: "name_resolution", 9: "systemd_journal", 10: "decryption_secrets",
               0xBAD: "custom", 0x40000BAD: "custom"}


def is_pcapng(head: bytes) -> bool:
    return head[:4] == b"\x0a\x0d\x0d\x0a"


@dataclass
class Interface:
    linktype: int
    snaplen: int
    ts_resolution: int = 6  # if_tsresol: 10^-6 unless the interface says otherwise
    ts_offset_s: int = 0    # if_tsoffset: seconds added to every timestamp

    def to_ns(self, ticks: np.ndarray) -> np.ndarray:
        """Timestamp ticks (int64) to nanoseconds since the epoch."""
        res = self.ts_resolution
        exp = res & 0x7F
        if res & 0x80:  # negative power of two
            if exp <= 33:
                ns = (ticks >> exp) * 1_000_000_000 + (((ticks & ((1 << exp) - 1)) * 1_000_000_000) >> exp)
            else:
                ns = (ticks.astype(np.float64) / float(1 << exp) * 1e9).astype(np.int64)
        elif exp <= 9:
            ns = ticks * 10 ** (9 - exp)
        elif exp <= 27:
            ns = ticks // 10 ** (exp - 9)
        else:  # finer than 10^-27 s: any 64-bit tick count is less than a nanosecond
            ns = np.zeros_like(ticks)
        return ns + self.ts_offset_s * 1_000_000_000


@dataclass
class _Section:
    little: bool = True
    interfaces: list[Interface] | None = None

    @property
    def endian(self) -> str:
        return "<" if self.little else ">"


def read_pcapng(stream: BinaryIO, stats: ReadStats, first_record: int = 0) -> Iterator[RecordBatch]:
    """Yield the packet records of a pcapng stream positioned at its first section header."""
    section = _Section(interfaces=[])
    carry = b""
    record = first_record
    file_pos = 0
    want = BLOCK_SIZE
    pool, found_pool = BlockPool(), BlockPool(least=_Found.bytes_for(BLOCK_SIZE + 2 * MAX_FRAME))
    while True:
        # The block is walked as far as each chunk read reaches, while its bytes are in the cache
        # (``BlockRead``): a chunk's end is like a block's end to the walk.
        reading = BlockRead(stream, carry, want, pool)
        found = _Found(reading.end, found_pool)  # the packet blocks, in file order
        odd: dict[int, tuple] = {}       # row in ``found`` -> fields of a simple/obsolete block
        pos = 0
        new_section = False
        head = struct.Struct(section.endian + "II").unpack_from
        while reading.read_chunk():
            block, length, need = reading.data, reading.size, 0
            while pos + 12 <= length:
                # Runs of well-formed enhanced packet blocks go by in one call; any other block
                # (and a packet block the walk refuses) is dealt with below, one at a time.
                count, pos = walk.pcapng_packets(block, found.room(), pos, section.little, MIN_LENGTH[ENHANCED_PACKET], MAX_BLOCK)
                found.used += count
                if found.full():
                    continue
                if pos + 12 > length:
                    break
                btype = head(block, pos)[0]
                if btype == SECTION_HEADER:
                    if found.used:  # a new section may change byte order and interfaces: flush first
                        new_section = True
                        break
                    if not _start_section(block, pos, length, section, stats):
                        if _incomplete_shb(block, pos, length):
                            need = 28
                            break
                        _corrupt(stats, file_pos + pos, "section header block is malformed")
                        return
                    head = struct.Struct(section.endian + "II").unpack_from
                    pos += head(block, pos)[1]
                    continue
                blen = head(block, pos)[1]
                if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                    if found.used:
                        yield _batch(block, found.rows(), odd, section, record, stats)
                    _corrupt(stats, file_pos + pos, f"block of type {btype:#x} claims length {blen}")
                    return
                if pos + blen > length:
                    need = blen
                    break
                if blen < MIN_LENGTH.get(btype, 12):
                    if btype == INTERFACE_DESCRIPTION:  # keep the numbering: its packets are unknown-interface
                        section.interfaces.append(Interface(linktype=-1, snaplen=0))
                        stats.notes["pcapng_malformed_interface_block"] += 1
                    else:
                        stats.records += 1
                        stats.skipped["malformed_packet_block"] += 1
                elif btype == INTERFACE_DESCRIPTION:
                    section.interfaces.append(_interface(block, pos, blen, section.endian, stats))
                    stats.saw_linktype(section.interfaces[-1].linktype)
                elif btype == INTERFACE_STATISTICS:
                    stats.context.interface_statistics(block, pos, blen, section.endian)
                    stats.notes["pcapng_interface_statistics"] += 1
                elif btype in (SIMPLE_PACKET, OBSOLETE_PACKET):
                    odd[found.used] = (btype, blen)
                    found.add_odd(pos, blen)
                else:
                    stats.notes[f"pcapng_block_skipped:{BLOCK_NAMES.get(btype, hex(btype))}"] += 1
                pos += blen
            if new_section:
                break
        block, eof = reading.data, reading.eof
        if found.used:
            yield _batch(block, found.rows(), odd, section, record, stats)
            record += found.used
        carry = block[pos:]
        file_pos += pos
        if eof and not new_section:
            if carry:
                stats.records += 1
                stats.skipped["truncated_record"] += 1
                stats.warnings.append(f"the last block (byte {file_pos}, {len(carry)} of its bytes) is cut short: the file is truncated")
            return
        want = max(BLOCK_SIZE, need - len(carry))


def _incomplete_shb(block: bytes, pos: int, length: int) -> bool:
    if pos + 12 > length:
        return True
    for endian in "<>":
        blen = struct.unpack_from(endian + "I", block, pos + 4)[0]
        if struct.unpack_from(endian + "I", block, pos + 8)[0] == BYTE_ORDER_MAGIC:
            return 28 <= blen <= MAX_BLOCK and pos + blen > length
    return False


def _start_section(block: bytes, pos: int, length: int, section: _Section, stats: ReadStats) -> bool:
    """Read a section header block at ``pos``; False if it is incomplete or malformed."""
    if pos + 28 > length:
        return False
    for little, endian in ((True, "<"), (False, ">")):
        if struct.unpack_from(endian + "I", block, pos + 8)[0] == BYTE_ORDER_MAGIC:
            blen = struct.unpack_from(endian + "I", block, pos + 4)[0]
            if blen < 28 or blen % 4 or blen > MAX_BLOCK or pos + blen > length:
                return False
            section.little = little
            section.interfaces = []
            stats.notes["pcapng_sections"] += 1
            stats.context.section(block, pos + 24, pos + blen - 4, endian)
            return True
    return False


def _interface(block: bytes, pos: int, blen: int, endian: str, stats: ReadStats) -> Interface:
    linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", block, pos + 8)
    iface = Interface(linktype=linktype, snaplen=snaplen)
    options = walk_options(block, pos + 16, pos + blen - 4, endian)
    for code, value in options:
        if code == IF_TSRESOL and len(value) >= 1:
            iface.ts_resolution = value[0]
        elif code == IF_TSOFFSET and len(value) >= 8:
            offset = struct.unpack(endian + "q", value[:8])[0]
            if abs(offset) < (1 << 63) // 1_000_000_000:  # else not representable in ns: ignored
                iface.ts_offset_s = offset
    stats.context.interface(options, linktype, snaplen, endian)
    return iface


class _Found:
    """Rows of ``walk.PCAPNG_COLUMNS`` for the packet blocks of one read block; room for
    typical packets at first, doubled whenever the walk fills it."""

    TYPICAL = 512
    """Bytes per packet block the first array has room for."""

    def __init__(self, length: int, pool: BlockPool | None = None) -> None:
        self.array = walk.capacity(length, self.TYPICAL, walk.PCAPNG_COLUMNS, pool)
        self.used = 0

    @classmethod
    def bytes_for(cls, length: int) -> int:
        """The first array's size for a block of ``length`` bytes."""
        return walk.capacity_bytes(length, cls.TYPICAL, walk.PCAPNG_COLUMNS)

    def room(self) -> np.ndarray:
        return self.array[self.used:]

    def full(self) -> bool:
        if self.used < len(self.array):
            return False
        grown = np.empty((2 * len(self.array), walk.PCAPNG_COLUMNS), dtype=np.int64)
        grown[: self.used] = self.array
        self.array = grown
        return True

    def add_odd(self, pos: int, blen: int) -> None:
        """A simple or obsolete packet block: its fields are read by ``_batch``."""
        self.full()
        self.array[self.used] = (pos, blen, 0, 0, 0, 0, 0)
        self.used += 1

    def rows(self) -> np.ndarray:
        return self.array[: self.used]


def _batch(block: bytes, rows: np.ndarray, odd: dict, section: _Section, record: int, stats: ReadStats) -> RecordBatch:
    at, blen, iface, ts_high, ts_low, caplen, wirelen = (column.copy() for column in rows.T)
    ticks = (ts_high << 32) | ts_low
    start = at + 28
    ts_ns = np.zeros(len(at), dtype=np.int64)
    linktype = np.full(len(at), -1, dtype=np.int64)
    for number, interface in enumerate(section.interfaces):
        mine = iface == number
        if mine.any():
            ts_ns[mine] = interface.to_ns(ticks[mine])
            linktype[mine] = interface.linktype
    endian = section.endian
    for index, (btype, size) in odd.items():
        pos = int(at[index])
        if btype == SIMPLE_PACKET:  # no interface field (it is interface 0) and no timestamp
            wire = struct.unpack_from(endian + "I", block, pos + 8)[0]
            snap = section.interfaces[0].snaplen if section.interfaces else 0
            caplen[index] = min(wire, size - 16, snap or wire)
            wirelen[index], start[index] = wire, pos + 12
            linktype[index] = section.interfaces[0].linktype if section.interfaces else -1
            ts_ns[index] = ts_ns[index - 1] if index else (stats.last_ts_ns or 0)
            stats.notes["pcapng_simple_packet_without_timestamp"] += 1
        else:  # obsolete packet block: 16-bit interface id and drop count, then as EPB
            number, _drops, hi, lo, cap, wire = struct.unpack_from(endian + "HHIIII", block, pos + 8)
            caplen[index], wirelen[index], start[index] = cap, wire, pos + 28
            if number < len(section.interfaces):
                linktype[index] = section.interfaces[number].linktype
                ts_ns[index] = int(section.interfaces[number].to_ns(np.array([(hi << 32) | lo], dtype=np.uint64).view(np.int64))[0])  # as EPB ticks are read
            iface[index] = number
    keep = (linktype >= 0) & (start + caplen <= at + blen)
    stats.records += len(at)
    if not keep.all():
        bad_iface = linktype < 0
        stats.skipped["pcapng_unknown_interface"] += int(bad_iface.sum())
        stats.skipped["malformed_packet_block"] += int((~keep & ~bad_iface).sum())
    wirelen = np.maximum(wirelen, caplen)
    stats.saw_times(ts_ns[keep])
    return make_batch(block, start[keep], caplen[keep], wirelen[keep], ts_ns[keep], linktype[keep], record)


def _corrupt(stats: ReadStats, where: int, what: str) -> None:
    stats.records += 1
    stats.skipped["corrupt_block"] += 1
    stats.warnings.append(f"at byte {where}: {what}; the file is corrupt from there on, stopped reading")
