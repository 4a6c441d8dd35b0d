"""What a sensor-log reader gives: the log files it found, and their rows a chunk at a time.

Readers are per file and picklable, so that Dask workers can read the same paths a chunk at a
time and aggregate where the files are (``aggregate``): nothing here holds a whole log."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

FLOW_COLUMNS = ("uid", "ts", "duration", "proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "app", "log")
"""A chunk's flows: the contract's flow-table columns a sensor's conn record gives (Zeek conn.log
names; eve.json's ``flow`` events mapped onto them), ``app`` the sensor's application protocol
(Zeek ``service``, eve ``app_proto``; "" unknown) and ``log`` the path of the file the row is
from.  dtypes: ts/duration float64, ports and counters int64, the rest str.  A value the sensor
left unset is NaN (floats), -1 (counters and ports) or "" (text)."""

NAME_COLUMNS = ("ts", "uid", "ip", "name", "source", "client")
"""A chunk's names: a name seen for address ``ip`` (the server of an ssl/quic/http/sip record, an
address in a DNS answer), ``source`` one of sni, quic_sni, http_host, sip, dns, dns_cname (as a
capture's), ``client`` the address that asked (DNS) or connected; ``uid`` the sensor's flow id
(Zeek uid, eve flow_id as text).  Names lower-case, without trailing dot."""


@dataclass(frozen=True)
class LogFile:
    """One log file a reader will read."""

    path: str
    """As given or found (a directory's files, a glob's matches), in a stable sorted order."""
    sensor: str
    """``zeek`` or ``eve``."""
    log: str
    """What it holds: ``conn``, ``ssl``, ``quic``, ``http``, ``sip``, ``dns`` (Zeek), ``eve`` (all of eve.json)."""
    layout: str
    """``tsv`` (Zeek's #fields header), ``json`` (JSON lines)."""


@dataclass
class Chunk:
    """Up to a reader's chunk size of a file's lines, as frames."""

    flows: pd.DataFrame | None = None
    """FLOW_COLUMNS, or None when the log holds no flows (ssl.log, dns.log ...)."""
    names: pd.DataFrame | None = None
    """NAME_COLUMNS, or None when the log holds no names (conn.log)."""
    lines: int = 0
    """Lines of the file this chunk covers, headers and comments included."""
    skipped: Counter = field(default_factory=Counter)
    """Records not taken, by reason (``unparseable line``, ``not an IP address``, ``other event type``)."""
    first_ts: float | None = None
    last_ts: float | None = None
    position: int = 0
    """Bytes of the stored file (compressed, if it is) read up to the end of this chunk: for
    progress only."""


class SensorLogs(ABC):
    """A sensor's log format."""

    sensor: str
    """``zeek`` or ``eve``."""

    @abstractmethod
    def find(self, paths: Sequence[str]) -> list[LogFile]:
        """The log files at ``paths`` (files, directories, globs; rotated and .gz sets included),
        sorted; UserError (one line: which path, why) when one is missing or not this format."""

    @abstractmethod
    def chunks(self, log: LogFile, rows: int = 200_000) -> Iterator[Chunk]:
        """The file's records, ``rows`` at a time; a malformed line is counted in ``skipped``,
        never fatal; a file that stops being this format part-way is a UserError."""
