"""Ctrl-C during a long read (a small gzip that inflates to gigabytes of records) ends the run
promptly with one line and exit 130."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capture_builders import ether, pcap_bytes, udp

ROOT = Path(__file__).resolve().parents[1]


def _position_in(pid: int, path: Path) -> int:
    """How far the process has read ``path`` (0 until it has it open)."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    return int(info.readline().split()[1])
    except OSError:  # the process or the descriptor went away meanwhile
        pass
    return 0


def interrupted_while_reading(argv: list[str], path: Path, past: int) -> None:
    """Run ``argv``, send SIGINT once it has read ``path`` past byte ``past``, and hold it to a
    prompt exit 130 with ``tracecheck: interrupted`` as its last line."""
    run = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while _position_in(run.pid, path) < past and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.poll() is None, "the run ended before it could be interrupted"
        asked = time.monotonic()
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=30)
        took = time.monotonic() - asked
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "tracecheck: interrupted"
    assert took < 3, f"{took:.1f} s after Ctrl-C"


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/fdinfo").exists(), reason="needs /proc/<pid>/fdinfo to see the read start")
def test_ctrl_c_while_a_big_gzip_stream_is_read_exits_promptly_with_130(tmp_path):
    record = ether(udp(payload=b"q" * 40))
    chunk = pcap_bytes((i * 1000, record) for i in range(20000))  # ~2 MB of records
    # gzip members one after another are one stream: ~2 GB of records from ~10 MB on disk.
    member = gzip.compress(chunk[24:], compresslevel=9, mtime=0)
    path = tmp_path / "bomb.pcap.gz"
    with open(path, "wb") as out:
        out.write(gzip.compress(chunk[:24], mtime=0))
        for _ in range(1000):
            out.write(member)
    interrupted_while_reading([sys.executable, "-c", "from tracecheck.cli import main; main()", "flows", str(path)],
                              path, len(member) * 20)
