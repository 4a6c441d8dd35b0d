"""What the Zeek and eve.json readers share: opening (gzip or not), finding files, and turning a
sensor's name fields into NAME_COLUMNS rows the way the capture path names things.

Text from a log is hostile input like a capture's bytes: names go through the capture path's own
cleaning (``dissect.http``'s authority rules, ``dissect.sip``'s URI rules, ``dissect.dns``'s
label escaping and CNAME following) and its length limits, and anything else is counted as
skipped, never raised."""

from __future__ import annotations

import glob
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa

from tracecheck.dissect import dns as dns_wire
from tracecheck.dissect._wire import canonical_ip
from tracecheck.dissect.http import split_authority
from tracecheck.dissect.sip import uri_parts, uri_text
from tracecheck.dissect.tls import MAX_NAME_LEN
from tracecheck.errors import UserError
from tracecheck.sensors import storage
from tracecheck.sensors.interface import FLOW_COLUMNS, NAME_COLUMNS

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024
"""How much of a file's start is read to tell what it is."""
MAX_TEXT = 255
"""Longest uid, protocol or app text kept from a log (longer is cut): bounds hostile fields."""
ARROW_BLOCK = 4 << 20
"""pyarrow parses a chunk in blocks of this size on its threads: one block per chunk would use
one core (4x slower here); larger than the longest line kept (MAX_LINE)."""
MAX_SIP_FIELD = 2048
"""A SIP URI longer than this is not looked at (a capture's SIP header lines are bounded too)."""

_ZEEK_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def open_binary(path: str):
    """The file's bytes (``read(n)``, a context manager), gunzipped when it starts with gzip's
    magic, whatever its name: by pyarrow, which inflates faster than ``gzip`` and reads
    concatenated members (rotated logs joined with ``cat``) the same.  A URL is read through
    fsspec (``storage``)."""
    return open_tracked(path)[0]


def open_tracked(path: str):
    """``open_binary``'s stream and a function giving how many of the stored (compressed, if it
    is) bytes have been read so far: for progress."""
    if storage.is_url(path):
        return _open_url(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - the caller closes it
        if raw.read(2) == GZIP_MAGIC:
            raw.close()
            source = pa.OSFile(path)
            return pa.CompressedInputStream(source, "gzip"), source.tell
        raw.seek(0)
        return raw, raw.tell
    except OSError as err:
        raise UserError(f"{path}: cannot read: {err.strerror or err}") from None


def _open_url(path: str):
    raw = storage.open_url(path)
    try:
        magic = raw.read(2)
        raw.seek(0)
    except OSError as err:
        raw.close()
        raise UserError(f"{path}: cannot read: {str(err).splitlines()[0][:200]}") from None
    if magic == GZIP_MAGIC:
        return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "gzip"), raw.tell
    return raw, raw.tell


def head(path: str, size: int = SNIFF_BYTES) -> bytes:
    """Up to ``size`` bytes of the file's (decompressed) start."""
    with open_binary(path) as stream:
        try:
            return stream.read(size)
        except (OSError, EOFError, zlib.error) as err:
            raise UserError(f"{path}: not readable as gzip: {err}") from None


def read_error(path: str, err: Exception) -> UserError:
    """A decompression or read failure part-way through a file, as the one-line error."""
    return UserError(f"{path}: cannot read past a damaged part (truncated or corrupt gzip?): {err}")


def expand(paths: Sequence[str], wanted: Callable[[str], bool]) -> list[str]:
    """Files at ``paths``: files as given, directories walked (files whose base name ``wanted``
    accepts), globs matched, URLs through fsspec (``storage``); sorted, each once.  UserError when a path or glob finds nothing."""
    found: set[str] = set()
    for path in paths:
        if storage.is_url(path):
            found.update(storage.expand_url(path, wanted))
        elif glob.has_magic(path) and not os.path.exists(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise UserError(f"{path}: no file matches this pattern")
            found.update(match for match in matches if os.path.isfile(match))
            for match in matches:
                if os.path.isdir(match):
                    found.update(_walk(match, wanted))
        elif os.path.isdir(path):
            files = _walk(path, wanted)
            if not files:
                raise UserError(f"{path}: no log files in this directory")
            found.update(files)
        elif os.path.isfile(path):
            found.add(path)
        else:
            raise UserError(f"{path}: no such file or directory")
    return sorted(found)


def _walk(directory: str, wanted: Callable[[str], bool]) -> list[str]:
    out = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        out.extend(os.path.join(root, name) for name in sorted(files) if wanted(name))
    return out


def iso_epoch(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time (``2026-12-01T10:00:00.123456+0000``, a ``Z``
    or no offset meaning UTC); ValueError when it is not one."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc).timestamp()
    return when.timestamp()


def unescape_zeek(text: str) -> bytes:
    """Zeek's ``\\xNN`` escapes (how it writes non-printable bytes) back to the bytes."""
    if "\\x" not in text:
        return text.encode("utf-8", "surrogateescape")
    out = bytearray()
    last = 0
    for match in _ZEEK_ESCAPE.finditer(text):
        out += text[last : match.start()].encode("utf-8", "surrogateescape")
        out.append(int(match.group(1), 16))
        last = match.end()
    out += text[last:].encode("utf-8", "surrogateescape")
    return bytes(out)


def dns_name(text: str) -> str | None:
    """A DNS name from a log as the capture path shows it (``dissect.dns``): lower-case, no
    trailing dot, odd bytes (Zeek's ``\\xNN``) shown dig-style as ``\\DDD``; None when it cannot
    be a name (empty, a label over 63 bytes, over 255 bytes in all)."""
    raw = unescape_zeek(text.strip()).rstrip(b".")
    if not raw or len(raw) > dns_wire.MAX_NAME_OCTETS - 2:
        return None
    labels = raw.split(b".")
    if any(not label or len(label) > 63 for label in labels):
        return None
    return dns_wire.name_text(labels)


def server_name(text: str) -> str | None:
    """A TLS/QUIC server_name as the capture path keeps it (``dissect.tls``): lower-case, no
    trailing dot, at most MAX_NAME_LEN long; non-ASCII stays escaped as ``\\xNN`` (what both
    Zeek and the capture path write).  None when empty or too long."""
    name = text.strip().lower().rstrip(".")
    if not name or len(name) > MAX_NAME_LEN:
        return None
    return name


def http_host(text: str) -> str | None:
    """A Host header as the capture path keeps it (``dissect.http``): no port, lower-case, no
    trailing dot, an IP literal as written (the capture path names a flow by it too: Zeek's own
    http.log of its ``http/no_crlf.pcap`` test showed the two disagreeing); None when malformed."""
    if len(text) > 300:
        return None
    split = split_authority(text)
    return None if split is None else split[0]


def sip_host(uri: str, request_to: str = "") -> str | None:
    """The name a SIP request is for, as the capture path takes it (the request URI's host,
    ``dissect.sip``), or failing that the domain of the request's To header (a log may keep
    only that); None when neither holds a host name (an IP, a ``tel:`` URI ...)."""
    for text in (uri, request_to):
        if not text or len(text) > MAX_SIP_FIELD:
            continue
        parts = uri_parts(uri_text(text))
        if parts and parts[2] and canonical_ip(parts[2]) is None:
            return parts[2]
    return None


class NameRows:
    """NAME_COLUMNS rows as they are found, with what was skipped."""

    def __init__(self, skipped: Counter) -> None:
        self.rows: list[tuple] = []
        self.skipped = skipped

    def add(self, ts: float, uid: str, ip: str, name: str | None, source: str, client: str) -> None:
        """One name for the server ``ip``; counted as skipped when the name or address is unusable."""
        if name is None:
            self.skipped["not a host name"] += 1
            return
        address = canonical_ip(ip) if ip else None
        if address is None:
            self.skipped["not an IP address"] += 1
            return
        self.rows.append((ts, uid[:MAX_TEXT], address, name, source, canonical_ip(client) or ""))

    def add_dns(self, ts: float, uid: str, client: str, questions: list[str], records: Iterable[tuple]) -> None:
        """Rows for one DNS response: ``records`` are (owner, rtype, ttl, value) with owners and
        CNAME targets already ``dns_name``'d and addresses canonical, followed as the capture
        path follows them (``dissect.dns``): ``dns`` for the name asked, ``dns_cname`` for each
        CNAME hop that led to the address."""
        client = canonical_ip(client) or ""
        uid = uid[:MAX_TEXT]
        for answer in dns_wire.address_answers_from_records(questions, tuple(records)):
            self.rows.append((ts, uid, answer.ip, answer.query, "dns", client))
            for hop in answer.chain[1:]:
                self.rows.append((ts, uid, answer.ip, hop, "dns_cname", client))

    def frame(self) -> pd.DataFrame:
        return names_frame(self.rows)


def names_frame(rows: list[tuple]) -> pd.DataFrame:
    """NAME_COLUMNS with their dtypes, from row tuples."""
    frame = pd.DataFrame.from_records(rows, columns=list(NAME_COLUMNS)) if rows else pd.DataFrame(
        {column: pd.Series([], dtype="float64" if column == "ts" else "str") for column in NAME_COLUMNS}
    )
    frame["ts"] = frame["ts"].astype("float64")
    for column in NAME_COLUMNS[1:]:
        frame[column] = frame[column].astype("str")
    return frame


FLOAT_FLOW_COLUMNS = ("ts", "duration")
INT_FLOW_COLUMNS = ("id.orig_p", "id.resp_p", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes")
TEXT_FLOW_COLUMNS = tuple(c for c in FLOW_COLUMNS if c not in FLOAT_FLOW_COLUMNS + INT_FLOW_COLUMNS)


def flows_frame(columns: dict[str, object], skipped: Counter) -> pd.DataFrame:
    """FLOW_COLUMNS with their dtypes from column arrays (unset: NaN, -1, ""), keeping only
    rows whose addresses are IP addresses and whose ports and counters are in range."""
    frame = pd.DataFrame({column: columns[column] for column in FLOW_COLUMNS})
    for column in FLOAT_FLOW_COLUMNS:
        frame[column] = frame[column].astype("float64")
    for column in INT_FLOW_COLUMNS:
        frame[column] = frame[column].astype("int64")
    for column in TEXT_FLOW_COLUMNS:
        frame[column] = frame[column].astype("str").str.slice(0, MAX_TEXT)
    bad = ~(frame["ts"].between(-1e11, 1e11) | frame["ts"].isna())
    bad |= ~(frame["duration"].between(0, 1e11) | frame["duration"].isna())
    for column in ("id.orig_p", "id.resp_p"):
        bad |= ~frame[column].between(-1, 65535)
    for column in INT_FLOW_COLUMNS[2:]:
        bad |= frame[column] < -1
    if bad.any():
        skipped["value out of range"] += int(bad.sum())
        frame = frame[~bad]
    for column in ("id.orig_h", "id.resp_h"):
        frame = _canonical_addresses(frame, column, skipped)
    return frame.reset_index(drop=True)


_CANONICAL_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
"""An IPv4 address as ``canonical_ip`` writes it: matched in bulk, so only the rest (IPv6,
oddities) are looked at one distinct value at a time."""


def _canonical_addresses(frame: pd.DataFrame, column: str, skipped: Counter) -> pd.DataFrame:
    """The column's addresses in the capture path's canonical text; rows without one dropped."""
    values = frame[column]
    others = ~values.str.fullmatch(_CANONICAL_IPV4).fillna(False).astype(bool)
    if not others.any():
        return frame
    rest = values[others]
    codes, uniques = pd.factorize(rest)
    canonical = pd.array([canonical_ip(value) or "" for value in uniques], dtype="str")
    texts = canonical[codes] if len(codes) else canonical[:0]
    frame = frame.copy()
    frame.loc[others, column] = pd.Series(texts, index=rest.index, dtype="str")
    not_ip = frame[column] == ""
    if not_ip.any():
        skipped["not an IP address"] += int(not_ip.sum())
        frame = frame[~not_ip]
    return frame


def time_span(values: pd.Series) -> tuple[float | None, float | None]:
    """(first, last) of a ts column, None when it has none."""
    if values.empty:
        return None, None
    first, last = values.min(), values.max()
    if pd.isna(first):
        return None, None
    return float(first), float(last)


MAX_LINE = 1 << 20
"""A longer line is skipped (``line too long``) without being held: no sensor writes one."""


def line_blocks(stream, rows: int) -> Iterator[tuple[bytes, int, int]]:
    """The stream's whole lines, ``rows`` at a time (the last block fewer), as (bytes, lines,
    long lines skipped): read in large blocks, not line by line, which costs more than parsing
    them.  A last line without its newline is given one."""
    buffer = b""  # whole lines not yet given, then the start of the next line
    lines = 0  # whole lines in buffer
    long_lines = 0
    size = 1 << 20
    dropping = False  # inside a line too long to keep
    eof = False
    while True:
        if lines < rows and not eof:
            data = stream.read(size)
            if not data:
                eof = True
                if not dropping and buffer and not buffer.endswith(b"\n"):
                    buffer += b"\n"
                    lines += 1
                continue
            if dropping:
                end = data.find(b"\n")
                if end < 0:
                    continue
                data, dropping = data[end + 1 :], False
            lines += data.count(b"\n")
            buffer += data
            tail = len(buffer) - buffer.rfind(b"\n") - 1
            if tail > MAX_LINE:
                buffer, dropping = buffer[: len(buffer) - tail], True
                long_lines += 1
            # enough for the lines still missing, by the lines seen so far, and a little more
            wanted = (len(buffer) * (rows - lines) // lines if lines else size * 2) * 21 // 20
            size = max(1 << 16, min(1 << 28, wanted))
            continue
        if lines == 0:
            if long_lines:
                yield b"", 0, long_lines
            return
        if lines <= rows:
            cut, given = buffer.rfind(b"\n") + 1, lines
        elif lines - rows < rows:  # the few lines past ``rows`` are found from the end
            cut = len(buffer) - 1 if buffer.endswith(b"\n") else buffer.rfind(b"\n")
            for _ in range(lines - rows):
                cut = buffer.rfind(b"\n", 0, cut)
            cut, given = cut + 1, rows
        else:
            cut = -1
            for _ in range(rows):
                cut = buffer.find(b"\n", cut + 1)
            cut, given = cut + 1, rows
        block, buffer = buffer[:cut], buffer[cut:]
        lines -= given
        yield block, given, long_lines
        long_lines = 0
