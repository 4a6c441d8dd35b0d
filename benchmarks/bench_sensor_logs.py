#!/usr/bin/env python3
"""Rows/s and peak memory of summing Zeek conn.log rows per destination (issue 17).

    python benchmarks/bench_sensor_logs.py                        # 1M rows: a quick run
    python benchmarks/bench_sensor_logs.py --rows 10000000,50000000 [--gzip] [--keep DIR]

For each size it writes N conn.log rows (Zeek TSV, files of --file-rows rows, optionally gzip)
to --destinations distinct public addresses from 200 local clients, and an ssl.log naming every
destination, then measures, each in a child process (peak RSS from wait4):

    aggregate   tracecheck.sensors.aggregate on the local default (synchronous) scheduler
    threads     the same on Dask's threaded scheduler
    cluster     the same graph on a dask.distributed LocalCluster of two worker processes
                (RSS: the client's; workers' peak from the cluster's own accounting)
    analyze     `tracecheck --quiet analyze --zeek DIR` end to end (resolve, judge, report)
    peer        DuckDB reading the same files and grouping per responder (pandas' read_csv in
                chunks when duckdb is absent): no locality test, no names -- the floor

and prints rows/s, peak RSS and the ratio of each to the peer.  Memory must be flat from the
smallest to the largest size: it is bounded by destinations, not rows.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HEADER = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{path}\n"
          "#fields\t{fields}\n#types\t{types}\n")
CONN_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
               "orig_bytes", "resp_bytes", "conn_state", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"]
CONN_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count",
              "string", "count", "count", "count", "count"]


def destinations(count: int) -> np.ndarray:
    """``count`` distinct public IPv4 addresses (from 20.0.0.0 on: public, not special-purpose)."""
    base = (20 << 24) + np.arange(count, dtype=np.int64) * 7
    return np.array([f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}" for a in base.tolist()], dtype=object)


def write_logs(folder: Path, rows: int, dests: int, file_rows: int, compress: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(17)
    addresses = destinations(dests)
    clients = np.array([f"10.1.{i // 250}.{i % 250 + 1}" for i in range(200)], dtype=object)
    opener = gzip.open if compress else open
    suffix = ".log.gz" if compress else ".log"
    files, written, start = [], 0, 1.795e9
    while written < rows:
        path = folder / f"conn.{len(files):04d}{suffix}"
        in_file = min(file_rows, rows - written)
        with opener(path, "wt") as out:
            out.write(HEADER.format(path="conn", fields="\t".join(CONN_FIELDS), types="\t".join(CONN_TYPES)))
            for at in range(0, in_file, 1_000_000):
                n = min(1_000_000, in_file - at)
                index = written + at + np.arange(n)
                ts = start + index * 0.01
                dest = rng.integers(0, dests, n)
                resp_p = np.where(dest % 5 == 0, 3478, 443)
                service = np.where(resp_p == 443, "ssl", "-")
                proto = np.where(resp_p == 443, "tcp", "udp")
                ob, rb = rng.integers(60, 20000, n), rng.integers(60, 200000, n)
                lines = ["\t".join(row) + "\n" for row in zip(
                    np.char.mod("%.6f", ts), np.char.add("C", index.astype(str)),
                    clients[rng.integers(0, len(clients), n)], rng.integers(1024, 65535, n).astype(str),
                    addresses[dest], resp_p.astype(str), proto, service, np.char.mod("%.3f", rng.random(n) * 30),
                    (ob - 40).astype(str), (rb - 40).astype(str), np.full(n, "SF"),
                    (ob // 500 + 1).astype(str), ob.astype(str), (rb // 500 + 1).astype(str), rb.astype(str))]
                out.write("".join(lines))
            out.write("#close\t2026-12-05-00-00-00\n")
        files.append(path)
        written += in_file
    ssl = folder / f"ssl{suffix}"
    with opener(ssl, "wt") as out:
        fields = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "server_name"]
        out.write(HEADER.format(path="ssl", fields="\t".join(fields),
                                types="\t".join(["time", "string", "addr", "port", "addr", "port", "string"])))
        out.write("".join(f"{start + i * 0.01:.6f}\tC{i}\t10.1.0.1\t40000\t{ip}\t443\thost{i}.example.com\n"
                          for i, ip in enumerate(addresses.tolist())))
    return files + [ssl]


def child(code: str, *args: str, ok=(0,)) -> tuple[float, dict]:
    """Run ``python -c code args``: wall seconds and the JSON it prints last, with its own peak
    RSS (``VmHWM``; wait4's ru_maxrss would include this process's, inherited through fork)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK + code, *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"benchmark step failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


PEAK = '''
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
'''

AGGREGATE = '''
import sys, json
from tracecheck.sensors.zeek import ZEEK
from tracecheck.sensors.aggregate import aggregate
logs = ZEEK.find([sys.argv[1]])
workers = 0.0
if sys.argv[2] == "cluster":
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        result = aggregate(ZEEK, logs, scheduler=cluster.scheduler_address)
        with Client(cluster) as client:
            workers = max(client.run(peak_mb).values())
else:
    result = aggregate(ZEEK, logs, scheduler=sys.argv[2])
print(json.dumps({"destinations": int(result.flows.ip.nunique()), "rows": sum(l.rows for l in result.logs),
                  "peak_mb": peak_mb(), "worker_peak_mb": workers}))
'''

PEER_DUCKDB = '''
import sys, glob, json, duckdb
files = sorted(glob.glob(sys.argv[1] + "/conn.*"))
columns = json.loads(sys.argv[2])
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute("SET enable_progress_bar = false")
query = f"""SELECT count(*), sum(flows) FROM (SELECT "id.resp_h" AS ip, count(*) AS flows,
  sum(orig_ip_bytes) AS sent, sum(resp_ip_bytes) AS received, min(ts) AS first, max(ts + duration) AS last
  FROM read_csv({files!r}, delim='\\t', header=false, comment='#', columns={columns!r}, auto_detect=false)
  GROUP BY ALL)"""
dests, rows = con.execute(query).fetchone()
print(json.dumps({"destinations": dests, "rows": int(rows), "peak_mb": peak_mb()}))
'''

PEER_PANDAS = '''
import sys, glob, json, pandas as pd
names = list(json.loads(sys.argv[2]))
how = {"flows": "sum", "sent": "sum", "received": "sum", "first": "min", "last": "max"}
parts = []
for path in sorted(glob.glob(sys.argv[1] + "/conn.*")):
    for chunk in pd.read_csv(path, sep="\\t", comment="#", header=None, names=names, chunksize=1_000_000,
                             usecols=["ts", "id.resp_h", "orig_ip_bytes", "resp_ip_bytes"]):
        parts.append(chunk.groupby("id.resp_h").agg(flows=("ts", "size"), sent=("orig_ip_bytes", "sum"),
                     received=("resp_ip_bytes", "sum"), first=("ts", "min"), last=("ts", "max")))
        if len(parts) > 8:
            parts = [pd.concat(parts).groupby(level=0).agg(how)]
total = pd.concat(parts).groupby(level=0).agg(how)
print(json.dumps({"destinations": len(total), "rows": int(total.flows.sum()), "peak_mb": peak_mb()}))
'''

ANALYZE = '''
import sys, json, os
from tracecheck.cli import main
logs, out = sys.argv[1], sys.argv[2]
sys.argv = ["tracecheck", "--quiet", "analyze", "--zeek", logs, "--out", out, "--force"]
try:
    main()
except SystemExit as done:
    code = done.code
peak = peak_mb()  # before reading the report back: 100k destinations' JSON is hundreds of MB as objects
report = json.load(open(os.path.join(out, "report.json")))
print(json.dumps({"destinations": report["summary"]["destinations"], "rows": report["accounting"]["decoded"],
                  "peak_mb": peak, "exit": code}))
'''


def measure(folder: Path, rows: int, steps: list[str]) -> dict:
    columns = {f: ("DOUBLE" if t in ("time", "interval") else "BIGINT" if t in ("count", "port") else "VARCHAR")
               for f, t in zip(CONN_FIELDS, CONN_TYPES)}
    results = {}
    for step in steps:
        if step in ("aggregate", "sync", "threads", "cluster"):
            seconds, got = child(AGGREGATE, str(folder), {"aggregate": "sync"}.get(step, step))
        elif step == "analyze":
            out = Path(tempfile.mkdtemp(prefix="bench-report-"))
            seconds, got = child(ANALYZE, str(folder), str(out))
            shutil.rmtree(out, ignore_errors=True)
        else:
            try:
                import duckdb  # noqa: F401
                seconds, got = child(PEER_DUCKDB, str(folder), json.dumps(columns))
                step = "peer (duckdb)"
            except ImportError:
                seconds, got = child(PEER_PANDAS, str(folder), json.dumps(columns))
                step = "peer (pandas)"
        results[step] = {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), **got}
        workers = f" (workers: {got['worker_peak_mb']:,.0f} MB at most)" if got.get("worker_peak_mb") else ""
        print(f"  {step:<14}{seconds:>8.1f} s{rows / seconds:>13,.0f} rows/s{got['peak_mb']:>8,.0f} MB peak{workers}"
              f"  [{got['destinations']:,} destinations, {got['rows']:,} rows]", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000", help="comma-separated sizes (e.g. 10000000,50000000)")
    parser.add_argument("--destinations", type=int, default=100_000)
    parser.add_argument("--file-rows", type=int, default=5_000_000, help="conn rows per file (one Dask task each)")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--steps", default="aggregate,threads,cluster,analyze,peer",
                        help="of: aggregate (the default, synchronous scheduler), threads, cluster, analyze, peer")
    parser.add_argument("--keep", type=Path, help="write the logs here and keep them")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    try:
        import tracecheck.sensors.zeek  # noqa: F401
    except ImportError:
        print("bench_sensor_logs: needs the Zeek reader (tracecheck/sensors/zeek.py)", file=sys.stderr)
        return 2
    figures = {}
    for rows in [int(r) for r in args.rows.split(",")]:
        folder = (args.keep or Path(tempfile.mkdtemp(prefix="bench-zeek-"))) / f"{rows}"
        start = time.perf_counter()
        if not (args.keep and any(folder.glob("ssl.log*"))):  # --keep DIR of an earlier run: its logs again
            write_logs(folder, rows, args.destinations, args.file_rows, args.gzip)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"{rows:,} conn rows to {args.destinations:,} destinations: {size:,.0f} MB written in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        figures[rows] = measure(folder, rows, args.steps.split(","))
        if not args.keep:
            shutil.rmtree(folder.parent, ignore_errors=True)
    peer = next((k for k in next(iter(figures.values())) if k.startswith("peer")), None)
    if peer:
        print("\nrows/s relative to the peer (higher is faster):")
        for rows, steps in figures.items():
            print(f"  {rows:>12,}  " + "  ".join(f"{step} {steps[step]['rows_per_s'] / steps[peer]['rows_per_s']:.2f}x"
                                               for step in steps if step != peer))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
