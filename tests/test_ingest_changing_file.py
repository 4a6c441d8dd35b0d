"""A capture that changes while it is read (a ring buffer rotated, tcpdump still writing) ends
with what could be read and a warning: never a signal death (a memory-mapped file that shrinks
faults on the pages past its new end, SIGBUS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from capture_builders import ether, pcap_bytes, udp

ROOT = Path(__file__).resolve().parents[1]
RECORD = ether(udp(payload=b"p" * 960))
# More than one 32 MiB block (records.BLOCK_SIZE): the file changes between two reads.
RECORDS = (40 << 20) // (len(RECORD) + 16)

# In a child process, so that a signal death is seen as one: read the capture, and after the
# first batch change the file as the second argument says.
READER = textwrap.dedent("""
    import json, os, sys
    from tracecheck.ingest.capture import open_capture
    path, change = sys.argv[1], sys.argv[2]
    records, first = 0, True
    with open_capture(path) as capture:
        for batch in capture.batches():
            records += len(batch)
            if first:
                first = False
                if change == "shrink":
                    os.truncate(path, 24 + 5 * (16 + %d))
                else:
                    with open(path, "ab") as more:
                        more.write(bytes.fromhex(sys.argv[3]))
    print(json.dumps({"records": records, "warnings": capture.stats.warnings}))
""" % len(RECORD))


def run_reader(path: Path, change: str, extra: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", READER, str(path), change, extra.hex()], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_file_truncated_while_it_is_read_ends_with_a_warning_not_a_signal(tmp_path):
    path = tmp_path / "ring.pcap"
    path.write_bytes(pcap_bytes((i * 1000, RECORD) for i in range(RECORDS)))
    done = run_reader(path, "shrink")
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    outcome = json.loads(done.stdout)
    assert 0 < outcome["records"] < RECORDS
    assert any("shrank while it was read" in warning for warning in outcome["warnings"])


def test_a_file_that_grows_while_it_is_read_is_read_to_where_it_ended(tmp_path):
    path = tmp_path / "live.pcap"
    path.write_bytes(pcap_bytes((i * 1000, RECORD) for i in range(RECORDS)))
    # tcpdump's next records, the last one half written
    more = pcap_bytes((i * 1000, RECORD) for i in range(RECORDS, RECORDS + 10))[24:]
    done = run_reader(path, "grow", more[: len(more) - len(RECORD) // 2])
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    outcome = json.loads(done.stdout)
    assert outcome["records"] == RECORDS + 9
    assert any("grew while it was read" in warning for warning in outcome["warnings"])
    assert any("cut short" in warning for warning in outcome["warnings"])
