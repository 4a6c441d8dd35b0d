"""Zeek logs: conn.log and tunnel.log as flows; ssl, quic, http, sip and dns logs as names.

Both of Zeek's layouts are read, gzip or not, whatever the file is called:

- TSV, with its ``#separator``/``#set_separator``/``#empty_field``/``#unset_field``/``#path``/
  ``#fields``/``#types`` header.  A header met again part-way (rotated files concatenated) takes
  over from there; ``#open``/``#close`` lines are passed over.  Rows are parsed by pyarrow's CSV
  reader (the header's separator, no quoting), falling back to a line-by-line reader for a block
  it refuses (a stray byte, a short line), so one bad line costs its block speed, not the file.
- JSON lines (``LogAscii::use_json``), with Zeek's flat ``"id.orig_h"`` keys or nested
  ``{"id": {"orig_h": ...}}``; ``ts`` as epoch seconds or ISO 8601.

Which log a file is: the TSV ``#path``; for JSON, a ``_path`` key, else the file name's first
dotted part (``conn.log``, ``conn.2026-12-01-10-00-00.log.gz``), else its first record's fields.

Unset (``-``) and empty (``(empty)``) values are both "nothing" here: NaN, -1 or "" in flows, no
name.  Unknown extra columns are ignored; a missing column reads as unset.

What a log gives compared with a capture:

- Text: Zeek writes non-printable bytes as ``\\xNN``.  Server names keep that text (it is what the
  capture path writes for non-ASCII SNI bytes too); DNS names are decoded and shown dig-style
  (``\\DDD``) as ``dissect.dns`` does; a Host or SIP URI with such bytes is not a host name, as in
  a capture.
- DNS: dns.log's ``answers`` is one flat list without owners or types.  Names in it before an
  address are taken as the CNAME chain from ``query`` to that address (``dns_cname`` rows), which
  is what a capture's records say for ordinary answers; a response with several interleaved
  chains cannot be told apart from one chain.  Other answers (TXT, MX ...) name no address.
- SIP: the request URI's host (``uri``), or the To header's domain (``request_to``) when that is
  all there is; responses have no URI of their own in sip.log (one record is one transaction).
- ``proto`` is as Zeek wrote it: ``tcp``, ``udp``, ``icmp`` (v6 too), ``unknown_transport``.
- Tunnels: the outer flow of a GRE or IP-in-IP tunnel is in tunnel.log, not conn.log.  Its
  ``Tunnel::DISCOVER`` row is read as a flow (``IP_TUNNELS``), as the capture path lists the
  outer packets as a flow of their own: no duration, packets or bytes (tunnel.log has none:
  counted as flows without byte counts).  Other rows are counted as skipped: a tunnel's close or
  expiry (its discovery is the flow), and tunnels whose outer connection conn.log has.
- Direction: the originator is chosen by the capture path's rule (CONTRACT.md: the side that
  sent the first SYN, else the side a SYN/ACK was sent to, else the first packet's sender),
  read from conn.log's ``history``, whose letters are relative to Zeek's final originator.  Zeek
  agrees where a SYN or SYN/ACK was seen; where none was (UDP, ICMP, TCP seen mid-stream) it
  flips a new connection whose first packet came from a "likely server port" (history ``^``,
  ``IPBasedAnalyzer::NewConn``), which the capture path does not: such rows, and rows whose only
  SYN (or SYN/ACK) came from the other side, are swapped back (``capture_orientation``).  A
  conn.log without ``history`` keeps Zeek's choice.
"""

from __future__ import annotations

import os
import re
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv
from pyarrow import json as pa_json

from tracecheck.errors import UserError
from tracecheck.sensors import common
from tracecheck.sensors.interface import Chunk, LogFile, SensorLogs

READ = ("conn", "tunnel", "ssl", "quic", "http", "sip", "dns")
"""The logs tracecheck reads; others found are skipped and listed by ``ZeekLogs.ignored``."""
IP_TUNNELS = {"Tunnel::GRE": "47", "Tunnel::IP": "4"}
"""tunnel.log's types whose outer packets are IP packets of their own protocol, not a TCP or UDP
connection: Zeek writes their outer flow to tunnel.log only, where the capture path lists it as
a flow (proto 47; 4 or 41 for IP in IP, by the inner version, which tunnel.log does not say:
4).  The UDP tunnels (Teredo, AYIYA, VXLAN, GENEVE, GTPv1, GRE over UDP's ports) and the TCP ones
(SOCKS, HTTP CONNECT) have their outer connection in conn.log already."""

FIELDS = {
    "conn": ("uid", "ts", "duration", "proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
             "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "service", "history"),
    "ssl": ("ts", "uid", "id.orig_h", "id.resp_h", "server_name"),
    "quic": ("ts", "uid", "id.orig_h", "id.resp_h", "server_name"),
    "http": ("ts", "uid", "id.orig_h", "id.resp_h", "host"),
    "sip": ("ts", "uid", "id.orig_h", "id.resp_h", "uri", "request_to"),
    "dns": ("ts", "uid", "id.orig_h", "query", "answers"),
    "tunnel": ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "tunnel_type", "action"),
}
"""The columns read from each log."""
FLOAT_FIELDS = frozenset({"ts", "duration"})
INT_FIELDS = frozenset({"id.orig_p", "id.resp_p", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"})
VECTOR_FIELDS = frozenset({"answers", "request_to"})
ADDRESS_FIELDS = {"conn": ("id.orig_h", "id.resp_h"), "tunnel": ("id.orig_h", "id.resp_h")}
"""Without these a conn.log's records are no flows: such a log is refused at sight, not read as
rows all skipped and a run that judges nothing (Zeek's ``Log::default_field_name_map`` renames
them, ``src``/``dst`` say).  A name log without them gives skipped rows, counted."""

NOT_READ_LOGS = frozenset({
    "files", "x509", "weird", "notice", "dpd", "analyzer", "ntp", "ssh", "smtp", "ftp", "smb_files",
    "smb_mapping", "dce_rpc", "kerberos", "ntlm", "rdp", "snmp", "dhcp", "radius", "pe",
    "software", "known_hosts", "known_services", "known_certs", "capture_loss", "stats",
    "loaded_scripts", "packet_filter", "reporter", "cluster", "broker", "print", "conn_long",
    "syslog", "socks", "irc", "mysql", "modbus", "dnp3", "rfb", "traceroute", "signatures",
    "intel", "ocsp", "unified2", "netcontrol", "openflow", "mqtt", "websocket", "telemetry",
})
"""Zeek's other logs, known by name so that a JSON one is recognised (and skipped) at sight."""
ZEEKCTL_OUTPUT = frozenset({"stderr.log", "stdout.log"})
"""zeekctl writes its processes' output beside the logs: not logs, passed over in directories."""

SCOPE_SEP_NAMES = {"id_orig_h": "id.orig_h", "id_orig_p": "id.orig_p", "id_resp_h": "id.resp_h", "id_resp_p": "id.resp_p"}
"""The connection id's fields as written with ``Log::default_scope_sep = "_"`` (a common setting
for log shippers that dislike dots): read as Zeek's usual dotted names."""

_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")
_INT = re.compile(r"\d{1,19}\Z")
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class TsvHeader:
    """A TSV log's header, as far as it has been read."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str = ""
    fields: tuple[str, ...] = ()
    types: tuple[str, ...] = ()


def _unescape_header(text: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda match: chr(int(match.group(1), 16)), text)


def header_line(header: TsvHeader, line: str, path: str) -> TsvHeader:
    """The header after one of its ``#`` lines (others, ``#open`` and ``#close``, change nothing);
    UserError naming ``path`` for a separator that separates nothing."""
    line = line.rstrip("\r\n")
    if line.startswith("#separator"):
        separator = _unescape_header(line[len("#separator") :].strip(" "))
        if not separator:
            raise UserError(f"{path}: a Zeek #separator header that names no separator: not a Zeek TSV log")
        return replace(header, separator=separator)
    key, _, value = line[1:].partition(header.separator)
    if key == "fields":
        fields = value.split(header.separator)
        if "id.orig_h" not in fields:
            fields = [SCOPE_SEP_NAMES.get(name, name) for name in fields]
        return replace(header, fields=tuple(fields), types=())
    if key == "types":
        return replace(header, types=tuple(value.split(header.separator)))
    if key in ("set_separator", "empty_field", "unset_field"):
        return replace(header, **{key: _unescape_header(value)})
    if key == "path":
        return replace(header, path=value)
    return header


def read_tsv_header(data: bytes, path: str) -> TsvHeader:
    """The header at the start of a TSV log's bytes (read from ``path``)."""
    header = TsvHeader()
    for raw in data.split(b"\n"):
        if not raw.startswith(b"#"):
            break
        header = header_line(header, raw.decode("utf-8", "backslashreplace"), path)
    return header


@dataclass
class Survey:
    """What ``ZeekLogs.survey`` found at some paths."""

    logs: list[LogFile] = field(default_factory=list)
    """The logs tracecheck reads, sorted by path."""
    ignored: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of the files passed over: Zeek's other logs, zeekctl's output, empty files."""


class ZeekLogs(SensorLogs):
    """Zeek's conn, tunnel, ssl, quic, http, sip and dns logs (TSV or JSON lines, gzip or not)."""

    sensor = "zeek"

    def find(self, paths: Sequence[str]) -> list[LogFile]:
        return self.survey(paths).logs

    def ignored(self, paths: Sequence[str]) -> list[tuple[str, str]]:
        """(path, why) of the files at ``paths`` that ``find`` passes over: Zeek logs other than
        the six read (``weird``, ``files`` ...), zeekctl's stdout/stderr, empty files."""
        return self.survey(paths).ignored

    def survey(self, paths: Sequence[str]) -> Survey:
        """``find`` and ``ignored`` at once (one look at each file)."""
        survey = Survey()
        for path in common.expand(paths, _looks_like_log_name):
            if os.path.basename(path) in ZEEKCTL_OUTPUT and not any(path == given for given in paths):
                survey.ignored.append((path, "zeekctl process output, not a log"))
                continue
            kind, layout = identify(path)
            if kind == "":
                survey.ignored.append((path, "empty file"))
            elif kind in READ:
                survey.logs.append(LogFile(path=path, sensor=self.sensor, log=kind, layout=layout))
            else:
                survey.ignored.append((path, f"Zeek {kind}.log: not read (only {', '.join(READ)})"))
        return survey

    def chunks(self, log: LogFile, rows: int = 200_000) -> Iterator[Chunk]:
        reader = _tsv_chunks if log.layout == "tsv" else _json_chunks
        stream, position = common.open_tracked(log.path)
        with stream:
            try:
                for chunk in reader(log, stream, rows):
                    chunk.position = position()
                    yield chunk
            except (OSError, EOFError, zlib.error) as err:
                raise common.read_error(log.path, err) from None


ZEEK = ZeekLogs()


def _looks_like_log_name(name: str) -> bool:
    return name.endswith((".log", ".log.gz"))


def identify(path: str) -> tuple[str, str]:
    """(which log, layout) of a file: ("", "") when it is empty; UserError when not a Zeek log."""
    data = common.head(path)
    if not data.strip():
        return "", ""
    if data.startswith(b"#separator"):
        header = read_tsv_header(data, path)
        if not header.fields or not header.path:
            raise UserError(f"{path}: a Zeek TSV header without #path or #fields: not a whole Zeek log")
        _require_addresses(path, header.path, header.fields)
        return header.path, "tsv"
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        raise UserError(f"{path}: not a Zeek log (neither a #separator header nor JSON lines)")
    if "ts" not in record:
        hint = " (a Suricata eve.json? use --eve)" if "event_type" in record else ""
        raise UserError(f"{path}: JSON lines without Zeek's ts field: not a Zeek log{hint}")
    kind = record.get("_path")
    if not (isinstance(kind, str) and kind):
        prefix = os.path.basename(path).split(".", 1)[0]
        kind = prefix if prefix in READ or prefix in NOT_READ_LOGS else _kind_by_fields(_flat(record))
    _require_addresses(path, kind[:100], _flat(record).keys())
    return kind[:100], "json"


def _require_addresses(path: str, kind: str, fields) -> None:
    """UserError when a log tracecheck reads lacks the columns that name its addresses."""
    missing = [name for name in ADDRESS_FIELDS.get(kind, ()) if name not in fields]
    if missing:
        raise UserError(f"{path}: a Zeek {kind}.log without {' or '.join(missing)} (fields renamed by "
                        f"Log::default_field_name_map, or cut?): write it with Zeek's own field names")


def _kind_by_fields(record: dict) -> str:
    keys = record.keys()
    if "call_id" in keys and ("request_from" in keys or "request_to" in keys or "uri" in keys):
        return "sip"
    if "query" in keys and keys & {"qtype", "qtype_name", "answers", "rcode", "trans_id"}:
        return "dns"
    if keys & {"conn_state", "orig_ip_bytes", "resp_ip_bytes"}:
        return "conn"
    if "tunnel_type" in keys:
        return "tunnel"
    if keys & {"client_initial_dcid", "server_scid", "client_scid"}:
        return "quic"
    if keys & {"server_name", "cipher", "established", "resumed"}:
        return "ssl"
    if keys & {"method", "status_code", "user_agent"}:
        return "http"
    return "unknown"


def _flat(record: dict) -> dict:
    """Zeek's nested JSON form (``{"id": {"orig_h": ...}}``), or its ``_`` scope separator
    (``id_orig_h``), as its usual flat keys."""
    if "id_orig_h" in record and "id.orig_h" not in record:
        record = {SCOPE_SEP_NAMES.get(key, key): value for key, value in record.items()}
    nested = record.get("id")
    if isinstance(nested, dict):
        record = dict(record)
        del record["id"]
        for key, value in nested.items():
            record[f"id.{key}"] = value
    return record


# ---------------------------------------------------------------- TSV


def _tsv_chunks(log: LogFile, stream, rows: int) -> Iterator[Chunk]:
    header = TsvHeader()
    for blob, count, long_lines in common.line_blocks(stream, rows):
        skipped: Counter = Counter()
        if long_lines:
            skipped["line too long"] += long_lines
        parts: list[dict] = []
        if not blob or blob.isspace():
            pass
        elif blob[:1] != b"#" and b"\n#" not in blob:
            if not header.fields:
                raise UserError(f"{log.path}: records before a #fields header: not a Zeek TSV log")
            parts.append(_tsv_block(log, header, blob, skipped))
        else:
            pending: list[bytes] = []
            for line in blob.split(b"\n"):
                if line[:1] == b"#":
                    if pending:
                        parts.append(_tsv_block(log, header, b"\n".join(pending) + b"\n", skipped))
                        pending = []
                    header = header_line(header, line.decode("utf-8", "backslashreplace"), log.path)
                    if header.path and header.path != log.log:
                        raise UserError(f"{log.path}: a {header.path}.log header inside a {log.log}.log")
                elif line.strip():
                    if not header.fields:
                        raise UserError(f"{log.path}: records before a #fields header: not a Zeek TSV log")
                    pending.append(line)
            if pending:
                parts.append(_tsv_block(log, header, b"\n".join(pending) + b"\n", skipped))
        yield _chunk(log, parts, count + long_lines, skipped)


def _tsv_block(log: LogFile, header: TsvHeader, blob: bytes, skipped: Counter) -> dict:
    """One block of records under one header: the log's FIELDS as column arrays."""
    wanted = FIELDS[log.log]
    try:
        return _tsv_block_arrow(header, blob, wanted, skipped)
    except (pa.ArrowException, ValueError):
        return _tsv_block_lines(header, blob, wanted, skipped)


def _arrow_type(name: str) -> pa.DataType:
    if name in FLOAT_FIELDS:
        return pa.float64()
    if name in INT_FIELDS:
        return pa.int64()
    return pa.string()


def _tsv_block_arrow(header: TsvHeader, blob: bytes, wanted: tuple[str, ...], skipped: Counter) -> dict:
    fields = header.fields
    if len(header.separator) != 1 or len(set(fields)) != len(fields):
        raise ValueError("not a layout pyarrow reads")
    present = [name for name in wanted if name in fields]
    table = pa_csv.read_csv(
        pa.BufferReader(blob),
        read_options=pa_csv.ReadOptions(column_names=list(fields), block_size=common.ARROW_BLOCK),
        parse_options=pa_csv.ParseOptions(
            delimiter=header.separator, quote_char=False, double_quote=False, escape_char=False,
            newlines_in_values=False, ignore_empty_lines=True,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: _arrow_type(name) for name in present},
            null_values=[header.unset_field, header.empty_field],
            strings_can_be_null=True,
            include_columns=present,
        ),
    )
    out: dict = {}
    for name in wanted:
        if name not in present:
            out[name] = _unset_array(name, table.num_rows)
            continue
        column = table.column(name)
        if name in INT_FIELDS:
            out[name] = pc.fill_null(column, -1).to_numpy()
        elif name in FLOAT_FIELDS:
            out[name] = column.to_numpy()
        elif name in VECTOR_FIELDS:
            out[name] = [_split_vector(value, header.set_separator) for value in column.to_pylist()]
        else:
            out[name] = pc.fill_null(column, "")
    return out


def _unset_array(name: str, count: int):
    if name in INT_FIELDS:
        return pd.array([-1] * count, dtype="int64").to_numpy()
    if name in FLOAT_FIELDS:
        return pd.array([float("nan")] * count, dtype="float64").to_numpy()
    if name in VECTOR_FIELDS:
        return [[] for _ in range(count)]
    return pa.array([""] * count, type=pa.string())


def _split_vector(value: str | None, separator: str) -> list[str]:
    return value.split(separator) if value else []


def _tsv_block_lines(header: TsvHeader, blob: bytes, wanted: tuple[str, ...], skipped: Counter) -> dict:
    """The slow, forgiving reader: one line at a time, a bad line skipped and counted."""
    fields = header.fields
    index = {name: fields.index(name) for name in wanted if name in fields}
    nothing = (header.unset_field, header.empty_field)
    out: dict[str, list] = {name: [] for name in wanted}
    separator = header.separator or "\t"
    for raw in blob.split(b"\n"):
        if not raw.strip():
            continue
        values = raw.rstrip(b"\r").decode("utf-8", "backslashreplace").split(separator)
        if len(values) != len(fields):
            skipped["unparseable line"] += 1
            continue
        row = []
        for name in wanted:
            text = values[index[name]] if name in index else header.unset_field
            value = _tsv_value(name, None if text in nothing else text, header.set_separator)
            if value is _BAD:
                skipped["unparseable line"] += 1
                break
            row.append(value)
        else:
            for name, value in zip(wanted, row):
                out[name].append(value)
    return out


_BAD = object()


def _tsv_value(name: str, text: str | None, set_separator: str):
    if name in INT_FIELDS:
        if text is None:
            return -1
        if not _INT.match(text) or int(text) > _INT64_MAX:
            return _BAD
        return int(text)
    if name in FLOAT_FIELDS:
        if text is None:
            return float("nan")
        return float(text) if _FLOAT.match(text) else _BAD
    if name in VECTOR_FIELDS:
        return _split_vector(text, set_separator)
    return text or ""


# ---------------------------------------------------------------- JSON lines


def _json_chunks(log: LogFile, stream, rows: int) -> Iterator[Chunk]:
    wanted = FIELDS[log.log]
    for blob, count, long_lines in common.line_blocks(stream, rows):
        skipped: Counter = Counter()
        if long_lines:
            skipped["line too long"] += long_lines
        try:
            parts = [_json_block_arrow(blob, wanted)] if blob and not blob.isspace() else []
        except (pa.ArrowException, ValueError):
            parts = [_json_block_lines(log, blob.split(b"\n"), wanted, orjson.loads, skipped)]
        yield _chunk(log, parts, count + long_lines, skipped)


def _json_block_arrow(blob: bytes, wanted: tuple[str, ...]) -> dict:
    """The fast reader (pyarrow): Zeek's flat keys, epoch ts, every value of its type; anything
    else (the nested form, ISO times, a bad line) raises, for ``_json_block_lines``."""
    if b'"id":' in blob or b'"id_orig_h":' in blob:
        raise ValueError("nested id form or _ scope separator")
    schema = pa.schema([(name, pa.list_(pa.string()) if name in VECTOR_FIELDS else _arrow_type(name))
                        for name in wanted])
    table = pa_json.read_json(
        pa.BufferReader(blob),
        read_options=pa_json.ReadOptions(block_size=common.ARROW_BLOCK),
        parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )
    out: dict = {}
    for name in wanted:
        column = table.column(name)
        if name in INT_FIELDS:
            if pc.any(pc.less(column, 0)).as_py():
                raise ValueError("negative count")
            out[name] = pc.fill_null(column, -1).to_numpy()
        elif name in FLOAT_FIELDS:
            out[name] = column.to_numpy()
        elif name in VECTOR_FIELDS:
            out[name] = [value or [] for value in column.to_pylist()]
        else:
            out[name] = pc.fill_null(column, "")
    return out


def _json_block_lines(log: LogFile, lines: list[bytes], wanted: tuple[str, ...], loads, skipped: Counter) -> dict:
    """The forgiving reader: one line at a time, a bad line skipped and counted."""
    out: dict[str, list] = {name: [] for name in wanted}
    columns = [out[name] for name in wanted]
    for line in lines:
        if not line.strip():
            continue
        try:
            record = loads(line)
        except orjson.JSONDecodeError:
            if line.startswith(b"#separator"):
                raise UserError(f"{log.path}: a Zeek TSV header inside a JSON log") from None
            skipped["unparseable line"] += 1
            continue
        if not isinstance(record, dict):
            skipped["unparseable line"] += 1
            continue
        if "id" in record or "id_orig_h" in record:
            record = _flat(record)
        row = [_json_value(name, record.get(name)) for name in wanted]
        if any(value is _BAD for value in row):
            skipped["unparseable line"] += 1
            continue
        for column, value in zip(columns, row):
            column.append(value)
    return out


def _json_value(name: str, value):
    if name in INT_FIELDS:
        if value is None:
            return -1
        return value if type(value) is int and 0 <= value <= _INT64_MAX else _BAD
    if name in FLOAT_FIELDS:
        if value is None:
            return float("nan")
        if type(value) in (int, float):
            return float(value)
        if name == "ts" and isinstance(value, str):
            try:
                return common.iso_epoch(value)
            except ValueError:
                return _BAD
        return _BAD
    if name in VECTOR_FIELDS:
        if value is None:
            return []
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
        return [value] if isinstance(value, str) else _BAD
    if value is None:
        return ""
    return value if isinstance(value, str) else _BAD


# ---------------------------------------------------------------- records to frames


def _chunk(log: LogFile, parts: list[dict], lines: int, skipped: Counter) -> Chunk:
    if log.log in ("conn", "tunnel"):
        frame = _conn_frame if log.log == "conn" else _tunnel_frame
        frames = [frame(log, part, skipped) for part in parts or [{name: [] for name in FIELDS[log.log]}]]
        flows = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        first, last = common.time_span(flows["ts"])
        return Chunk(flows=flows, lines=lines, skipped=skipped, first_ts=first, last_ts=last)
    rows = common.NameRows(skipped)
    first = last = None
    for part in parts:
        span = _names(log.log, part, rows)
        if span[0] is not None:
            first = span[0] if first is None else min(first, span[0])
            last = span[1] if last is None else max(last, span[1])
    return Chunk(names=rows.frame(), lines=lines, skipped=skipped, first_ts=first, last_ts=last)


def _conn_frame(log: LogFile, part: dict, skipped: Counter) -> pd.DataFrame:
    columns = {name: part[name] for name in FIELDS["conn"] if name not in ("service", "history")}
    columns["app"] = part["service"]
    count = len(part["uid"])
    columns["log"] = pa.array([log.path] * count, type=pa.string()) if count else []
    columns = {name: (value.to_pandas() if isinstance(value, (pa.Array, pa.ChunkedArray)) else value)
               for name, value in columns.items()}
    if count:
        history = part["history"]
        history = history.to_pandas() if isinstance(history, (pa.Array, pa.ChunkedArray)) else pd.Series(history, dtype="str")
        _orient(columns, capture_orientation(history))
    return common.flows_frame(columns, skipped)


def _tunnel_frame(log: LogFile, part: dict, skipped: Counter) -> pd.DataFrame:
    """The outer flows of IP-level tunnels (``IP_TUNNELS``): one per ``Tunnel::DISCOVER`` row."""
    kind = pd.Series(_as_list(part["tunnel_type"]), dtype="str")
    action = pd.Series(_as_list(part["action"]), dtype="str")
    orig_p, resp_p = (pd.Series(part[name], dtype="int64") for name in ("id.orig_p", "id.resp_p"))
    ip_level = kind.isin(list(IP_TUNNELS)) & (orig_p <= 0) & (resp_p <= 0)
    discover = action == "Tunnel::DISCOVER"
    if (~ip_level).any():
        skipped["tunnel whose outer connection is in conn.log"] += int((~ip_level).sum())
    if (ip_level & ~discover).any():
        skipped["tunnel close or expiry (its discovery is the flow)"] += int((ip_level & ~discover).sum())
    keep = (ip_level & discover).to_numpy(dtype=bool)
    count = int(keep.sum())
    columns = {name: pd.Series(_as_list(part[name]))[keep].reset_index(drop=True)
               for name in ("uid", "ts", "id.orig_h", "id.resp_h")}
    columns.update({
        "ts": columns["ts"].astype("float64"), "duration": np.full(count, np.nan),
        "proto": kind[keep].map(IP_TUNNELS).reset_index(drop=True),
        "id.orig_p": np.zeros(count, dtype="int64"), "id.resp_p": np.zeros(count, dtype="int64"),
        "orig_pkts": np.full(count, -1, dtype="int64"), "orig_ip_bytes": np.full(count, -1, dtype="int64"),
        "resp_pkts": np.full(count, -1, dtype="int64"), "resp_ip_bytes": np.full(count, -1, dtype="int64"),
        "app": np.full(count, "", dtype=object), "log": np.full(count, log.path, dtype=object),
    })
    return common.flows_frame(columns, skipped)


SIDES = (("id.orig_h", "id.resp_h"), ("id.orig_p", "id.resp_p"), ("orig_pkts", "resp_pkts"),
         ("orig_ip_bytes", "resp_ip_bytes"))
"""The columns that trade places when a row's originator is the other side."""


def capture_orientation(history: pd.Series) -> np.ndarray:
    """Which conn.log rows the capture path would orient the other way, from Zeek's ``history``
    (upper case: the originator's packets; ``S`` SYN, ``H`` SYN/ACK, ``^`` Zeek flipped the roles):

    - a SYN from the responder only: the responder sent the first SYN;
    - else a SYN/ACK from the originator only: the responder is the side it was sent to;
    - else (no SYN, no SYN/ACK) a flip (``^``): Zeek made the first packet's receiver the
      originator by its port heuristic, where the capture path keeps the first packet's sender.

    Rows without history (unset, or a conn.log without the column) keep Zeek's choice."""
    history = history.fillna("").astype("str")
    if not len(history) or not (history != "").any():
        return np.zeros(len(history), dtype=bool)
    has = {letter: history.str.contains(letter, regex=False).to_numpy(dtype=bool) for letter in "SsHh^"}
    no_syn = ~(has["S"] | has["s"])
    no_synack = ~(has["H"] | has["h"])
    return ((has["s"] & ~has["S"])
            | (no_syn & has["H"] & ~has["h"])
            | (no_syn & no_synack & has["^"]))


def _orient(columns: dict, swap: np.ndarray) -> None:
    """Trade the two sides' columns of the rows ``swap`` marks, in place."""
    if not swap.any():
        return
    keep = ~swap
    for first, second in SIDES:
        one, other = pd.Series(columns[first]), pd.Series(columns[second])
        one.index = other.index = pd.RangeIndex(len(one))
        columns[first], columns[second] = one.where(keep, other), other.where(keep, one)


def _as_list(values) -> list:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.to_pylist()
    if hasattr(values, "tolist"):
        return values.tolist()
    return values


def _names(kind: str, part: dict, rows: common.NameRows) -> tuple[float | None, float | None]:
    """Name rows of one block of an ssl/quic/http/sip/dns log; its (first, last) ts."""
    columns = {name: _as_list(value) for name, value in part.items()}
    ts = columns["ts"]
    known = [value for value in ts if value == value]
    span = (min(known), max(known)) if known else (None, None)
    if kind in ("ssl", "quic"):
        source = "sni" if kind == "ssl" else "quic_sni"
        for when, uid, client, server, name in zip(ts, columns["uid"], columns["id.orig_h"],
                                                    columns["id.resp_h"], columns["server_name"]):
            if name:
                rows.add(when, uid, server, common.server_name(name), source, client)
    elif kind == "http":
        for when, uid, client, server, host in zip(ts, columns["uid"], columns["id.orig_h"],
                                                    columns["id.resp_h"], columns["host"]):
            if host:
                rows.add(when, uid, server, common.http_host(host), "http_host", client)
    elif kind == "sip":
        for when, uid, client, server, uri, to in zip(ts, columns["uid"], columns["id.orig_h"],
                                                       columns["id.resp_h"], columns["uri"], columns["request_to"]):
            if uri or to:
                rows.add(when, uid, server, common.sip_host(uri, to[0] if to else ""), "sip", client)
    elif kind == "dns":
        for when, uid, client, query, answers in zip(ts, columns["uid"], columns["id.orig_h"],
                                                      columns["query"], columns["answers"]):
            if query and answers:
                _dns(when, uid, client, query, answers, rows)
    return span


def _dns(ts: float, uid: str, client: str, query: str, answers: list[str], rows: common.NameRows) -> None:
    """A dns.log record's answers as the records a capture would hold: each name before an
    address is a CNAME hop from the previous owner (the query first), each address is owned by
    the last name."""
    asked = common.dns_name(query)
    if asked is None:
        rows.skipped["not a host name"] += 1
        return
    records = []
    owner = asked
    for answer in answers[:64]:
        address = common.canonical_ip(answer)
        if address is not None:
            records.append((owner, 28 if ":" in address else 1, 0, address))
        elif " " not in answer.strip():  # TXT, MX ... answers are written with spaces
            target = common.dns_name(answer)
            if target is not None and target != owner:
                records.append((owner, 5, 0, target))
                owner = target
    rows.add_dns(ts, uid, client, [asked], records)
