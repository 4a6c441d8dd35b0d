"""Suricata's eve.json: ``flow`` and ``netflow`` events as flows; ``tls``, ``quic``, ``http``,
``dns`` and ``sip`` events as names.  JSON lines, gzip or not, one record per line.

How events map onto FLOW_COLUMNS (Zeek's conn.log names):

- ``flow_id`` is the uid (as text), so a flow's names join it as Zeek's do by uid.
- ``src``/``dest`` are orig/resp; ``proto`` lower-case (``TCP`` tcp, ``UDP`` udp, ``ICMP`` and
  ``IPv6-ICMP`` icmp, a few others as their IP protocol number, a number as written); for ICMP
  ``icmp_type``/``icmp_code`` take the port columns, as Zeek puts them there.
- ``flow.start``/``flow.end`` give ts and duration (the event's own ``timestamp`` when absent).
- ``pkts_toserver``/``pkts_toclient`` are orig_pkts/resp_pkts; ``bytes_toserver``/
  ``bytes_toclient`` go in orig_ip_bytes/resp_ip_bytes although Suricata counts whole packets,
  the link-layer header included, not IP lengths: 14 bytes a packet more than Zeek on Ethernet.
- ``app_proto`` is app (``failed``/``unknown``: "").
- ``netflow`` events are one direction each: the record's src is orig, its ``pkts``/``bytes``
  the orig counters, the resp counters 0.  Suricata writes a second record for the reply
  direction with src and dest swapped, which reads as a flow from the server; it has nothing that
  marks it as the reply, so it is kept as it is (prefer ``flow`` events when both are on).

Names: the server is ``dest_ip`` (tls, quic, http and sip requests are logged in the flow's
direction); for DNS the client is the side not on port 53/853/5353.  DNS answers come in the
three shapes Suricata has written: ``answers`` lists (eve v2 and v3, with owners and types: CNAME
chains followed as a capture's are), ``grouped`` by type (the CNAMEs taken, in order, as the chain
from the question, as for Zeek's dns.log), and the old one-record-per-answer events (each stands
alone, so an address is named by its owner, which after a CNAME is not the name asked).

Every other event type (alert, fileinfo, stats, anomaly ...) is counted in ``skipped`` as
``other event type: X``."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import json as pa_json

from tracecheck.errors import UserError
from tracecheck.sensors import common
from tracecheck.sensors.interface import FLOW_COLUMNS, Chunk, LogFile, SensorLogs

SNIFF_RECORDS = 5
"""Records at a file's start that must all be eve events."""
SNIFF_BYTES = 1 << 20
"""How much of a file's start is read to find them."""
PROTO_NAMES = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmp", "icmpv6": "icmp",
               "sctp": "132", "gre": "47", "esp": "50", "ah": "51", "ipv6": "41", "ipip": "4",
               "ipv4": "4", "igmp": "2", "pim": "103", "ospf": "89", "vrrp": "112"}
NOT_AN_APP = frozenset({"failed", "unknown", ""})
DNS_SERVER_PORTS = frozenset({53, 853, 5353})
ADDRESS_TYPES = {"A": 1, "AAAA": 28}


class EveLogs(SensorLogs):
    """Suricata eve.json files."""

    sensor = "eve"

    def find(self, paths: Sequence[str]) -> list[LogFile]:
        return [LogFile(path=path, sensor=self.sensor, log="eve", layout="json")
                for path in common.expand(paths, _looks_like_eve_name) if _is_eve(path)]

    def ignored(self, paths: Sequence[str]) -> list[tuple[str, str]]:
        """(path, why) of files ``find`` passes over: empty ones."""
        return [(path, "empty file") for path in common.expand(paths, _looks_like_eve_name) if not _is_eve(path)]

    def chunks(self, log: LogFile, rows: int = 200_000) -> Iterator[Chunk]:
        stream, position = common.open_tracked(log.path)
        with stream:
            try:
                for blob, count, long_lines in common.line_blocks(stream, rows):
                    chunk = _chunk(log, blob)
                    chunk.lines = count + long_lines
                    chunk.position = position()
                    if long_lines:
                        chunk.skipped["line too long"] += long_lines
                    yield chunk
            except (OSError, EOFError, zlib.error) as err:
                raise common.read_error(log.path, err) from None


EVE = EveLogs()


def _looks_like_eve_name(name: str) -> bool:
    return name.startswith("eve") and ".json" in name


def _is_eve(path: str) -> bool:
    """True for an eve.json, False for an empty file; UserError for anything else."""
    data = common.head(path, SNIFF_BYTES)  # a stats event alone can be tens of kilobytes
    lines = [line for line in data.split(b"\n") if line.strip()]
    if not lines:
        return False
    if len(data) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last may be cut by the sniff
    for line in lines[:SNIFF_RECORDS]:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or "event_type" not in record or "timestamp" not in record:
            hint = " (a Zeek log? use --zeek)" if isinstance(record, dict) and "ts" in record else ""
            raise UserError(f"{path}: not a Suricata eve.json (records without event_type and timestamp){hint}")
    return True


def _chunk(log: LogFile, blob: bytes) -> Chunk:
    skipped: Counter = Counter()
    lines = [line for line in blob.split(b"\n") if line and not line.isspace()]
    try:
        fast_flows, lines = _flow_events_arrow(log, lines, blob)
    except (pa.ArrowException, ValueError):
        fast_flows = None
    flows: list[tuple] = []
    names = common.NameRows(skipped)
    loads = orjson.loads
    for line in lines:
        try:
            event = loads(line)
        except orjson.JSONDecodeError:
            skipped["unparseable line"] += 1
            continue
        kind = event.get("event_type") if isinstance(event, dict) else None
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            skipped[f"other event type: {kind[:40]}" if isinstance(kind, str) else "unparseable line"] += 1
            continue
        try:
            handler(event, log, flows, names)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            skipped["unparseable line"] += 1
    flow_frame = common.flows_frame(
        {name: [row[index] for row in flows] for index, name in enumerate(FLOW_COLUMNS)}, skipped)
    if fast_flows is not None:
        fast_frame = common.flows_frame(fast_flows, skipped)
        flow_frame = pd.concat([fast_frame, flow_frame], ignore_index=True) if len(flow_frame) else fast_frame
    name_frame = names.frame()
    times = [value for value in (*common.time_span(flow_frame["ts"]), *common.time_span(name_frame["ts"]))
             if value is not None]
    return Chunk(flows=flow_frame, names=name_frame, skipped=skipped,
                 first_ts=min(times) if times else None, last_ts=max(times) if times else None)


_INT = pa.int64()
_FLOW_SCHEMA = pa.schema([
    ("event_type", pa.string()), ("timestamp", pa.string()), ("flow_id", _INT), ("src_ip", pa.string()),
    ("src_port", _INT), ("dest_ip", pa.string()), ("dest_port", _INT), ("proto", pa.string()),
    ("app_proto", pa.string()), ("icmp_type", _INT), ("icmp_code", _INT),
    ("flow", pa.struct([("pkts_toserver", _INT), ("pkts_toclient", _INT), ("bytes_toserver", _INT),
                        ("bytes_toclient", _INT), ("start", pa.string()), ("end", pa.string())])),
])
"""What a ``flow`` event's columns are, for the fast reader."""


def _flow_events_arrow(log: LogFile, lines: list[bytes], blob: bytes | None = None) -> tuple[dict, list[bytes]]:
    """The block's ``flow`` events as FLOW_COLUMNS arrays, read by pyarrow, and the other
    lines (left to the event-by-event reader); raises when pyarrow cannot, or a value is not
    what ``_flow`` would take, so that the whole block goes the careful way."""
    blob = b"\n".join(lines) if blob is None else blob
    table = pa_json.read_json(
        pa.BufferReader(blob),
        read_options=pa_json.ReadOptions(block_size=common.ARROW_BLOCK),
        parse_options=pa_json.ParseOptions(explicit_schema=_FLOW_SCHEMA, unexpected_field_behavior="ignore"),
    )
    if table.num_rows != len(lines):
        raise ValueError("lines and records do not pair")
    is_flow = pc.fill_null(pc.equal(table.column("event_type"), "flow"), False).to_numpy(zero_copy_only=False)
    others = [lines[index] for index in np.flatnonzero(~is_flow)]
    table = table.filter(pa.array(is_flow))
    flow = table.column("flow").combine_chunks() if table.num_rows else None
    count = table.num_rows

    def field(name: str):
        return pc.struct_field(flow, name) if flow is not None else pa.nulls(0, pa.int64())

    start = _epoch(pc.coalesce(field("start"), table.column("timestamp")))
    end_text = field("end")
    end = _epoch(end_text)
    if np.isnan(start).any() or (np.isnan(end) & ~pc.is_null(end_text).to_numpy(zero_copy_only=False)).any():
        raise ValueError("a time that is not ISO 8601")
    proto_text = pc.utf8_lower(pc.fill_null(table.column("proto"), "")).to_pylist()
    proto = np.array([PROTO_NAMES.get(text, text) for text in proto_text], dtype=object)
    icmp = (proto == "icmp") & ~pc.is_null(table.column("icmp_type")).to_numpy(zero_copy_only=False)
    columns = {"uid": pc.fill_null(pc.cast(table.column("flow_id"), pa.string()), "").to_pandas(),
               "ts": start, "duration": np.maximum(end - start, 0.0), "proto": proto,
               "id.orig_h": pc.fill_null(table.column("src_ip"), "").to_pandas(),
               "id.resp_h": pc.fill_null(table.column("dest_ip"), "").to_pandas(), "log": [log.path] * count}
    for name, source, icmp_source in (("id.orig_p", "src_port", "icmp_type"), ("id.resp_p", "dest_port", "icmp_code")):
        ports = np.where(icmp, _ints(table.column(icmp_source)), _ints(table.column(source)))
        if ((ports < -1) | (ports > 65535)).any() or (table.column(source).null_count < count and (
                pc.min(table.column(source)).as_py() < 0)):
            raise ValueError("a port out of range")
        columns[name] = ports
    for name, source in (("orig_pkts", "pkts_toserver"), ("orig_ip_bytes", "bytes_toserver"),
                         ("resp_pkts", "pkts_toclient"), ("resp_ip_bytes", "bytes_toclient")):
        values = _ints(field(source))
        if (values < -1).any() or (pc.min(field(source)).as_py() or 0) < 0:
            raise ValueError("a negative count")
        columns[name] = values
    apps = pc.fill_null(table.column("app_proto"), "").to_pylist()
    columns["app"] = ["" if app in NOT_AN_APP else app for app in apps]
    return columns, others


def _ints(values) -> np.ndarray:
    return pc.fill_null(values, -1).to_numpy(zero_copy_only=False).astype("int64")


def _epoch(texts) -> np.ndarray:
    """Seconds since the epoch of ISO 8601 times with their offsets (NaN when absent or not one)."""
    if len(texts) == 0:
        return np.zeros(0)
    stamps = pd.to_datetime(texts.to_pandas(), format="ISO8601", utc=True, errors="coerce")
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan)


def _count(value) -> int:
    if value is None:
        return -1
    if type(value) is not int or value < 0:
        raise ValueError("not a count")
    return value


def _port(value) -> int:
    if value is None:
        return -1
    if type(value) is not int or not 0 <= value <= 65535:
        raise ValueError("not a port")
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int)):
        raise TypeError("not text")
    return str(value)[: common.MAX_TEXT]


def _proto(value) -> str:
    if isinstance(value, int):
        return str(value)
    text = _text(value).lower()
    return PROTO_NAMES.get(text, text)


def _ports(event: dict, proto: str) -> tuple[int, int]:
    if proto == "icmp" and "icmp_type" in event:
        return _port(event.get("icmp_type")), _port(event.get("icmp_code"))
    return _port(event.get("src_port")), _port(event.get("dest_port"))


def _time(text) -> float:
    if not isinstance(text, str):
        raise TypeError("not a time")
    return common.iso_epoch(text)


def _flow(event: dict, log: LogFile, flows: list, names: common.NameRows) -> None:
    flow = event.get("flow") or {}
    flows.append(_flow_row(event, log, flow, _count(flow.get("pkts_toserver")), _count(flow.get("bytes_toserver")),
                           _count(flow.get("pkts_toclient")), _count(flow.get("bytes_toclient"))))


def _netflow(event: dict, log: LogFile, flows: list, names: common.NameRows) -> None:
    netflow = event.get("netflow") or {}  # one direction: what went back is a record of its own
    flows.append(_flow_row(event, log, netflow, _count(netflow.get("pkts")), _count(netflow.get("bytes")), 0, 0))


def _flow_row(event: dict, log: LogFile, times: dict, orig_pkts: int, orig_bytes: int, resp_pkts: int,
              resp_bytes: int) -> tuple:
    """A FLOW_COLUMNS row of a flow or netflow event; ``times`` holds its start and end."""
    start = _time(times.get("start") or event["timestamp"])
    end = times.get("end")
    duration = max(_time(end) - start, 0.0) if end else float("nan")
    proto = _proto(event.get("proto"))
    orig_port, resp_port = _ports(event, proto)
    app = _text(event.get("app_proto"))
    return (_text(event.get("flow_id")), start, duration, proto, _text(event.get("src_ip")), orig_port,
            _text(event.get("dest_ip")), resp_port, orig_pkts, orig_bytes, resp_pkts, resp_bytes,
            "" if app in NOT_AN_APP else app, log.path)


def _named(event: dict, names: common.NameRows, name: str | None, source: str) -> None:
    names.add(_time(event["timestamp"]), _text(event.get("flow_id")), _text(event.get("dest_ip")), name,
              source, _text(event.get("src_ip")))


def _tls(event: dict, log: LogFile, flows: list, names: common.NameRows) -> None:
    sni = (event.get("tls") or {}).get("sni")
    if isinstance(sni, str) and sni:
        _named(event, names, common.server_name(sni), "sni")


def _quic(event: dict, log: LogFile, flows: list, names: common.NameRows) -> None:
    sni = (event.get("quic") or {}).get("sni")
    if isinstance(sni, str) and sni:
        _named(event, names, common.server_name(sni), "quic_sni")


def _http(event: dict, log: LogFile, flows: list, names: common.NameRows) -> None:
    host = (event.get("http") or {}).get("hostname")
    if isinstance(host, str) and host:
        _named(event, names, common.http_host(host), "http_host")


def _sip(event: dict, log: LogFile, flows: list, names: common.NameRows) -> None:
    sip = event.get("sip") or {}
    uri = sip.get("uri")
    if not isinstance(uri, str):
        line = sip.get("request_line")
        parts = line.split() if isinstance(line, str) and len(line) <= common.MAX_SIP_FIELD else []
        uri = parts[1] if len(parts) >= 2 else ""
    if uri:
        _named(event, names, common.sip_host(uri), "sip")


def _dns(event: dict, log: LogFile, flows: list, names: common.NameRows) -> None:
    dns = event.get("dns") or {}
    src_port, dest_port = event.get("src_port"), event.get("dest_port")
    from_server = src_port in DNS_SERVER_PORTS and dest_port not in DNS_SERVER_PORTS
    client = _text(event.get("dest_ip") if from_server else event.get("src_ip"))
    ts, uid = _time(event["timestamp"]), _text(event.get("flow_id"))
    query = dns.get("rrname")
    if query is None and isinstance(dns.get("queries"), list) and dns["queries"]:
        query = (dns["queries"][0] or {}).get("rrname")  # eve v3
    answers, grouped = dns.get("answers"), dns.get("grouped")
    if isinstance(answers, list):
        records = [record for answer in answers[:64] if isinstance(answer, dict)
                   for record in _record(answer.get("rrname"), answer.get("rrtype"), answer.get("rdata"))]
    elif isinstance(grouped, dict):
        records = _grouped(query, grouped)
    elif dns.get("type") == "answer" and "rdata" in dns:
        records = _record(query, dns.get("rrtype"), dns.get("rdata"))
        query = query if any(record[1] in (1, 28) for record in records) else None
    else:
        return  # a query, or an answer without records: names nothing
    asked = common.dns_name(query) if isinstance(query, str) else None
    if asked is None and not records:
        return
    names.add_dns(ts, uid, client, [asked] if asked else [], records)


def _record(owner, rtype, rdata) -> list[tuple]:
    """(owner, type, ttl, value) of one answer, if it is an address or a CNAME."""
    if not isinstance(owner, str) or not isinstance(rdata, str):
        return []
    name = common.dns_name(owner)
    if name is None:
        return []
    if rtype in ADDRESS_TYPES:
        address = common.canonical_ip(rdata)
        return [(name, ADDRESS_TYPES[rtype], 0, address)] if address else []
    if rtype == "CNAME":
        target = common.dns_name(rdata)
        return [(name, 5, 0, target)] if target else []
    return []


def _grouped(query, grouped: dict) -> list[tuple]:
    owner = common.dns_name(query) if isinstance(query, str) else None
    if owner is None:
        return []
    records = []
    cnames = grouped.get("CNAME")
    for target in (cnames if isinstance(cnames, list) else [])[:16]:
        name = common.dns_name(target) if isinstance(target, str) else None
        if name and name != owner:
            records.append((owner, 5, 0, name))
            owner = name
    for rtype, number in ADDRESS_TYPES.items():
        values = grouped.get(rtype)
        for value in (values if isinstance(values, list) else [])[:64]:
            address = common.canonical_ip(value) if isinstance(value, str) else None
            if address:
                records.append((owner, number, 0, address))
    return records


HANDLERS = {"flow": _flow, "netflow": _netflow, "tls": _tls, "quic": _quic, "http": _http, "dns": _dns, "sip": _sip}
