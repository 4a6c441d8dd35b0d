"""A flow dataset as sensor logs: the hive-partitioned Parquet files ``tracecheck flows ...
--format parquet --partitioned -o DIR`` writes (by capture file and date), read a file at a time.

A month of ring-buffer captures turned into flows on several machines is judged like Zeek logs:
each Parquet file is one "log", its rows flows (the flow-table columns of CONTRACT.md), and a
row's ``server_name``/``name_source`` a name for its responder."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tracecheck.errors import UserError
from tracecheck.sensors import storage
from tracecheck.sensors.interface import FLOW_COLUMNS, Chunk, LogFile, SensorLogs

PARTITIONS = ("capture", "date")
"""The dataset's hive partition keys: the capture file's name and the flow's UTC date."""
NEEDED = ("uid", "ts", "duration", "proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "orig_pkts",
          "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "server_name", "name_source", "app")
_INTEGERS = ("id.orig_p", "id.resp_p", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes")
_TEXTS = ("uid", "proto", "id.orig_h", "id.resp_h", "app")


class FlowDataset(SensorLogs):
    """Parquet flow tables (a dataset directory, or files)."""

    sensor = "flows"
    names_from_flows = True
    """A row's name is its flow's, not a record of its own (``aggregate`` counts the row once)."""

    def find(self, paths: Sequence[str]) -> list[LogFile]:
        found: list[str] = []
        for given in paths:
            path = Path(given)
            if storage.is_url(given):
                found += storage.expand_url(given, lambda name: name.endswith(".parquet"), "Parquet files")
            elif path.is_dir():
                files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
                if not files:
                    raise UserError(f"{given}: no Parquet files in it: not a flow dataset (write one with "
                                    f"`tracecheck flows CAPTURE... --format parquet --partitioned -o DIR`)")
                found += files
            elif path.is_file():
                found.append(str(path))
            else:
                raise UserError(f"{given}: no such file or directory")
        for path in found:
            _check_schema(path)
        return [LogFile(path=path, sensor="flows", log="flows", layout="parquet") for path in dict.fromkeys(found)]

    def chunks(self, log: LogFile, rows: int = 200_000) -> Iterator[Chunk]:
        import pyarrow.parquet as pq

        with _source(log.path) as source:
            parquet = pq.ParquetFile(source)
            size, total, done = source.seek(0, 2), max(1, parquet.metadata.num_rows), 0
            source.seek(0)
            for chunk in self._chunks(log, parquet, rows):
                done += chunk.lines
                chunk.position = size * done // total
                yield chunk

    @staticmethod
    def _chunks(log: LogFile, parquet, rows: int) -> Iterator[Chunk]:
        for batch in parquet.iter_batches(batch_size=rows, columns=list(NEEDED)):
            frame = batch.to_pandas()
            flows = pd.DataFrame({column: frame[column] for column in FLOW_COLUMNS if column in frame})
            for column in _INTEGERS:
                flows[column] = frame[column].fillna(-1).astype("int64")
            for column in _TEXTS:
                flows[column] = frame[column].fillna("").astype(str)
            flows["ts"] = frame["ts"].astype("float64")
            flows["duration"] = frame["duration"].astype("float64")
            flows["log"] = log.path
            flows = flows[list(FLOW_COLUMNS)]
            named = frame["server_name"].fillna("").astype(str) != ""
            names = pd.DataFrame({
                "ts": frame["ts"][named].astype("float64"), "uid": flows["uid"][named], "ip": flows["id.resp_h"][named],
                "name": frame["server_name"][named].astype(str).str.lower().str.rstrip("."),
                "source": frame["name_source"][named].fillna("").astype(str).replace("", "dns"),
                "client": flows["id.orig_h"][named]}).reset_index(drop=True)
            ts = flows["ts"].to_numpy()
            finite = ts[np.isfinite(ts)]
            yield Chunk(flows=flows.reset_index(drop=True), names=names, lines=len(frame),
                        first_ts=float(finite.min()) if len(finite) else None,
                        last_ts=float(finite.max()) if len(finite) else None)


def _source(path: str):
    """What pyarrow reads a Parquet file from: the path, or a URL's file object (``storage``)."""
    return storage.open_url(path) if storage.is_url(path) else open(path, "rb")  # noqa: SIM115


def _check_schema(path: str) -> None:
    import pyarrow.parquet as pq

    try:
        with _source(path) as source:
            names = set(pq.read_schema(source).names)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise UserError(f"{path}: not a Parquet file ({str(err).splitlines()[0][:200]})") from None
    missing = [column for column in NEEDED if column not in names]
    if missing:
        raise UserError(f"{path}: not a tracecheck flow table (no column {', '.join(missing)}); write one with "
                        f"`tracecheck flows CAPTURE... --format parquet`")


def write_dataset(table, out_dir: str) -> list[str]:
    """The flow table (``Columns``) as a hive-partitioned Parquet dataset in ``out_dir``, by
    capture file name and UTC date; returns the files written, sorted."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from tracecheck.flows.table import COLUMNS
    from tracecheck.report.tables import parquet_schema

    arrow = pa.table({c: list(table[c]) for c in COLUMNS}, schema=parquet_schema(COLUMNS))
    captures = [os.path.basename(path) or "capture" for path in table["capture_file"]]
    dates = pd.to_datetime(pd.Series(table["ts"], dtype="float64"), unit="s", utc=True).dt.strftime("%Y-%m-%d")
    arrow = arrow.append_column("capture", pa.array(captures, pa.string()))
    arrow = arrow.append_column("date", pa.array(dates.fillna("unknown").tolist(), pa.string()))
    written: list[str] = []
    try:
        ds.write_dataset(arrow, out_dir, format="parquet", partitioning=list(PARTITIONS), partitioning_flavor="hive",
                         existing_data_behavior="delete_matching", basename_template="flows-{i}.parquet",
                         file_visitor=lambda f: written.append(f.path))
    except OSError as err:
        raise UserError(f"cannot write the flow dataset into {out_dir}: {err}") from None
    return sorted(written)


FLOW_DATASET = FlowDataset()
