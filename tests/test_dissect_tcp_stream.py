"""StreamReassembler: order, overlaps, wrap-around and bounds of one TCP direction."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect.tcp_stream import SEQ_MOD, StreamReassembler, seq_diff

DATA = bytes(range(256)) * 8  # 2 KiB with recognisable content


def segments(data: bytes, cuts: list[int], isn: int) -> list[tuple[int, bytes]]:
    edges = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [((isn + a) % SEQ_MOD, data[a:b]) for a, b in zip(edges, edges[1:])]


def test_in_order_after_syn():
    r = StreamReassembler()
    r.add(1000, b"", syn=True)
    for seq, piece in segments(DATA, [100, 700, 1500], 1001):
        r.add(seq, piece)
    assert r.contiguous() == DATA
    assert r.isn == 1001 and r.syn_seen


def test_out_of_order_stops_at_hole_until_filled():
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(8, b"world")
    assert r.contiguous() == b""
    r.add(1, b"hello")
    assert r.contiguous() == b"hello"
    r.add(6, b",")
    assert r.contiguous() == b"hello,"
    r.add(7, b" ")
    assert r.contiguous() == b"hello, world"


def test_retransmission_and_overlap_keep_first_bytes():
    r = StreamReassembler()
    r.add(99, b"", syn=True)
    r.add(100, b"abcdef")
    r.add(100, b"abcdef")  # plain retransmission
    r.add(103, b"XYZghi")  # overlap with different bytes: the first copy wins
    assert r.contiguous() == b"abcdefghi"
    assert r.buffered() == 9


def test_retransmission_repacketised_differently():
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(1, DATA[:500])
    r.add(1, DATA[:1000])  # a later, larger retransmission covering the first
    r.add(1001, DATA[1000:])
    assert r.contiguous() == DATA


def test_sequence_wraps_past_2_32():
    isn = SEQ_MOD - 300
    r = StreamReassembler()
    r.add(isn - 1, b"", syn=True)
    for seq, piece in reversed(segments(DATA, [100, 299, 300, 301, 900], isn)):
        r.add(seq, piece)
    assert r.contiguous() == DATA


def test_without_syn_lowest_sequence_becomes_start():
    r = StreamReassembler()
    r.add(5000, DATA[1000:])
    assert r.contiguous() == DATA[1000:]
    r.add(4000, DATA[:1000])  # earlier bytes turn up later: the start moves back
    assert r.contiguous() == DATA
    assert not r.syn_seen and r.isn == 4000


def test_late_syn_fixes_the_start():
    r = StreamReassembler()
    r.add(501, b"second")
    r.add(500, b"", syn=True)  # SYN seen after data (capture reordering): data starts at 501
    assert r.contiguous() == b"second"
    r2 = StreamReassembler()
    r2.add(507, b"world")
    r2.add(500, b"", syn=True)
    r2.add(501, b"hello ")
    assert r2.contiguous() == b"hello world"


def test_bytes_before_the_syn_are_dropped():
    r = StreamReassembler()
    r.add(100, b"", syn=True)
    r.add(95, b"junk!!hello")  # starts 6 bytes before the stream's first byte (101)
    assert r.contiguous() == b"hello"


def test_limit_bounds_memory_and_reports_truncation():
    r = StreamReassembler(limit=1024)
    r.add(0, b"", syn=True)
    r.add(1, DATA)
    r.add(3000, DATA)  # entirely beyond the limit
    assert r.contiguous() == DATA[:1024]
    assert r.truncated
    assert r.buffered() <= 1024


def test_far_earlier_segment_without_syn_does_not_discard_held_data():
    r = StreamReassembler(limit=1024)
    r.add(1_000_000, b"kept")
    r.add(1_000_000 - 5000, b"too early to rebase")
    assert r.contiguous() == b"kept"


def test_rebase_beyond_limit_drops_what_no_longer_fits():
    r = StreamReassembler(limit=16)
    r.add(110, b"0123456789")
    r.add(100, b"abcdefghij")  # the start moves 10 back: only 6 of the later bytes still fit
    assert r.contiguous() == b"abcdefghij012345"
    assert r.truncated


def test_seq_diff_is_wrap_aware():
    assert seq_diff(5, SEQ_MOD - 5) == 10
    assert seq_diff(SEQ_MOD - 5, 5) == -10
    assert seq_diff(7, 7) == 0


def test_rejects_nonsense_limit():
    with pytest.raises(ValueError):
        StreamReassembler(limit=0)


@settings(max_examples=200, deadline=None)
@given(
    isn=st.integers(0, SEQ_MOD - 1),
    cuts=st.lists(st.integers(1, len(DATA) - 1), max_size=12),
    seed=st.integers(0, 2**32),
    syn=st.booleans(),
)
def test_any_order_and_duplication_gives_the_stream(isn, cuts, seed, syn):
    rng = random.Random(seed)
    pieces = segments(DATA, cuts, isn)
    pieces += rng.sample(pieces, k=rng.randint(0, len(pieces)))  # retransmissions
    rng.shuffle(pieces)
    r = StreamReassembler()
    if syn:
        r.add(isn - 1, b"", syn=True)
    for seq, piece in pieces:
        r.add(seq, piece)
    assert r.contiguous() == DATA


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, SEQ_MOD - 1), st.binary(max_size=300), st.booleans()),
        max_size=20,
    ),
    st.integers(1, 512),
)
def test_arbitrary_segments_never_raise_and_stay_bounded(items, limit):
    r = StreamReassembler(limit=limit)
    for seq, payload, syn in items:
        r.add(seq, payload, syn)
        assert len(r.contiguous()) <= limit
        assert r.buffered() <= limit
