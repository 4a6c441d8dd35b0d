"""Long sensor-log runs: progress a chunk at a time over every file's stored bytes, and Ctrl-C
that ends the run promptly (exit 130, one line) whichever local scheduler aggregates."""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

import pytest

from test_cli_analyze_logs import CONN
from test_cli_interrupt import interrupted_while_reading
from tracecheck.sensors.aggregate import aggregate
from tracecheck.sensors.zeek import ZEEK

HEADER = "".join(line + "\n" for line in CONN.splitlines() if line.startswith("#"))
ROWS = [line for line in CONN.splitlines() if not line.startswith("#")]


def write_conn(path: Path, copies: int, compress: bool) -> Path:
    text = HEADER + "".join(row + "\n" for row in ROWS * copies)
    path.write_bytes(gzip.compress(text.encode(), mtime=0) if compress else text.encode())
    return path


@pytest.mark.parametrize("scheduler", [None, "threads"])
def test_progress_counts_the_stored_bytes_of_every_file_a_chunk_at_a_time(tmp_path, scheduler):
    # ~5 MB plain: read in blocks of about a megabyte, so progress moves several times within it
    logs = [write_conn(tmp_path / "conn.log", 20000, False), write_conn(tmp_path / "conn.1.log.gz", 300, True)]
    total = sum(path.stat().st_size for path in logs)
    seen: list[tuple[str, int, int]] = []
    aggregate(ZEEK, ZEEK.find([str(tmp_path)]), scheduler=scheduler, rows=2000,
              progress=lambda what, done, whole: seen.append((what, done, whole)))
    assert {what for what, _, _ in seen} == {"2 zeek logs"} and {whole for _, _, whole in seen} == {total}
    done = [d for _, d, _ in seen]
    assert done[0] == 0 and done[-1] == total
    assert len(set(done)) >= 4  # not only at the start and the end
    if scheduler is None:
        assert done == sorted(done)


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/fdinfo").exists(), reason="needs /proc/<pid>/fdinfo")
@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_ctrl_c_while_logs_are_aggregated_exits_promptly_with_130(tmp_path, scheduler):
    # gzip members one after another are one stream: gigabytes of identical rows from a few MB.
    member = gzip.compress("".join(row + "\n" for row in ROWS * 20000).encode(), compresslevel=9, mtime=0)
    path = tmp_path / "conn.log.gz"
    with open(path, "wb") as out:
        out.write(gzip.compress(HEADER.encode(), mtime=0))
        for _ in range(800):
            out.write(member)
    interrupted_while_reading([sys.executable, "-m", "tracecheck", "--db", str(tmp_path / "db"), "analyze", "--zeek",
                               str(path), "--scheduler", scheduler, "--out", str(tmp_path / "r")], path, len(member) * 20)


def test_a_cluster_run_shows_progress_from_its_workers_chunks(tmp_path):
    """On a dask.distributed cluster the tasks run in the workers: each chunk they read comes back
    as an event, so the client's progress moves over the same stored bytes as a local run's."""
    distributed = pytest.importorskip("distributed")
    logs = [write_conn(tmp_path / "conn.log", 20000, False), write_conn(tmp_path / "conn.1.log.gz", 3000, True)]
    total = sum(path.stat().st_size for path in logs)
    seen: list[tuple[str, int, int]] = []
    found = ZEEK.find([str(tmp_path)])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        summed = aggregate(ZEEK, found, scheduler=cluster.scheduler_address, rows=2000,
                           progress=lambda what, done, whole: seen.append((what, done, whole)))
    assert {what for what, _, _ in seen} == {"2 zeek logs"} and {whole for _, _, whole in seen} == {total}
    done = [d for _, d, _ in seen]
    assert done[0] == 0 and done[-1] == total
    assert len(set(done)) >= 4  # chunk by chunk, not only at the start and the end
    assert summed.flows.equals(aggregate(ZEEK, found).flows)  # and the same sums as a local run
