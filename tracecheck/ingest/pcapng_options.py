"""pcapng options: the codes tracecheck reads and writes, and the capture context they carry.

An option is ``code (u16), length (u16), value`` padded to 32 bits; ``opt_endofopt`` (0) ends the
list.  The codes are declared here once, for the reader (``pcapng.py``) and the writer
(``tracecheck.capture.pcapng_writer``) alike.

Format: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html section 3.5, 4.1, 4.2, 4.6.

Everything read here comes from the file and is hostile: text is decoded leniently, cut to
``MAX_TEXT`` characters, and at most ``MAX_COMMENTS`` comments and ``MAX_INTERFACES`` interfaces
are kept, so a file cannot grow the report without bound.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tracecheck.vocabulary import CaptureInterface, VantagePoint

OPT_ENDOFOPT = 0
OPT_COMMENT = 1

SHB_HARDWARE = 2
SHB_OS = 3
SHB_USERAPPL = 4

IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
IF_FILTER = 11
IF_OS = 12
IF_TSOFFSET = 14

ISB_STARTTIME = 2
ISB_ENDTIME = 3
ISB_IFRECV = 4
ISB_IFDROP = 5
ISB_OSDROP = 7

CONTEXT_PREFIX = "tracecheck "
"""SHB comments that carry the capture's context read ``tracecheck site: Dublin``: plain comments,
shown by Wireshark's capture file properties, and told apart from anyone else's by the prefix."""
CONTEXT_KEYS = ("site", "note", "test-call-id", "host")

MAX_TEXT = 1000
MAX_COMMENTS = 32
MAX_INTERFACES = 16
MAX_OPTIONS = 512
"""Options walked per block: more is a hostile file, not a capture."""


def walk_options(block, start: int, end: int, endian: str) -> list[tuple[int, bytes]]:
    """The ``(code, value)`` options between ``start`` and ``end`` (the block's trailing length)."""
    found = []
    unpack = struct.Struct(endian + "HH").unpack_from
    while start + 4 <= end and len(found) < MAX_OPTIONS:
        code, length = unpack(block, start)
        if code == OPT_ENDOFOPT:
            break
        value = bytes(block[start + 4: min(start + 4 + length, end)])
        found.append((code, value))
        start += 4 + ((length + 3) & ~3)
    return found


def text(value: bytes) -> str:
    """An option's UTF-8 value as text: undecodable bytes replaced, NULs dropped, bounded."""
    shown = value.decode("utf-8", "replace").replace("\x00", "").strip()
    return shown if len(shown) <= MAX_TEXT else shown[: MAX_TEXT - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _u64(value: bytes, endian: str) -> int | None:
    return struct.unpack(endian + "Q", value[:8])[0] if len(value) >= 8 else None


def _timestamp(value: bytes, endian: str, ticks_per_second: float) -> float | None:
    """An ISB time (high 32 bits, low 32 bits, in the interface's resolution) as epoch seconds."""
    if len(value) < 8:
        return None
    high, low = struct.unpack(endian + "II", value[:8])
    return ((high << 32) | low) / ticks_per_second


def ticks_per_second(if_tsresol: int) -> float:
    exponent = if_tsresol & 0x7F
    return float(2 ** exponent) if if_tsresol & 0x80 else float(10 ** min(exponent, 30))


@dataclass
class ContextReader:
    """Collects what a pcapng file says about how it was captured, block by block."""

    shb: dict[str, str] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    interfaces: list[CaptureInterface] = field(default_factory=list)
    statistics: dict[tuple[int, int], dict[str, float | int | None]] = field(default_factory=dict)
    """The last statistics block of each (section, interface): they are cumulative."""
    sections: int = 0
    section_start: int = 0
    """Where the current section's interfaces begin in ``interfaces`` (each section numbers its own)."""

    def section(self, block, start: int, end: int, endian: str) -> None:
        self.sections += 1
        self.section_start = len(self.interfaces)
        first = self.sections == 1  # later sections keep their interfaces, not a second identity
        for code, value in walk_options(block, start, end, endian):
            if code == OPT_COMMENT:
                self._comment(text(value), first)
            elif first and code in (SHB_HARDWARE, SHB_OS, SHB_USERAPPL):
                self.shb.setdefault({SHB_HARDWARE: "hardware", SHB_OS: "os", SHB_USERAPPL: "application"}[code],
                                    text(value))

    def _comment(self, comment: str, first_section: bool) -> None:
        key, sep, value = comment.partition(":")
        if first_section and sep and key.startswith(CONTEXT_PREFIX):
            name = key[len(CONTEXT_PREFIX):].strip()
            if name in CONTEXT_KEYS:
                self.context.setdefault(name, value.strip())
                return
        if comment and len(self.comments) < MAX_COMMENTS:
            self.comments.append(comment)

    def interface(self, options: list[tuple[int, bytes]], linktype: int, snaplen: int, endian: str) -> None:
        if len(self.interfaces) >= MAX_INTERFACES:
            return
        found = {"name": "", "description": "", "filter": "", "os": ""}
        resolution = 6
        for code, value in options:
            if code == IF_NAME:
                found["name"] = text(value)
            elif code == IF_DESCRIPTION:
                found["description"] = text(value)
            elif code == IF_FILTER and value:
                # The first byte says how the filter is given: 0 = a libpcap filter string.
                found["filter"] = text(value[1:]) if value[0] == 0 else f"(filter of kind {value[0]})"
            elif code == IF_OS:
                found["os"] = text(value)
            elif code == IF_TSRESOL and value:
                resolution = value[0]
            elif code == OPT_COMMENT:
                self._comment(text(value), False)
        self.interfaces.append(CaptureInterface(linktype=linktype, snaplen=snaplen, ts_resolution=resolution, **found))

    def interface_statistics(self, block, pos: int, blen: int, endian: str) -> None:
        if blen < 24:
            return
        number = struct.unpack_from(endian + "I", block, pos + 8)[0]
        section_interfaces = self.interfaces[self.section_start:]
        resolution = section_interfaces[number].ts_resolution if number < len(section_interfaces) else 6
        per_second = ticks_per_second(resolution)
        stats: dict[str, float | int | None] = {}
        for code, value in walk_options(block, pos + 20, pos + blen - 4, endian):
            if code == ISB_STARTTIME:
                stats["start"] = _timestamp(value, endian, per_second)
            elif code == ISB_ENDTIME:
                stats["end"] = _timestamp(value, endian, per_second)
            elif code == ISB_IFRECV:
                stats["received"] = _u64(value, endian)
            elif code == ISB_IFDROP:
                stats["dropped_by_interface"] = _u64(value, endian)
            elif code == ISB_OSDROP:
                stats["dropped_by_os"] = _u64(value, endian)
            elif code == OPT_COMMENT:
                self._comment(text(value), False)
        self.statistics[(self.sections, number)] = stats

    def vantage_point(self) -> VantagePoint | None:
        """What the file said, or None when it said nothing (a pcap file, a bare pcapng)."""
        if not (self.shb or self.context or self.comments or any(i.name or i.filter for i in self.interfaces)
                or self.statistics):
            return None
        stats = list(self.statistics.values())

        def total(key: str) -> int | None:
            values = [s[key] for s in stats if s.get(key) is not None]
            return sum(values) if values else None

        starts = [s["start"] for s in stats if s.get("start") is not None]
        ends = [s["end"] for s in stats if s.get("end") is not None]
        return VantagePoint(
            site=self.context.get("site", ""), note=self.context.get("note", ""),
            test_call_id=self.context.get("test-call-id", ""), host=self.context.get("host", ""),
            os=self.shb.get("os", ""), hardware=self.shb.get("hardware", ""),
            application=self.shb.get("application", ""), interfaces=tuple(self.interfaces),
            start_ts=min(starts) if starts else None, stop_ts=max(ends) if ends else None,
            received=total("received"), dropped_by_interface=total("dropped_by_interface"),
            dropped_by_os=total("dropped_by_os"), comments=tuple(self.comments))
