"""Sensor logs summed per destination, written once as Dask dataframe operations.

One task per log file (``dask.dataframe.from_map``) streams the file's chunks through its reader
and reduces them as it goes, so a task holds per-destination sums, never the file's rows:

    flow     per (destination, proto, destination port, app): flows, bytes each way, first/last ts
    client   per local originator: flows (the vantage point)
    name     per (ip, name, source): the earliest sighting and its uid (as ``destinations.gather``)
    log      per file: lines, rows, first/last ts, SHA-256 (and ``skipped`` rows per reason)

Every task's frame has the same columns (``PARTIAL``), told apart by ``table``; a groupby then
combines the files' sums, two at a time, into one partition (``SPLIT_EVERY``, ``SPLIT_OUT``). The
same graph runs locally (Dask's synchronous scheduler: as fast as threads here, whose GIL-bound
tasks only add memory -- benchmarks/README.md) or, given ``tcp://HOST:PORT``, on a dask.distributed
cluster whose workers can read the same paths. Sums of integers, minima and maxima do not depend on
the order tasks finish in, and every result is sorted: the report is byte-identical whichever
scheduler ran it.

A destination is the responder unless the responder is local and the originator is not
(``destinations.remote_side``); the bytes swap with it.  Locality is decided once per distinct
address of a chunk (``geo.special.local_table``), not per row.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tracecheck.errors import UserError
from tracecheck.geo.ranges import AddressKeys
from tracecheck.geo.special import local_table
from tracecheck.sensors import storage
from tracecheck.sensors.interface import LogFile, SensorLogs

PARTIAL = {
    "table": "str", "ip": "str", "proto": "str", "port": "int64", "app": "str",
    "name": "str", "source": "str", "uid": "str",
    "flows": "int64", "sent_bytes": "int64", "received_bytes": "int64", "lines": "int64",
    "first_ts": "float64", "last_ts": "float64",
}
"""A task's frame.  ``name`` rows: ``uid`` holds the sighting's ``sighting_keys``; ``log`` rows:
``name`` the path, ``source`` the format, ``uid`` the SHA-256, ``flows`` the rows; ``skipped``
rows: ``name`` the path, ``source`` the reason, ``flows`` the count; ``outside`` rows: ``flows``
outside the policy's scope."""

GROUP = ["ip", "proto", "port", "app"]
"""A destination's flows are summed per protocol, port and app: what judging reads of a flow."""
SERVICE_PORTS = frozenset({3478, 5060, 5061, 5349, 8080, 8443})
"""Ports above 1023 kept as they are (STUN/TURN, SIP, alternative HTTP(S)); any other high port is
summed as 0, so that the ephemeral ports a remote originator opens from do not multiply the groups."""
NAME_KEY = ["ip", "name", "source"]
CHUNK_ROWS = 200_000
"""Rows a reader hands over at a time: a few tens of MB of frame."""
_COMPACT_AT = 500_000
"""Partial rows a task collects before it combines them (bounded by destinations, not rows)."""
_HASH_BLOCK = 1 << 20
SPLIT_OUT = 1
"""Each reduction's result is one partition: a tree of combines.  Dask picks ``split_out`` > 1 by
itself for a groupby on several keys over many partitions (``GROUP`` has four: 40 files gave 12),
and then sums by a hash shuffle, which on the local schedulers goes through partd's in-memory
buffer: every file's sums held until the end, ~8 MB more per file (benchmarks/README.md).  The
results are bounded by destinations, which one partition holds."""
SPLIT_EVERY = 2
"""Partial sums combined two at a time: a task holds at most two files' sums and their combine,
and the tree holds about log2(files) of them, not up to eight (Dask's default)."""


@dataclass(frozen=True)
class Scope:
    """The part of a policy's ``scope`` a flow row can be tested against (no SIP calls in logs)."""

    start: float | None = None
    end: float | None = None
    clients: tuple[str, ...] = ()
    """Networks (CIDR) the originator must be in; empty: any."""
    nothing: bool = False
    """``sip_calls_only``: logs show no call, so no flow is in scope."""


@dataclass(frozen=True)
class LogSummary:
    """One log file as read."""

    path: str
    format: str
    """``zeek-tsv``, ``zeek-json``, ``eve``, ``flow-parquet``."""
    sha256: str
    lines: int
    rows: int
    """Records taken (flows and names)."""
    skipped: dict[str, int]
    first_ts: float | None
    last_ts: float | None
    bytes_unknown: int = 0
    """Flows in scope that the log gave no byte counts for (unset, or no such column): summed as 0."""


@dataclass
class Aggregate:
    """What the logs hold, per destination: all that judging needs, sorted."""

    flows: pd.DataFrame
    """GROUP + flows, sent_bytes, received_bytes, first_ts, last_ts; sorted by GROUP."""
    clients: pd.DataFrame
    """ip (local originators), flows; sorted."""
    names: pd.DataFrame
    """ip, name, source, first_ts, uid: the earliest sighting of each; sorted."""
    logs: list[LogSummary] = field(default_factory=list)
    outside_scope: int = 0


def log_format(log: LogFile) -> str:
    """The report's ``inputs[].format`` of a log."""
    if log.sensor == "zeek":
        return f"zeek-{log.layout}"
    if log.sensor == "eve":
        return "eve"
    return f"{log.sensor}-{log.layout}"


def aggregate(reader: SensorLogs, logs: Sequence[LogFile], scope: Scope = Scope(), scheduler: str | None = None,
              rows: int = CHUNK_ROWS, progress: Callable[[str, int, int], None] | None = None) -> Aggregate:
    """Sum ``logs`` per destination on ``scheduler``: None (``sync``), ``threads`` or ``processes`` locally,
    ``tcp://HOST:PORT`` on a dask.distributed cluster.

    ``progress(what, done_bytes, total_bytes)`` is told, a chunk at a time, how much of the stored
    files the tasks have read: directly by the tasks that run in this process (the sync and
    threads schedulers), through dask.distributed's events by a cluster's workers (each chunk
    read is an event on a topic of this run's, ``Worker.log_event``, that this client subscribes
    to); the ``processes`` scheduler's tasks say nothing.  Ctrl-C stops this process's tasks at
    their next chunk."""
    if not logs:
        return Aggregate(_empty(GROUP + ["flows", "sent_bytes", "received_bytes", "first_ts", "last_ts"]),
                         _empty(["ip", "flows"]), _empty(NAME_KEY + ["first_ts", "uid"]))
    distributed = bool(scheduler and "://" in scheduler)
    topic = f"tracecheck-progress-{uuid.uuid4().hex}" if distributed and progress is not None else None
    flows, clients, sightings, facts = reductions(reader, logs, scope, rows, topic)
    # One compute: the four results share the file tasks, so each file is read once.
    with _watching(logs, reader, progress) as watch:
        flows, clients, sightings, facts = _compute([flows, clients, sightings, facts], scheduler, topic, watch)
    flows = flows.reset_index().sort_values(GROUP, kind="stable", ignore_index=True)
    clients = clients.reset_index().sort_values("ip", kind="stable", ignore_index=True)
    names = sightings.reset_index().sort_values(NAME_KEY, kind="stable", ignore_index=True)
    names["first_ts"], names["uid"] = from_sighting_keys(names["uid"])
    names = names[NAME_KEY + ["first_ts", "uid"]]
    return Aggregate(flows, clients, names, _summaries(logs, facts), int(facts.loc[facts.table == "outside", "flows"].sum()))


def reductions(reader: SensorLogs, logs: Sequence[LogFile], scope: Scope = Scope(), rows: int = CHUNK_ROWS,
               topic: str | None = None) -> list:
    """The four Dask collections ``aggregate`` computes (flows, clients, sightings, facts): one
    task per file, then trees of combines into one partition each."""
    import dask.dataframe as dd

    parts = dd.from_map(reduce_log, list(logs), reader=reader, scope=scope, rows=rows, progress_topic=topic,
                        meta=_empty(list(PARTIAL)), enforce_metadata=False, label="tracecheck-log")
    flows = (parts[parts.table == "flow"].groupby(GROUP)
             .agg({"flows": "sum", "sent_bytes": "sum", "received_bytes": "sum", "first_ts": "min", "last_ts": "max"},
                  split_every=SPLIT_EVERY, split_out=SPLIT_OUT))
    clients = parts[parts.table == "client"].groupby("ip").flows.sum(split_every=SPLIT_EVERY, split_out=SPLIT_OUT)
    # The earliest sighting and its uid in one reduction: the smallest (ts, uid) as one sortable
    # text (``sighting_key``), so that no file's names wait for all the others' (a join would).
    sightings = parts[parts.table == "name"].groupby(NAME_KEY).uid.min(split_every=SPLIT_EVERY, split_out=SPLIT_OUT)
    facts = parts[parts.table.isin(["log", "skipped", "outside", "bytes_unknown"])]
    return [flows, clients, sightings, facts]


class _Watch:
    """This process's view of the running tasks: what they have read, and whether to stop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.report: Callable[[str, int], None] | None = None


_WATCH = _Watch()


@contextlib.contextmanager
def _watching(logs: Sequence[LogFile], reader: SensorLogs, progress: Callable[[str, int, int], None] | None):
    """Progress over all of ``logs`` while the block runs; Ctrl-C in it tells the tasks to stop."""
    what = f"{len(logs)} {reader.sensor} log{'s' if len(logs) != 1 else ''}"
    if progress is not None:
        total = sum(storage.stored_size(log.path) for log in logs)
        read: dict[str, int] = {}

        def report(path: str, position: int) -> None:
            with _WATCH.lock:
                read[path] = position
                done = sum(read.values())
            progress(what, min(done, total) if total else done, total)

        progress(what, 0, total)
    _WATCH.stop.clear()
    _WATCH.report = report if progress is not None else None
    try:
        yield _WATCH.report
    except KeyboardInterrupt:
        _WATCH.stop.set()  # the threads scheduler's tasks end at their next chunk, not the file's end
        raise
    finally:
        _WATCH.report = None


def _compute(collections: list, scheduler: str | None, topic: str | None = None,
             report: Callable[[str, int], None] | None = None) -> tuple:
    """The collections' results on ``scheduler``; on a cluster, the workers' progress events on
    ``topic`` handed to ``report(path, position)`` as they arrive."""
    import dask

    if scheduler and "://" in scheduler:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - a dependency
            raise UserError("--scheduler tcp://... needs the 'distributed' package: pip install distributed") from None
        try:
            client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise UserError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({err}); "
                            f"check the address, or leave --scheduler out to aggregate locally") from None
        with client:
            if topic is not None and report is not None:
                client.subscribe_topic(topic, lambda event: report(*event[1]))
            try:
                return tuple(client.gather(client.compute(collections)))
            finally:
                if topic is not None and report is not None:
                    client.unsubscribe_topic(topic)
    if scheduler not in (None, "", "threads", "sync", "synchronous", "processes"):
        raise UserError(f"--scheduler {scheduler}: give sync, threads, processes, or a dask.distributed address tcp://HOST:PORT")
    return dask.compute(*collections, scheduler=scheduler or "sync")


def _summaries(logs: Sequence[LogFile], facts: pd.DataFrame) -> list[LogSummary]:
    skipped: dict[str, Counter] = {log.path: Counter() for log in logs}
    for row in facts[facts.table == "skipped"].itertuples(index=False):
        skipped[row.name][row.source] += int(row.flows)
    bytes_unknown = {row.name: int(row.flows) for row in facts[facts.table == "bytes_unknown"].itertuples(index=False)}
    summaries = []
    by_path = {row.name: row for row in facts[facts.table == "log"].itertuples(index=False)}
    for log in logs:
        row = by_path[log.path]
        summaries.append(LogSummary(path=log.path, format=row.source, sha256=row.uid, lines=int(row.lines),
                                    rows=int(row.flows), skipped=dict(sorted(skipped[log.path].items())),
                                    first_ts=_or_none(row.first_ts), last_ts=_or_none(row.last_ts),
                                    bytes_unknown=bytes_unknown.get(log.path, 0)))
    return summaries


def _or_none(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


# --------------------------------------------------------------------------- one task: one file


def reduce_log(log: LogFile, reader: SensorLogs, scope: Scope = Scope(), rows: int = CHUNK_ROWS,
               progress_topic: str | None = None) -> pd.DataFrame:
    """One file's per-destination sums (PARTIAL rows): its chunks are reduced as they come, so
    memory holds destinations, not rows.  ``progress_topic``: on a dask.distributed worker, say
    each chunk's position as an event on this topic (the client shows it)."""
    worker_report = _worker_report(progress_topic)
    digest = hashlib.sha256()
    flows: list[pd.DataFrame] = []
    names: list[pd.DataFrame] = []
    clients: Counter = Counter()
    skipped: Counter = Counter()
    lines = taken = outside = bytes_unknown = 0
    first = last = None
    pending = 0
    names_from_flows = getattr(reader, "names_from_flows", False)  # a flow dataset: a row's name is its flow's
    for chunk in reader.chunks(log, rows):
        if _WATCH.stop.is_set():
            raise KeyboardInterrupt
        if _WATCH.report is not None:
            _WATCH.report(log.path, chunk.position)
        elif worker_report is not None:
            worker_report(log.path, chunk.position)
        lines += chunk.lines
        skipped += chunk.skipped
        if chunk.first_ts is not None and not np.isnan(chunk.first_ts):
            first = chunk.first_ts if first is None else min(first, chunk.first_ts)
        if chunk.last_ts is not None and not np.isnan(chunk.last_ts):
            last = chunk.last_ts if last is None else max(last, chunk.last_ts)
        if chunk.flows is not None and len(chunk.flows):
            taken += len(chunk.flows)
            in_scope = _in_scope(chunk.flows, scope)
            outside += int((~in_scope).sum())
            unset = (chunk.flows["orig_ip_bytes"].to_numpy(dtype="int64") < 0) | \
                    (chunk.flows["resp_ip_bytes"].to_numpy(dtype="int64") < 0)
            bytes_unknown += int((unset & np.asarray(in_scope)).sum())
            sums, opened = flow_sums(chunk.flows[in_scope])
            flows.append(sums)
            clients.update(opened)
            pending += len(sums)
        if chunk.names is not None and len(chunk.names):
            taken += 0 if names_from_flows else len(chunk.names)
            names.append(earliest_names(chunk.names))
            pending += len(names[-1])
        if pending > _COMPACT_AT:
            flows = [combine_flows(flows)] if flows else []
            names = [combine_names(names)] if names else []
            pending = sum(map(len, flows + names))
    _hash_file(log.path, digest)
    parts = []
    if flows:
        parts.append(combine_flows(flows).assign(table="flow"))
    if clients:
        parts.append(pd.DataFrame({"table": "client", "ip": list(clients), "flows": list(clients.values())}))
    if names:
        earliest = combine_names(names)
        parts.append(earliest.assign(table="name", uid=sighting_keys(earliest["first_ts"], earliest["uid"])))
    parts.append(pd.DataFrame({"table": ["log"], "name": [log.path], "source": [log_format(log)],
                               "uid": [digest.hexdigest()], "flows": [taken], "lines": [lines],
                               "first_ts": [np.nan if first is None else first],
                               "last_ts": [np.nan if last is None else last]}))
    if skipped:
        parts.append(pd.DataFrame({"table": "skipped", "name": log.path, "source": list(skipped),
                                   "flows": list(skipped.values())}))
    if outside:
        parts.append(pd.DataFrame({"table": ["outside"], "flows": [outside]}))
    if bytes_unknown:
        parts.append(pd.DataFrame({"table": ["bytes_unknown"], "name": [log.path], "flows": [bytes_unknown]}))
    return _conform(pd.concat(parts, ignore_index=True))


def _worker_report(topic: str | None) -> Callable[[str, int], None] | None:
    """On a dask.distributed worker, a function that sends (path, position) as an event on
    ``topic``; None elsewhere, or when no one listens."""
    if topic is None or "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not in a worker's task
        return None
    return lambda path, position: worker.log_event(topic, (path, position))


def _hash_file(path: str, digest) -> None:
    """The file's SHA-256 as stored (compressed, if it is): a second read, mostly from the page
    cache (benchmarks/README.md has the cost)."""
    try:
        with (storage.open_url(path) if storage.is_url(path) else open(path, "rb")) as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    except OSError as err:
        raise UserError(f"{path}: cannot read it to hash it: {err.strerror or err}") from None


def _conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Every PARTIAL column, in order, of its dtype (absent text is "", counters 0, times NaN)."""
    out = {}
    for column, dtype in PARTIAL.items():
        values = frame[column] if column in frame else None
        if dtype == "str":
            out[column] = values.fillna("").astype("str") if values is not None else ""
        elif dtype == "int64":
            out[column] = values.fillna(0).astype("int64") if values is not None else 0
        else:
            out[column] = values.astype("float64") if values is not None else np.nan
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=PARTIAL.get(c, "str")) for c in columns})


# --------------------------------------------------------------------------- one chunk


def local_mask(addresses: np.ndarray) -> np.ndarray:
    """Whether each distinct address is in geo's special-purpose (local) ranges."""
    if not len(addresses):
        return np.zeros(0, dtype=bool)
    return np.asarray(local_table().find(AddressKeys.parse(list(addresses)))) >= 0


def flow_sums(flows: pd.DataFrame) -> tuple[pd.DataFrame, Counter]:
    """A chunk of FLOW_COLUMNS rows summed per (destination, proto, port, app), and the flows each
    local originator opened.  Text stays in its (Arrow) columns: no Python string per row."""
    orig, resp = flows["id.orig_h"].reset_index(drop=True), flows["id.resp_h"].reset_index(drop=True)
    orig_local, resp_local = _is_local(orig), _is_local(resp)
    reversed_ = resp_local & ~orig_local
    orig_bytes = flows["orig_ip_bytes"].to_numpy(dtype="int64").clip(min=0)  # -1: unset
    resp_bytes = flows["resp_ip_bytes"].to_numpy(dtype="int64").clip(min=0)
    ts = flows["ts"].to_numpy(dtype="float64")
    duration = np.nan_to_num(flows["duration"].to_numpy(dtype="float64"), nan=0.0).clip(min=0.0)
    port = np.where(reversed_, flows["id.orig_p"].to_numpy(dtype="int64"), flows["id.resp_p"].to_numpy(dtype="int64"))
    port = np.where((port <= 1023) | np.isin(port, list(SERVICE_PORTS)), port, 0)
    frame = pd.DataFrame({
        "ip": resp.where(~reversed_, orig),
        "proto": flows["proto"].reset_index(drop=True),
        "port": port,
        "app": flows["app"].reset_index(drop=True),
        "flows": np.ones(len(flows), dtype="int64"),
        "sent_bytes": np.where(reversed_, resp_bytes, orig_bytes),
        "received_bytes": np.where(reversed_, orig_bytes, resp_bytes),
        "first_ts": ts,
        "last_ts": ts + duration,
    })
    opened = Counter(orig[orig_local].value_counts().to_dict()) if orig_local.any() else Counter()
    return combine_flows([frame]), opened


def _is_local(addresses: pd.Series) -> np.ndarray:
    """Whether each address is local, looked up once per distinct address."""
    codes, uniques = pd.factorize(addresses)
    return local_mask(np.asarray(uniques, dtype=object))[codes]


def combine_flows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return (frame.groupby(GROUP, sort=False, dropna=False)
            .agg(flows=("flows", "sum"), sent_bytes=("sent_bytes", "sum"), received_bytes=("received_bytes", "sum"),
                 first_ts=("first_ts", "min"), last_ts=("last_ts", "max"))
            .reset_index())


def earliest_names(names: pd.DataFrame) -> pd.DataFrame:
    """NAME_COLUMNS rows reduced to the earliest (ts, uid) sighting per (ip, name, source)."""
    frame = pd.DataFrame({"ip": names["ip"], "name": names["name"], "source": names["source"],
                          "uid": names["uid"].fillna("").astype(str), "first_ts": names["ts"].astype("float64")})
    frame = frame[frame["name"].fillna("") != ""]
    return combine_names([frame])


def combine_names(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return (frame.sort_values(["first_ts", "uid"], kind="stable", na_position="last")
            .drop_duplicates(NAME_KEY, keep="first").reset_index(drop=True))


def sighting_keys(ts: pd.Series, uid: pd.Series) -> pd.Series:
    """(ts, uid) as text that sorts as the pair does: ts's IEEE bits in 16 hex digits (for times
    >= 0 the bits order as the numbers do, and NaN sorts last), then the uid."""
    bits = np.ascontiguousarray(ts.to_numpy(dtype="float64")).view(np.uint64)
    return pd.Series([f"{b:016x}" for b in bits.tolist()], index=ts.index, dtype="str") + uid.astype("str")


def from_sighting_keys(keys: pd.Series) -> tuple[np.ndarray, list[str]]:
    """``sighting_keys`` back to (ts, uid)."""
    texts = keys.astype(str).tolist()
    bits = np.array([int(text[:16], 16) for text in texts], dtype=np.uint64)
    return bits.view(np.float64), [text[16:] for text in texts]


def _in_scope(flows: pd.DataFrame, scope: Scope) -> np.ndarray:
    """Which rows the policy's scope covers (as ``policy.flow_in_scope``, per row)."""
    keep = np.ones(len(flows), dtype=bool)
    if scope.nothing:
        return ~keep
    ts = flows["ts"].to_numpy(dtype="float64")
    last = ts + np.nan_to_num(flows["duration"].to_numpy(dtype="float64"), nan=0.0).clip(min=0.0)
    if scope.start is not None:
        keep &= ~(last < scope.start)
    if scope.end is not None:
        keep &= ~(ts > scope.end)
    if scope.clients:
        networks = [ipaddress.ip_network(net) for net in scope.clients]
        codes, uniques = pd.factorize(flows["id.orig_h"].to_numpy(dtype=object))
        inside = np.array([_in_networks(address, networks) for address in uniques], dtype=bool)
        keep &= inside[codes] if len(uniques) else keep
    return keep


def _in_networks(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)
