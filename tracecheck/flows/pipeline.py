"""Capture files to the flow table: read, decode, aggregate — and account for every record."""

from __future__ import annotations

import os
import queue
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from tracecheck.collector import collector_paused
from tracecheck.flows.builder import FlowBuilder
from tracecheck.flows.table import FlowTable, flow_table
from tracecheck.ingest.digest import held as hashing_held
from tracecheck.ingest.capture import open_capture
from tracecheck.ingest.decode import Decoder, Packets
from tracecheck.vocabulary import Accounting, CaptureInfo, NameObservation, RelayedPeer

if TYPE_CHECKING:
    from tracecheck.dissect.session import Dissection

# Called for every decoded batch: the packets, each packet's flow index, the capture's index.
PacketHook = Callable[[Packets, np.ndarray, int], None]


@dataclass
class FlowResult:
    flows: FlowTable
    """The flow table; iterating it gives ``Flow`` rows, its ``columns`` feed the writers."""
    accounting: Accounting
    captures: list[CaptureInfo]
    warnings: list[str] = field(default_factory=list)
    """What went wrong reading the files (truncation, corruption), one line each."""
    limits: list[str] = field(default_factory=list)
    """What the files say their capture missed (kernel drops): the files are whole, the evidence is not."""
    builder: FlowBuilder | None = None
    """The raw per-flow columns, for stages that annotate flows by index (``flows.builder_index``)."""
    digests: list = field(default_factory=list)
    """Each capture's SHA-256 still being computed (``ingest.digest``), when asked for: see ``hash_captures``."""

    def hash_captures(self) -> None:
        """Put each capture's SHA-256 into ``captures``, waiting for any still being computed
        (the file is hashed on a thread of its own while flows are built and judged)."""
        for index, digest in enumerate(self.digests):
            capture = self.captures[index]
            self.captures[index] = replace(capture, sha256=digest.hexdigest())
            change = digest.changed()
            if change is not None:
                self.warnings.append(f"{capture.path}: the file changed while it was read ({change}): its sha256 "
                                     f"may not be of the bytes judged")
        self.digests = []


def build_flows(paths: Iterable[str], hash_files: bool = False, on_packets: PacketHook | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> FlowResult:
    """Read every capture in order (flows may continue from one file into the next).

    ``hash_files``: hash each file too; the digests are in ``captures`` after ``hash_captures``."""
    decoder = Decoder()
    builder = FlowBuilder()
    captures: list[CaptureInfo] = []
    digests: list = []
    names: list[str] = []
    skipped: Counter = Counter()
    notes: Counter = Counter()
    warnings: list[str] = []
    limits: list[str] = []
    records = decoded = 0
    for index, path in enumerate(paths):
        names.append(str(path))
        size = os.path.getsize(path) if os.path.exists(path) else 0
        with open_capture(path, hash_file=hash_files) as capture, hashing_held():
            for batch, packets, batch_skipped in _read_ahead(capture, decoder, records):
                skipped += batch_skipped
                decoded += len(batch) - sum(batch_skipped.values())
                flow_of = builder.add(packets, index)
                if on_packets is not None:
                    on_packets(packets, flow_of, index)
                if progress is not None:
                    progress(str(path), capture.position(), size)
            stats = capture.stats
            if hash_files:
                digests.append(capture.digest())
            records += stats.records
            skipped += stats.skipped
            notes += stats.notes
            vantage = stats.context.vantage_point()
            if vantage is not None and vantage.dropped:
                limits.append(f"{path}: {_drops_warning(vantage)}")
            warnings += [f"{path}: {w}" for w in stats.warnings]
            captures.append(CaptureInfo(
                path=str(path), sha256="", format=capture.format,
                linktypes=tuple(stats.linktypes), packets=stats.records,
                first_ts=stats.first_ts_ns / 1e9 if stats.first_ts_ns is not None else None,
                last_ts=stats.last_ts_ns / 1e9 if stats.last_ts_ns is not None else None,
                vantage=vantage,
            ))
    notes += builder.notes
    flows = flow_table(builder, decoder.tunnels.names, names)
    accounting = Accounting(records=records, decoded=decoded, skipped=dict(sorted(skipped.items())),
                            notes=dict(sorted(notes.items())))
    assert accounting.records == accounting.decoded + sum(accounting.skipped.values()), accounting
    return FlowResult(flows=flows, accounting=accounting, captures=captures, warnings=warnings, limits=limits,
                      builder=builder, digests=digests)


def _drops_warning(vantage) -> str:
    """Packets the capture itself lost are evidence nobody saw: a limit of whatever is judged."""
    parts = [f"{label}: {count:,}" for label, count in (("by the kernel", vantage.dropped_by_os),
                                                         ("by the interface", vantage.dropped_by_interface)) if count]
    received = f" of {vantage.received:,} received" if vantage.received is not None else ""
    return (f"the capture dropped {vantage.dropped:,} packet{'s' if vantage.dropped != 1 else ''}{received} "
            f"({', '.join(parts)}): flows, names or calls may be missing from this evidence")


@dataclass
class NamedFlows:
    """The flow table with names, apps and calls filled in by the dissectors."""

    result: FlowResult
    calls: list
    examined: int
    """Packets whose payload a dissector looked at."""
    dissection: Dissection = field(repr=False)
    """What the dissectors found, kept for ``names``."""

    @cached_property
    def names(self) -> list[NameObservation]:
        """Every name seen for an address: made on first use (``tracecheck flows`` never asks)."""
        return self.dissection.names(self.result.flows)

    @cached_property
    def _turn(self) -> tuple[list[RelayedPeer], dict[str, str]]:
        return self.dissection.relayed_peers(self.result.flows)

    @property
    def relayed(self) -> list[RelayedPeer]:
        """The peers clients reached through TURN relays (``dissect.turn``)."""
        return self._turn[0]

    @property
    def turn_flows(self) -> dict[str, str]:
        """Every flow that spoke TURN to a relay, uid -> the relay's address, peers seen or not."""
        return self._turn[1]


def build_named_flows(paths: Iterable[str], hash_files: bool = False,
                      progress: Callable[[str, int, int], None] | None = None,
                      parallel: bool | None = None) -> NamedFlows:
    """``build_flows`` with the dissectors riding along (DNS, TLS, QUIC, HTTP, SIP, RTP, STUN).

    ``parallel``: run the dissectors in a second process (None: when the captures are large
    enough for it to pay and the machine has a second core)."""
    from tracecheck.dissect.session import Dissection
    from tracecheck.dissect.worker import DissectionWorker, worth_a_process

    paths = [str(path) for path in paths]
    if parallel is None:
        parallel = worth_a_process(sum(os.path.getsize(p) for p in paths if os.path.isfile(p)))
    dissection = Dissection()
    # Forked before the flow stage's threads start.  A capture's hash may be running already
    # (ingest/digest.py): that thread holds no lock the child could need.
    worker = DissectionWorker() if parallel else None
    try:
        hook = _shared_with(worker, dissection) if worker else dissection.on_packets
        result = build_flows(paths, hash_files=hash_files, on_packets=hook, progress=progress)
        # The worker's findings (unpickled) and the named table: tens of thousands of objects
        # that all live on, made while the table waits.
        with collector_paused():
            if worker is not None:
                dissection.absorb(worker.finish())
            result.flows, calls = dissection.finish(result.flows)
    finally:
        if worker is not None:
            worker.close()
    return NamedFlows(result=result, calls=calls, examined=dissection.examined, dissection=dissection)


def _shared_with(worker, dissection: Dissection) -> PacketHook:
    """The packet hook when a worker process runs the dissectors: this process picks the
    packets (it has the flow indexes) and the worker looks at them.  When the worker falls
    behind, this process looks at a batch's DNS packets itself (DNS flows share nothing with
    the others), so neither waits for the other."""
    def hook(p: Packets, flow_of: np.ndarray, capture: int) -> None:
        picks = dissection.select(p, flow_of)
        if picks is None:
            return
        if not worker.behind():
            worker.send(picks)
            return
        dns, rest = picks.split_dns()
        worker.send(rest)
        if len(dns):
            dissection.examine(dns)
    return hook


def _read_ahead(capture, decoder: Decoder, first_record: int):
    """Yield (batch, packets, skipped) while the next batch is already being read and decoded
    on a second thread: the walk and NumPy's bulk work (which releases the GIL) overlap the
    flow stage, so both cores work."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in capture.batches(first_record=first_record):
                item = (batch, *decoder.decode(batch))
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(done)
        except BaseException as err:  # handed to the consumer, raised there
            ready.put(err)

    worker = threading.Thread(target=produce, name="tracecheck-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
