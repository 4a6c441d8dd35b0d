"""Sensor logs are read in blocks of whole lines: none lost, none cut, none too long kept."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from tracecheck.sensors import common


@given(lines=st.lists(st.binary(max_size=40).map(lambda raw: raw.replace(b"\n", b"")), max_size=60),
       rows=st.integers(1, 20), final_newline=st.booleans())
def test_blocks_hold_every_line_at_most_rows_at_a_time(lines, rows, final_newline):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    blocks = list(common.line_blocks(io.BytesIO(data), rows))
    assert all(0 < count <= rows and block.count(b"\n") == count and block.endswith(b"\n")
               for block, count, _ in blocks)
    joined = b"".join(block for block, _, _ in blocks)
    assert joined == (data if data.endswith(b"\n") or not data else data + b"\n")


def test_a_line_too_long_is_skipped_not_held(monkeypatch):
    monkeypatch.setattr(common, "MAX_LINE", 1000)
    data = b"first\n" + b"x" * (3 << 20) + b"\nlast\n"
    blocks = list(common.line_blocks(io.BytesIO(data), 10))
    assert b"".join(block for block, _, _ in blocks) == b"first\nlast\n"
    assert sum(long for _, _, long in blocks) == 1


def test_blocks_of_a_big_stream_are_full(monkeypatch):
    data = b"".join(b"line %d\n" % index for index in range(250_000))
    counts = [count for _, count, _ in common.line_blocks(io.BytesIO(data), 100_000)]
    assert counts == [100_000, 100_000, 50_000]
