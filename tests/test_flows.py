"""The flow builder: bidirectional merge, originator, port reuse after FIN/RST, inactivity
timeouts, handshake RTT, batches and files that a flow spans."""

from __future__ import annotations

import random

import pytest

import tracecheck.ingest.pcap as pcap_module
from capture_builders import (ETHERNET, SECOND, T0, ether, flow_summary, flows_of, icmp_echo, ng_epb, ng_idb, ng_shb, tcp,
                              udp, write_pcap)

MS = 1_000_000
CLIENT, SERVER = "10.0.0.9", "10.0.0.2"  # the client is the higher address: canonical side B


def write(tmp_path, timed: list[tuple[int, bytes]], name="f.pcap"):
    """``timed``: (ns after T0, IP packet)."""
    return write_pcap(tmp_path / name, [(T0 + t, ether(p)) for t, p in timed])


def c2s(flags="A", payload=b"", client=CLIENT, server=SERVER, cport=40000, sport=443):
    return tcp(client, server, cport, sport, flags, payload)


def s2c(flags="A", payload=b"", client=CLIENT, server=SERVER, cport=40000, sport=443):
    return tcp(server, client, sport, cport, flags, payload)


def conversation(start=0, client=CLIENT, server=SERVER, cport=40000, close="FA"):
    """Handshake, one request and answer, close by the client: 6 packets, 1 ms apart."""
    kw = dict(client=client, server=server, cport=cport)
    packets = [c2s("S", **kw), s2c("SA", **kw), c2s("A", **kw), c2s("PA", b"q" * 10, **kw), s2c("PA", b"a" * 30, **kw),
               c2s(close, **kw)]
    return [(start + i * MS, p) for i, p in enumerate(packets)]


# --------------------------------------------------------------------------- direction


@pytest.mark.parametrize("client, server", [("10.0.0.9", "10.0.0.2"), ("10.0.0.2", "10.0.0.9")])
def test_bidirectional_flow_with_per_direction_counts(tmp_path, client, server):
    result = flows_of(write(tmp_path, conversation(client=client, server=server)))
    assert len(result.flows) == 1
    flow = result.flows[0]
    assert flow_summary(flow) == ("tcp", client, 40000, server, 443, 4, 40 * 4 + 10, 2, 80 + 30, None, "")
    assert (flow.ts, flow.duration) == (T0 / 1e9, 0.005)
    assert flow.handshake_rtt_ms == pytest.approx(1.0)
    assert flow.capture_file == str(tmp_path / "f.pcap")
    assert flow.uid.startswith("C") and len(flow.uid) == 18


@pytest.mark.parametrize("client, server", [("10.0.0.9", "10.0.0.2"), ("10.0.0.2", "10.0.0.9")])
def test_originator_is_the_syn_sender_when_the_synack_is_captured_first(tmp_path, client, server):
    timed = [(0, s2c("SA", client=client, server=server)), (1 * MS, c2s("S", client=client, server=server)),
             (2 * MS, c2s("A", client=client, server=server))]
    flow = flows_of(write(tmp_path, timed)).flows[0]
    assert (flow.orig_h, flow.orig_p, flow.orig_pkts, flow.resp_pkts) == (client, 40000, 2, 1)
    assert flow.ts == T0 / 1e9
    assert flow.handshake_rtt_ms is None  # the SYN/ACK before the SYN gives no round trip


def test_a_syn_after_mid_stream_packets_opens_a_new_connection(tmp_path):
    """Capture starts mid-stream; a SYN later on the same tuple is a new connection (Zeek: a SYN
    whose sequence number is not the partial connection's)."""
    timed = [(0, s2c("PA", b"late data")), (1 * MS, c2s("A")), (2 * MS, c2s("S")), (3 * MS, s2c("SA"))]
    flows = flows_of(write(tmp_path, timed)).flows
    assert [(f.orig_pkts, f.resp_pkts) for f in flows] == [(1, 1), (1, 1)]
    assert (flows[1].orig_h, flows[1].handshake_rtt_ms) == (CLIENT, pytest.approx(1.0))


def test_originator_is_the_synack_receiver_when_the_syn_was_missed(tmp_path):
    timed = [(0, s2c("SA")), (1 * MS, c2s("A")), (2 * MS, c2s("PA", b"x"))]
    flow = flows_of(write(tmp_path, timed)).flows[0]
    assert (flow.orig_h, flow.orig_p, flow.resp_h, flow.resp_p) == (CLIENT, 40000, SERVER, 443)


def test_originator_is_the_first_sender_without_any_handshake(tmp_path):
    timed = [(0, s2c("PA", b"x" * 5)), (1 * MS, c2s("A"))]
    flow = flows_of(write(tmp_path, timed)).flows[0]
    assert flow_summary(flow) == ("tcp", SERVER, 443, CLIENT, 40000, 1, 45, 1, 40, None, "")


@pytest.mark.parametrize("answer_first", [False, True])
def test_udp_originator_is_the_first_packets_sender(tmp_path, answer_first):
    query = udp(CLIENT, SERVER, 5353, 53, payload=b"q" * 12)
    answer = udp(SERVER, CLIENT, 53, 5353, payload=b"a" * 40)
    timed = [(0, answer), (MS, query)] if answer_first else [(0, query), (MS, answer)]
    flow = flows_of(write(tmp_path, timed)).flows[0]
    if answer_first:
        assert flow_summary(flow) == ("udp", SERVER, 53, CLIENT, 5353, 1, 68, 1, 40, None, "")
    else:
        assert flow_summary(flow) == ("udp", CLIENT, 5353, SERVER, 53, 1, 40, 1, 68, None, "")
    assert flow.handshake_rtt_ms is None


def test_quic_like_udp_to_443_has_a_first_reply_rtt(tmp_path):
    timed = [(0, udp(CLIENT, SERVER, 50000, 443, payload=b"i" * 1200)), (7 * MS, udp(SERVER, CLIENT, 443, 50000, payload=b"r")),
             (8 * MS, udp(CLIENT, SERVER, 50000, 443, payload=b"h"))]
    flow = flows_of(write(tmp_path, timed)).flows[0]
    assert (flow.orig_pkts, flow.resp_pkts, flow.handshake_rtt_ms) == (2, 1, pytest.approx(7.0))


def test_icmp_echo_request_and_reply_are_one_flow(tmp_path):
    timed = [(0, icmp_echo(CLIENT, SERVER)), (MS, icmp_echo(SERVER, CLIENT, reply=True)),
             (SECOND, icmp_echo(CLIENT, SERVER, seq=2)), (SECOND + MS, icmp_echo(SERVER, CLIENT, reply=True, seq=2))]
    result = flows_of(write(tmp_path, timed))
    assert [flow_summary(f) for f in result.flows] == [("icmp", CLIENT, 8, SERVER, 0, 2, 64, 2, 64, None, "")]


def test_handshake_rtt_is_syn_to_synack(tmp_path):
    timed = [(0, c2s("S")), (5 * MS, c2s("S")), (17_345_678, s2c("SA")), (18 * MS, s2c("SA")), (19 * MS, c2s("A"))]
    flow = flows_of(write(tmp_path, timed, name="rtt.pcap")).flows[0]
    # microsecond pcap: 17.345678 ms, from the first SYN to the first SYN/ACK
    assert flow.handshake_rtt_ms == pytest.approx(17.345)
    assert (flow.orig_pkts, flow.resp_pkts) == (3, 2)


# --------------------------------------------------------------------------- splits


@pytest.mark.parametrize("close", ["FA", "R", "RA"])
def test_new_syn_after_fin_or_rst_starts_a_new_flow(tmp_path, close):
    first = conversation(0, close=close)
    second = conversation(10 * MS, close=close)
    result = flows_of(write(tmp_path, first + second))
    assert [(f.ts, f.orig_pkts, f.resp_pkts, f.handshake_rtt_ms) for f in result.flows] == [
        (T0 / 1e9, 4, 2, pytest.approx(1.0)), ((T0 + 10 * MS) / 1e9, 4, 2, pytest.approx(1.0))]
    assert result.flows[0].uid != result.flows[1].uid


def test_fin_from_the_server_then_syn_also_splits(tmp_path):
    timed = conversation(0)[:5] + [(5 * MS, s2c("FA")), (6 * MS, c2s("A")), (7 * MS, c2s("S")), (8 * MS, s2c("SA"))]
    result = flows_of(write(tmp_path, timed))
    assert [(f.orig_pkts, f.resp_pkts) for f in result.flows] == [(4, 3), (1, 1)]


def test_retransmitted_syns_after_a_close_open_one_flow(tmp_path):
    timed = conversation(0) + [(10 * MS, c2s("S")), (11 * MS, c2s("S")), (12 * MS, s2c("SA")), (13 * MS, c2s("A"))]
    result = flows_of(write(tmp_path, timed))
    assert [(f.orig_pkts, f.resp_pkts) for f in result.flows] == [(4, 2), (3, 1)]
    assert result.flows[1].handshake_rtt_ms == pytest.approx(2.0)


def test_syn_without_a_close_is_a_retransmission(tmp_path):
    timed = [(0, c2s("S")), (MS, c2s("S")), (3 * MS, s2c("SA"))]
    assert [(f.orig_pkts, f.resp_pkts) for f in flows_of(write(tmp_path, timed)).flows] == [(2, 1)]


def test_three_connections_on_one_port_pair(tmp_path):
    timed = conversation(0) + conversation(10 * MS, close="R") + conversation(20 * MS)
    result = flows_of(write(tmp_path, timed))
    assert [(f.orig_pkts, f.resp_pkts) for f in result.flows] == [(4, 2)] * 3


@pytest.mark.parametrize("proto, timeout_s", [("tcp", 300), ("udp", 60), ("icmp", 60)])
def test_inactivity_timeout_splits(tmp_path, proto, timeout_s):
    make = {"tcp": lambda: c2s("PA", b"x"), "udp": lambda: udp(CLIENT, SERVER, 1000, 2000),
            "icmp": lambda: icmp_echo(CLIENT, SERVER)}[proto]
    gap = timeout_s * SECOND
    timed = [(0, make()), (gap, make()), (2 * gap + 1000, make()), (2 * gap + 2000, make())]
    result = flows_of(write(tmp_path, timed))
    # a gap of exactly the timeout continues the flow; one microsecond more starts another
    assert [(f.proto, f.orig_pkts, f.duration) for f in result.flows] == [
        (proto, 2, float(timeout_s)), (proto, 2, 1e-6)]


# --------------------------------------------------------------------------- batches and files


def busy_capture(seed=7, n=600) -> list[tuple[int, bytes]]:
    """Many interleaved flows: TCP connections with port reuse, UDP with pauses past the
    timeout, fragments-free; timestamps increasing."""
    rng = random.Random(seed)
    timed, t = [], 0
    for _ in range(n):
        t += rng.randrange(1, 4 * SECOND)
        cport = 40000 + rng.randrange(6)
        client = f"10.0.{rng.randrange(2)}.{rng.randrange(1, 4)}"
        kind = rng.random()
        if kind < 0.15:
            timed.append((t, c2s("S", client=client, cport=cport)))
        elif kind < 0.3:
            timed.append((t, s2c("SA", client=client, cport=cport)))
        elif kind < 0.4:
            timed.append((t, c2s(rng.choice(["FA", "R"]), client=client, cport=cport)))
        elif kind < 0.7:
            timed.append((t, rng.choice([c2s, s2c])("PA", b"d" * rng.randrange(200), client=client, cport=cport)))
        else:
            sport = 53 + rng.randrange(2)
            pkt = udp(client, SERVER, cport, sport, payload=b"u" * rng.randrange(100)) if rng.random() < 0.6 else \
                udp(SERVER, client, sport, cport, payload=b"v" * rng.randrange(100))
            timed.append((t, pkt))
        if rng.random() < 0.02:
            t += 70 * SECOND  # past the UDP timeout
    return timed


@pytest.mark.parametrize("block_size", [300, 1000, 7777])
def test_flows_spanning_batches_are_the_same_as_in_one_batch(tmp_path, monkeypatch, block_size):
    path = write(tmp_path, busy_capture())
    whole = flows_of(path)
    assert 40 < len(whole.flows) < 500
    monkeypatch.setattr(pcap_module, "BLOCK_SIZE", block_size)
    pieces = flows_of(path)
    assert pieces.flows == whole.flows
    assert pieces.accounting == whole.accounting


def test_a_split_on_syn_at_a_batch_boundary(tmp_path, monkeypatch):
    """The FIN ends one batch, the new SYN starts the next: the closing state is carried."""
    timed = conversation(0) + conversation(10 * MS)
    path = write(tmp_path, timed)
    record = 16 + 14 + 40
    monkeypatch.setattr(pcap_module, "BLOCK_SIZE", 6 * record + 2 * 10 + 30)  # six records and a bit: first batch ends after the FIN
    result = flows_of(path)
    assert [(f.orig_pkts, f.resp_pkts) for f in result.flows] == [(4, 2), (4, 2)]


def test_flows_continue_from_one_capture_file_into_the_next(tmp_path):
    timed = busy_capture(seed=3, n=300)
    one = flows_of(write(tmp_path, timed, "all.pcap"))
    half = len(timed) // 2
    a, b = write(tmp_path, timed[:half], "a.pcap"), write(tmp_path, timed[half:], "b.pcap")
    two = flows_of(a, b)
    strip = lambda flows: [(f.uid, f.ts, f.duration, f.handshake_rtt_ms) + flow_summary(f) for f in flows]  # noqa: E731
    assert strip(two.flows) == strip(one.flows)
    assert two.accounting == one.accounting
    assert {f.capture_file for f in two.flows} == {str(a), str(b)}
    spanning = [f for f in two.flows if f.capture_file == str(a) and f.ts + f.duration >= (T0 + timed[half][0]) / 1e9]
    assert spanning, "some flow should continue into the second file"
    assert [c.packets for c in two.captures] == [half, len(timed) - half]


def test_flow_table_is_sorted_by_first_packet_and_uids_are_stable(tmp_path):
    path = write(tmp_path, busy_capture(seed=11, n=200))
    first, again = flows_of(path), flows_of(path)
    assert [f.ts for f in first.flows] == sorted(f.ts for f in first.flows)
    assert len({f.uid for f in first.flows}) == len(first.flows)
    assert [f.uid for f in first.flows] == [f.uid for f in again.flows]


def test_packet_totals_match_the_records(tmp_path):
    timed = busy_capture(seed=5, n=400)
    result = flows_of(write(tmp_path, timed))
    assert result.accounting.records == result.accounting.decoded == 400
    assert sum(f.orig_pkts + f.resp_pkts for f in result.flows) == 400
    assert sum(f.orig_ip_bytes + f.resp_ip_bytes for f in result.flows) == sum(len(p) for _, p in timed)


def test_absurd_timestamps_do_not_wrap_the_duration(tmp_path):
    """A bit flip in an EPB's timestamp (top bit of a nanosecond tick count) found by fuzzing."""
    data = (ng_shb() + ng_idb(ETHERNET, tsresol=9) + ng_epb(0, (1 << 63) + 1_700_000_000 * SECOND, ether(c2s("S")))
            + ng_epb(0, T0 + 1, ether(s2c("SA"))))
    (tmp_path / "wrap.pcapng").write_bytes(data)
    flows = flows_of(tmp_path / "wrap.pcapng").flows
    assert all(f.duration >= 0 for f in flows)
