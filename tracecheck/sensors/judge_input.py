"""Sensor logs as the judging loop's input: the same destinations, names and report parts a
capture gives, built from the per-destination sums (``aggregate``) instead of per-flow objects.

What a capture shows and logs do not is said in the report, never papered over: no handshake
RTT (so no distance bound), no SIP calls rebuilt (media are not tied to a call), names only as
far as the sensor logged them, and flows.csv lists only the first ``FLOWS_CSV_ROWS`` conn rows
-- the logs themselves, hashed in report.json and manifest.json, are the full record.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from tracecheck.collector import give_back_freed_memory
from tracecheck.destinations import MEDIA_APPS, NAME_SOURCE_ORDER, DestinationTraffic, SeenName, local_addresses
from tracecheck.errors import UserError
from tracecheck.observability import VANTAGE_LIMITS, name_notes
from tracecheck.sensors.aggregate import Aggregate, Scope, aggregate
from tracecheck.sensors.interface import FLOW_COLUMNS, LogFile, SensorLogs
from tracecheck.vocabulary import Accounting, CaptureInfo

READERS = {
    "zeek": ("tracecheck.sensors.zeek", "ZEEK"),
    "eve": ("tracecheck.sensors.eve", "EVE"),
    "flows": ("tracecheck.sensors.flow_dataset", "FLOW_DATASET"),
}
"""Each input kind's reader, imported by name when used (``--zeek``, ``--eve``, ``--flows``)."""
OPTION = {"zeek": "--zeek", "eve": "--eve", "flows": "--flows"}
FLOWS_CSV_ROWS = 10_000
"""conn rows flows.csv lists, in log order: one row per conn row would be as large as the logs."""
_LISTED = 8


def reader_for(kind: str) -> SensorLogs:
    """The reader of ``kind`` (``zeek``, ``eve``, ``flows``)."""
    if kind not in READERS:
        raise UserError(f"unknown sensor log kind {kind!r}: give --zeek, --eve or --flows")
    module, name = READERS[kind]
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise UserError(f"{OPTION[kind]}: this build of tracecheck has no {kind} reader ({module}); "
                        f"install a release that has one") from None


@dataclass(frozen=True)
class FlowGroup:
    """Flows to one destination alike in protocol, destination port and application: what the
    judging stages read of a flow (``_service_of``: its app), with how many there were."""

    proto: str
    resp_p: int
    app: str
    count: int
    uid: str = ""
    """No single flow: calls and relays, which key on a flow's uid, are not rebuilt from logs."""


@dataclass
class AggregatedTraffic(DestinationTraffic):
    """A destination as the logs' sums give it: counts and times given, not computed from flows."""

    total_flows: int = 0
    earliest: float | None = None
    latest: float | None = None

    @property
    def first_ts(self) -> float | None:
        return self.earliest

    @property
    def last_ts(self) -> float | None:
        return self.latest

    @property
    def flow_count(self) -> int:
        return self.total_flows

    @property
    def smallest_rtt_ms(self) -> float | None:
        return None  # logs give no handshake RTT

    @property
    def media_only(self) -> bool:
        return bool(self.flows) and all(group.app in MEDIA_APPS for group in self.flows)


class SampledFlows:
    """flows.csv of logs: the first ``FLOWS_CSV_ROWS`` conn rows as flow-table columns; its length
    is every conn row's (what ``tracecheck: N flows`` says)."""

    def __init__(self, columns: dict[str, list], total: int) -> None:
        self.columns = columns
        self.total = total

    def __len__(self) -> int:
        return self.total

    def forget_rows(self) -> None:
        """Nothing to forget: there are no per-flow objects."""


@dataclass
class LogReading:
    """The logs as read, shaped as ``flows.pipeline.FlowResult`` for the report and the CLI."""

    flows: SampledFlows
    accounting: Accounting
    captures: list[CaptureInfo]
    warnings: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    def hash_captures(self) -> None:
        """Nothing to wait for: each log's SHA-256 is taken as it is read."""


@dataclass
class LogInput:
    """What the judging loop needs from the logs (``analyze._judge_and_write``)."""

    reading: LogReading
    traffic: dict[str, DestinationTraffic]
    local: set[str]
    observability: list[str]
    outside_scope: int
    notes: list[str]
    """Report warnings: what logs cannot show."""


def read_logs(kind: str, paths: tuple[str, ...], policy, scheduler: str | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> LogInput:
    """Find the logs at ``paths``, sum them per destination (on ``scheduler``) and build the
    judging loop's input."""
    reader = reader_for(kind)
    logs = reader.find(list(paths))
    if not logs:
        raise UserError(f"{OPTION[kind]} {' '.join(paths)}: no log files found there")
    summed = aggregate(reader, logs, scope_of(policy), scheduler, progress=progress)
    _give_back_memory()
    traffic = destinations_of(summed)
    local = set(summed.clients["ip"]) | local_addresses(traffic)
    sampled = sample_flows(reader, logs, int(summed.flows["flows"].sum()) + summed.outside_scope)
    reading = LogReading(flows=sampled, accounting=_accounting(summed), captures=_inputs(summed))
    return LogInput(reading, traffic, local, observability(traffic, summed, local), summed.outside_scope,
                    limits(kind, summed, sampled))


def _give_back_memory() -> None:
    """Hand the readers' freed buffers back to the system before judging (Arrow's pool and glibc
    keep them otherwise): measured, a tenth of a gigabyte less at the run's peak."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    give_back_freed_memory()


def scope_of(policy) -> Scope:
    scope = policy.scope
    return Scope(start=scope.start.timestamp() if scope.start else None,
                 end=scope.end.timestamp() if scope.end else None,
                 clients=tuple(scope.clients), nothing=bool(scope.sip_calls_only))


def destinations_of(summed: Aggregate) -> dict[str, DestinationTraffic]:
    """One AggregatedTraffic per destination, its flow groups and names (strongest source first,
    then earliest, as ``destinations.gather`` orders them)."""
    traffic: dict[str, AggregatedTraffic] = {}
    flows = summed.flows
    for ip, proto, port, app, count, sent, received, first, last in zip(
            flows["ip"], flows["proto"], flows["port"], flows["app"], flows["flows"], flows["sent_bytes"],
            flows["received_bytes"], flows["first_ts"], flows["last_ts"]):
        one = traffic.get(ip)
        if one is None:
            one = traffic[ip] = AggregatedTraffic(ip=str(ip))
        one.flows.append(FlowGroup(str(proto), int(port), str(app), int(count)))
        one.total_flows += int(count)
        one.sent_bytes += int(sent)
        one.received_bytes += int(received)
        if not pd.isna(first):
            one.earliest = float(first) if one.earliest is None else min(one.earliest, float(first))
        if not pd.isna(last):
            one.latest = float(last) if one.latest is None else max(one.latest, float(last))
    names = summed.names
    for ip, name, source, first, uid in zip(names["ip"], names["name"], names["source"], names["first_ts"],
                                            names["uid"]):
        one = traffic.get(ip)
        if one is not None:  # a name for an address no flow reached (a DNS answer not used) says nothing
            one.names.append(SeenName(str(name), str(source), float(first), str(uid)))
    for one in traffic.values():
        one.names.sort(key=_name_order)
    return dict(traffic)


def _name_order(seen: SeenName) -> tuple:
    rank = NAME_SOURCE_ORDER.index(seen.source) if seen.source in NAME_SOURCE_ORDER else len(NAME_SOURCE_ORDER)
    return (rank, seen.first_ts, seen.name, seen.uid)


def sample_flows(reader: SensorLogs, logs: list[LogFile], total: int, limit: int = FLOWS_CSV_ROWS) -> SampledFlows:
    """The first ``limit`` conn rows of ``logs``, in order, as flow-table columns (read in this
    process: only as far as ``limit`` rows)."""
    from tracecheck.flows.table import COLUMNS

    frames, taken = [], 0
    for log in logs:
        if taken >= limit:
            break
        for chunk in reader.chunks(log, min(limit, 200_000)):
            if chunk.flows is not None and len(chunk.flows):
                frames.append(chunk.flows.iloc[:limit - taken])
                taken += len(frames[-1])
            if taken >= limit:
                break
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: [] for c in FLOW_COLUMNS})
    columns: dict[str, list] = {}
    for column in COLUMNS:
        if column in ("ts", "duration"):
            columns[column] = [None if pd.isna(v) else float(v) for v in rows[column]]
        elif column in ("id.orig_p", "id.resp_p", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"):
            columns[column] = [None if v < 0 else int(v) for v in rows[column]]  # -1: the sensor left it unset
        elif column in ("uid", "proto", "id.orig_h", "id.resp_h", "app"):
            columns[column] = [str(v) for v in rows[column]]
        elif column == "capture_file":
            columns[column] = [str(v) for v in rows["log"]]
        elif column in ("vlan", "handshake_rtt_ms"):
            columns[column] = [None] * len(rows)
        else:
            columns[column] = [""] * len(rows)
    return SampledFlows(columns, total)


def _accounting(summed: Aggregate) -> Accounting:
    """records == decoded + skipped: a record is a row taken (a flow, or a name: a DNS answer
    row gives one per address) or a line skipped with its reason."""
    skipped: dict[str, int] = {}
    for log in summed.logs:
        for reason, count in log.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    decoded = sum(log.rows for log in summed.logs)
    return Accounting(records=decoded + sum(skipped.values()), decoded=decoded, skipped=dict(sorted(skipped.items())))


def _inputs(summed: Aggregate) -> list[CaptureInfo]:
    return [CaptureInfo(path=log.path, sha256=log.sha256, format=log.format, linktypes=(), packets=log.rows,
                        first_ts=log.first_ts, last_ts=log.last_ts) for log in summed.logs]


def limits(kind: str, summed: Aggregate, sampled: SampledFlows) -> list[str]:
    """What logs cannot show, said in the report's warnings."""
    files = len(summed.logs)
    what = {"zeek": "Zeek logs", "eve": "Suricata eve.json", "flows": "a flow dataset"}[kind]
    notes = [
        f"Judged from {what} ({files} file{'s' if files != 1 else ''}, "
        f"{int(summed.flows['flows'].sum()):,} flows in scope), not from a capture: the logs' paths and SHA-256 are "
        f"the report's inputs. Logs carry no handshake RTT, so no distance bound checks any claimed place.",
        "Names only as far as the sensor logged them (TLS/QUIC server_name, HTTP host, SIP, DNS answers joined "
        "by uid or by address); Encrypted Client Hello and encrypted DNS are not flagged from logs.",
        "SIP calls are not rebuilt from logs: media are judged by their own destinations, not tied to a call, "
        "and phone numbers are masked only as far as the sensor masked them in its logs.",
    ]
    if kind == "flows":
        notes.append("A flow dataset keeps one name per flow (its server_name): the other names a capture's DNS "
                     "answers gave are not in it.")
    if any(log.format == "eve" for log in summed.logs):
        notes.append("Suricata's eve.json counts bytes with their link-layer headers: sent and received bytes "
                     "are somewhat larger than a capture's IP bytes.")
    unknown = [(log.path, log.bytes_unknown) for log in summed.logs if log.bytes_unknown]
    if unknown:
        count = sum(n for _, n in unknown)
        listed = ", ".join(f"{path} ({n:,})" for path, n in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        notes.append(f"{count:,} flow{'s' if count != 1 else ''} had no byte counts in the logs (orig_ip_bytes/"
                     f"resp_ip_bytes unset or not logged: {listed}); they count as 0 bytes, so sent and received "
                     f"bytes are a lower bound.")
    shown = len(sampled.columns["uid"])
    if len(sampled) > shown:
        notes.append(f"flows.csv lists the first {shown:,} of {len(sampled):,} flows, in log order; the logs "
                     f"themselves (SHA-256 in manifest.json) are the full record.")
    return notes


# --------------------------------------------------------------------------- observability


def observability(traffic: dict[str, DestinationTraffic], summed: Aggregate, local: set[str]) -> list[str]:
    """The report's ``observability`` lines, as a capture's (observability.py) from the sums."""
    remote = [one for ip, one in sorted(traffic.items()) if ip not in local]
    clients = sorted(summed.clients["ip"])
    shown = ", ".join(clients[:_LISTED]) + (f" and {len(clients) - _LISTED} more" if len(clients) > _LISTED else "")
    notes = [VANTAGE_LIMITS,
             f"Vantage point: {len(clients)} local address{'es' if len(clients) != 1 else ''} opened flows"
             + (f" ({shown})" if clients else "") + " (as the sensor saw them)."]
    notes += name_notes(remote, "logs")
    if summed.outside_scope:
        count = summed.outside_scope
        notes.append(f"{count} flow{'' if count == 1 else 's'} fell outside the policy's scope and "
                     f"{'were' if count != 1 else 'was'} not judged.")
    return notes
