"""Names found in real captures against nDPI's own expected output (``*.ndpi.out`` beside the
captures in ../shared/data): every Hostname/SNI nDPI reports for a non-DNS flow must be the
server_name tracecheck gives that flow.  Skipped where the shared data is absent."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tracecheck.flows.pipeline import build_named_flows

SHARED = Path(os.environ.get("TRACECHECK_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NDPI = SHARED / "pcaps" / "ndpi"
FLOW_LINE = re.compile(r"\s+\d+\s+(?:TCP|UDP) \[?([^\]\s]+?)\]?:(\d+) <-> \[?([^\]\s]+?)\]?:(\d+) .*?\[Hostname/SNI: ([^\]]+)\]")


def ndpi_names(out: Path) -> dict:
    expected = {}
    for line in out.read_text(errors="replace").splitlines():
        m = FLOW_LINE.match(line)
        if m and "53" not in (m.group(2), m.group(4)):  # nDPI names DNS flows by their query
            expected[frozenset([(m.group(1), int(m.group(2))), (m.group(3), int(m.group(4)))])] = m.group(5).lower()
    return expected


@pytest.mark.skipif(not NDPI.is_dir(), reason="../shared/data not present")
@pytest.mark.parametrize("capture, count", [("alexa-app.pcapng", 101), ("reddit.pcap", 59), ("webex.pcap", 8)])
def test_every_name_ndpi_finds_is_found(capture, count):
    expected = ndpi_names(NDPI / f"{capture}.ndpi.out")
    assert len(expected) == count
    flows = build_named_flows([str(NDPI / capture)]).result.flows
    ours = {frozenset([(f.orig_h, f.orig_p), (f.resp_h, f.resp_p)]): f.server_name for f in flows}
    wrong = {tuple(sorted(k)): (v, ours.get(k)) for k, v in expected.items() if ours.get(k) != v}
    assert not wrong
