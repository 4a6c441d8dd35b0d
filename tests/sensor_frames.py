"""A sensor-log reader the tests control: chunks of flow and name frames built in memory, behind
the interface the Zeek and eve.json readers implement (``tracecheck.sensors.interface``).

Module-level and picklable, so Dask workers (threads or processes) can run it."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from tracecheck.sensors.interface import FLOW_COLUMNS, NAME_COLUMNS, Chunk, LogFile, SensorLogs


class FramesReader(SensorLogs):
    """``chunks[path]``: the (flows, names) frames of each chunk of the file at ``path``."""

    sensor = "zeek"

    def __init__(self, chunks: dict[str, list[tuple[pd.DataFrame | None, pd.DataFrame | None]]]) -> None:
        self.frames = chunks

    def find(self, paths):
        return [LogFile(path=p, sensor="zeek", log="conn", layout="tsv") for p in sorted(paths)]

    def chunks(self, log, rows=200_000):
        for flows, names in self.frames[log.path]:
            stamps = pd.concat([f["ts"] for f in (flows, names) if f is not None and len(f)] or [pd.Series([], dtype=float)])
            yield Chunk(flows=flows, names=names, lines=sum(len(f) for f in (flows, names) if f is not None),
                        skipped=Counter({"unparseable line": 1}),
                        first_ts=float(stamps.min()) if len(stamps) else None,
                        last_ts=float(stamps.max()) if len(stamps) else None)


def flow_frame(rows: list[tuple]) -> pd.DataFrame:
    """FLOW_COLUMNS from (uid, ts, duration, proto, orig_h, orig_p, resp_h, resp_p, orig_bytes, resp_bytes, app)."""
    frame = pd.DataFrame([(uid, ts, duration, proto, oh, op, rh, rp, 1, ob, 1, rb, app, "conn.log")
                          for uid, ts, duration, proto, oh, op, rh, rp, ob, rb, app in rows], columns=list(FLOW_COLUMNS))
    return frame.astype({"ts": "float64", "duration": "float64", "id.orig_p": "int64", "id.resp_p": "int64",
                         "orig_pkts": "int64", "orig_ip_bytes": "int64", "resp_pkts": "int64", "resp_ip_bytes": "int64"})


def name_frame(rows: list[tuple]) -> pd.DataFrame:
    """NAME_COLUMNS from (ts, uid, ip, name, source)."""
    return pd.DataFrame([(ts, uid, ip, name, source, "10.0.0.1") for ts, uid, ip, name, source in rows],
                        columns=list(NAME_COLUMNS)).astype({"ts": "float64"})
