"""Connections on a reused 5-tuple, split where Zeek's conn.log splits them (``flows/connections.py``):
a SYN with a new initial sequence number, a SYN after a close, and the connection's end 5 s after
a complete close, a RST, or a SYN nobody answered.  The compiled loop must equal the Python one."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP

import tracecheck.ingest.pcap as pcap_module
from capture_builders import SECOND, T0, ether, flows_of, write_pcap
from tracecheck.flows import connections

MS = 1_000_000
CLIENT, SERVER = "10.0.0.9", "10.0.0.2"


def c2s(flags: str, seq: int = 1000, payload: bytes = b"") -> bytes:
    return bytes(IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=443, flags=flags, seq=seq) / payload)


def s2c(flags: str, seq: int = 9000, payload: bytes = b"") -> bytes:
    return bytes(IP(src=SERVER, dst=CLIENT) / TCP(sport=443, dport=40000, flags=flags, seq=seq) / payload)


def counts(tmp_path, timed: list[tuple[int, bytes]]) -> list[tuple[int, int]]:
    """(orig_pkts, resp_pkts) of each flow, in order."""
    path = write_pcap(tmp_path / "c.pcap", [(T0 + t, ether(p)) for t, p in timed])
    return [(f.orig_pkts, f.resp_pkts) for f in flows_of(path).flows]


def test_a_syn_with_a_new_sequence_number_is_a_new_attempt(tmp_path):
    timed = [(0, c2s("S", seq=1000)), (500 * MS, c2s("S", seq=1000)), (800 * MS, c2s("S", seq=7777)),
             (801 * MS, s2c("SA")), (802 * MS, c2s("A", seq=7778))]
    assert counts(tmp_path, timed) == [(2, 0), (2, 1)]


@pytest.mark.parametrize("answered_at, expected", [
    (None, [(3, 0), (1, 0), (1, 0)]),           # SYNs at 0, 1, 3 s; then 7 s and 15 s start anew
    (4 * SECOND, [(5, 1)]),                     # answered within 5 s: the later SYNs are retransmissions
])
def test_a_syn_unanswered_for_5_s_ends_the_attempt(tmp_path, answered_at, expected):
    timed = [(t * SECOND, c2s("S")) for t in (0, 1, 3, 7, 15)]
    if answered_at is not None:
        timed = sorted(timed + [(answered_at, s2c("SA"))])
    assert counts(tmp_path, timed) == expected


def test_a_connection_ends_5_s_after_its_reset(tmp_path):
    timed = [(0, c2s("S")), (MS, s2c("SA")), (2 * MS, c2s("A", seq=1001)), (3 * MS, s2c("R", seq=9001)),
             (4 * SECOND, c2s("A", seq=1001)), (10 * SECOND, c2s("A", seq=1001))]
    assert counts(tmp_path, timed) == [(3, 2), (1, 0)]


def test_a_connection_ends_5_s_after_both_fins(tmp_path):
    timed = [(0, c2s("S")), (MS, s2c("SA")), (2 * MS, c2s("FA", seq=1001)), (3 * MS, s2c("FA", seq=9001)),
             (4 * MS, c2s("A", seq=1002)), (2 * SECOND, c2s("A", seq=1002)), (8 * SECOND, s2c("A", seq=9002))]
    assert counts(tmp_path, timed) == [(4, 2), (1, 0)]  # the last packet's sender opens the late flow


def test_a_half_closed_connection_stays_open(tmp_path):
    """FIN from one side only, the other side still talking: not closed, however long it takes."""
    timed = [(0, c2s("S")), (MS, s2c("SA")), (2 * MS, c2s("FA", seq=1001)), (60 * SECOND, s2c("PA", payload=b"x")),
             (61 * SECOND, c2s("A", seq=1002))]
    assert counts(tmp_path, timed) == [(3, 2)]


def test_a_fin_the_other_side_never_answered_closes(tmp_path):
    """One direction captured only (an asymmetric mirror): its FIN completes the close."""
    timed = [(0, c2s("PA", payload=b"x")), (MS, c2s("FA", seq=1001)), (6 * SECOND, c2s("A", seq=1002))]
    assert counts(tmp_path, timed) == [(2, 0), (1, 0)]


def test_a_retransmitted_syn_after_a_close_is_one_connection(tmp_path):
    close = [(0, c2s("S")), (MS, s2c("RA"))]
    retry = [(2 * MS, c2s("S", seq=5000)), (3 * MS, c2s("S", seq=5000)), (4 * MS, s2c("SA"))]
    assert counts(tmp_path, close + retry) == [(1, 1), (2, 1)]


def test_a_syn_after_a_reset_is_new_even_with_the_same_sequence_number(tmp_path):
    """Zeek: any SYN into a closed connection reuses the tuple (an OS retrying after a RST)."""
    timed = [(0, c2s("S")), (MS, s2c("RA")), (SECOND, c2s("S")), (SECOND + MS, s2c("RA"))]
    assert counts(tmp_path, timed) == [(1, 1), (1, 1)]


def tcp_mess(seed: int, n: int = 400) -> list[tuple[int, bytes]]:
    """A few tuples, random flags, two sequence numbers, gaps around 5 s: every rule in play."""
    rng = random.Random(seed)
    timed, t = [], 0
    for _ in range(n):
        t += rng.choice([MS, 200 * MS, 2 * SECOND, 6 * SECOND])
        flags = rng.choice(["S", "S", "SA", "A", "PA", "FA", "R", "RA"])
        seq = rng.choice([1000, 2000])
        cport = 40000 + rng.randrange(3)
        ip = IP(src=CLIENT, dst=SERVER) / TCP(sport=cport, dport=443, flags=flags, seq=seq) if rng.random() < 0.6 else \
            IP(src=SERVER, dst=CLIENT) / TCP(sport=443, dport=cport, flags=flags, seq=seq)
        timed.append((t, bytes(ip)))
    return timed


@pytest.mark.parametrize("block_size", [400, 2000])
def test_connections_spanning_batches_split_as_in_one_batch(tmp_path, monkeypatch, block_size):
    path = write_pcap(tmp_path / "m.pcap", [(T0 + t, ether(p)) for t, p in tcp_mess(seed=block_size)])
    whole = flows_of(path).flows
    assert 30 < len(whole) < 400
    monkeypatch.setattr(pcap_module, "BLOCK_SIZE", block_size)
    assert flows_of(path).flows == whole


PACKET = st.tuples(st.sampled_from([0, 1, 5, 4_000_000_000, 6_000_000_000, 400 * SECOND, -1, 2**62]),
                   st.sampled_from([0x02, 0x12, 0x10, 0x11, 0x04, 0x14, 0x18, 0x01]),
                   st.sampled_from([0, 7, 2**32 - 1]), st.integers(0, 1), st.integers(0, 2))


@pytest.mark.skipif(not connections.COMPILED, reason="the compiled connection loop is not built (no C compiler)")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(PACKET, max_size=40), opened=st.lists(st.booleans(), min_size=3, max_size=3))
def test_compiled_loop_equals_the_python_one(steps, opened):
    ts = np.cumsum([step[0] for step in steps], dtype=np.int64) if steps else np.zeros(0, dtype=np.int64)
    packets = np.array([(t, flags, seq, side, group) for t, (_, flags, seq, side, group) in zip(ts.tolist(), steps)],
                       dtype=np.int64).reshape(-1, connections.PACKET_COLUMNS)
    state = np.full((3, connections.STATE_COLUMNS), connections.NONE, dtype=np.int64)
    state[:, connections.OPEN] = opened
    state[:, connections.LAST_TS] = 0
    state[:, connections.CLOSE] = state[:, connections.SEEN] = 0
    results = []
    for split in (connections.split, connections.split_py):
        mine, new = state.copy(), np.zeros(len(packets), dtype=np.uint8)
        split(packets, mine, new)
        results.append((mine.tolist(), new.tolist()))
    assert results[0] == results[1]


@pytest.mark.skipif(not connections.COMPILED, reason="the compiled connection loop is not built (no C compiler)")
def test_compiled_loop_refuses_a_group_outside_the_state():
    packets = np.array([[0, 2, 0, 0, 3]], dtype=np.int64)
    with pytest.raises(ValueError, match="group 3"):
        connections.split(packets, np.zeros((3, connections.STATE_COLUMNS), dtype=np.int64), np.zeros(1, dtype=np.uint8))


def test_the_python_loop_builds_the_same_flows(tmp_path, monkeypatch):
    path = write_pcap(tmp_path / "m.pcap", [(T0 + t, ether(p)) for t, p in tcp_mess(seed=5)])
    compiled = flows_of(path).flows
    monkeypatch.setattr(connections, "split", connections.split_py)
    assert flows_of(path).flows == compiled
