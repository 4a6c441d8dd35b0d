"""The dissectors in a second process give exactly what they give in one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracecheck.errors import UserError
from tracecheck.flows.pipeline import build_named_flows

DEMO = Path(__file__).resolve().parents[1] / "captures" / "demo-call.pcapng"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pcaps"


def outcome(path: Path, parallel: bool):
    named = build_named_flows([str(path)], parallel=parallel)
    return named.result.flows, named.names, named.calls, named.examined


@pytest.mark.parametrize("capture", [DEMO, SHARED / "wireshark-wiki" / "SIP_CALL_RTP_G711.pcap",
                                     SHARED / "ndpi" / "reddit.pcap", SHARED / "pcapplusplus" / "DnsPackets.pcap"],
                         ids=lambda p: p.name)
def test_a_worker_process_gives_the_same_names_calls_and_flows(capture):
    if not capture.exists():
        pytest.skip("../shared/data not present")
    alone, beside = outcome(capture, parallel=False), outcome(capture, parallel=True)
    assert beside == alone
    flows, names, calls, _ = alone
    assert any(f.server_name for f in flows) or names or calls  # the comparison compared something


@pytest.mark.parametrize("capture", [DEMO, SHARED / "pcapplusplus" / "DnsPackets.pcap"], ids=lambda p: p.name)
def test_a_worker_behind_leaves_the_dns_packets_here_and_nothing_changes(capture, monkeypatch):
    from tracecheck.dissect.worker import DissectionWorker

    if not capture.exists():
        pytest.skip("../shared/data not present")
    from tracecheck.dissect.session import Dissection

    alone = outcome(capture, parallel=False)
    here = []
    examine = Dissection.examine
    monkeypatch.setattr(DissectionWorker, "behind", lambda self: True)  # every batch shared
    monkeypatch.setattr(Dissection, "examine", lambda self, picks: here.append(len(picks)) or examine(self, picks))
    shared = outcome(capture, parallel=True)
    assert shared == alone
    assert sum(here) > 0  # DNS packets were looked at in this process
    assert any(n.source == "dns" for n in shared[1])


def test_batches_larger_than_the_workers_payload_buffer_come_through_whole(monkeypatch):
    """The worker receives payloads into a buffer it reuses; a batch that does not fit makes
    it grow, and nothing is lost or mixed up on the way."""
    from tracecheck.dissect import worker

    capture = SHARED / "ndpi" / "reddit.pcap"
    if not capture.exists():
        capture = DEMO
    alone = outcome(capture, parallel=False)
    monkeypatch.setattr(worker, "PAYLOAD_BUFFER", 64)  # every batch is larger, until it has grown
    assert outcome(capture, parallel=True) == alone
    assert alone[3] > 10  # payloads were examined


def test_the_demo_call_is_named_in_the_worker_too():
    flows, names, _, examined = outcome(DEMO, parallel=True)
    named = {f.resp_h: (f.server_name, f.name_source) for f in flows if f.server_name}
    assert named["3.227.250.10"] == ("transcribestreaming.us-east-1.amazonaws.com", "sni")
    assert examined > 0 and any(n.source == "dns" for n in names)


def test_a_worker_that_dies_is_an_error_not_a_hang():
    from tracecheck.dissect.session import Dissection
    from tracecheck.dissect.worker import DissectionWorker
    from tracecheck.ingest.decode import Decoder
    from tracecheck.ingest.capture import open_capture
    from tracecheck.flows.builder import FlowBuilder

    worker = DissectionWorker()
    worker._process.kill()
    worker._process.join()
    selector, builder, decoder = Dissection(), FlowBuilder(), Decoder()
    with open_capture(str(DEMO)) as capture:
        for batch in capture.batches(first_record=0):
            packets, _ = decoder.decode(batch)
            worker.send(selector.select(packets, builder.add(packets, 0)))
    with pytest.raises(RuntimeError, match="dissector process"):
        worker.finish()
    assert not worker._sender.is_alive()


def test_split_dns_parts_the_picks_without_losing_or_mixing_a_byte():
    from tracecheck.dissect.session import Dissection
    from tracecheck.flows.builder import FlowBuilder
    from tracecheck.ingest.capture import open_capture
    from tracecheck.ingest.decode import Decoder

    selector, builder, decoder = Dissection(), FlowBuilder(), Decoder()
    with open_capture(str(DEMO)) as capture:
        batch = next(capture.batches(first_record=0))
    packets, _ = decoder.decode(batch)
    picks = selector.select(packets, builder.add(packets, 0))
    payload = lambda p, i: p.blob[p.offset[i]:p.offset[i + 1]]  # noqa: E731
    dns, rest = picks.split_dns()
    assert len(dns) and len(rest) and len(dns) + len(rest) == len(picks)
    assert dns.dns.all() and not rest.dns.any() and len(dns.syn_flow) == 0
    assert rest.syn_flow.tolist() == picks.syn_flow.tolist()
    by_row = {(f, t): payload(picks, i) for i, (f, t) in enumerate(zip(picks.flow.tolist(), picks.ts.tolist()))}
    for part in (dns, rest):
        for i, (f, t) in enumerate(zip(part.flow.tolist(), part.ts.tolist())):
            assert payload(part, i) == by_row[(f, t)]


def _cycle_check_captures() -> list[Path]:
    shared = sorted(p for p in SHARED.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap")
                    and p.stat().st_size < (4 << 20)) if SHARED.exists() else []
    return [DEMO, *shared]


def test_the_dissectors_make_no_reference_cycles(tmp_path):
    """The worker runs with the garbage collector off (worker.py): nothing the dissectors make,
    on any capture at hand (the shared ones include malformed and fuzzed traces), may be
    garbage that only the collector would find."""
    import gc

    from call_scenarios import eu_compliant_call, us_transcription_call

    from tracecheck.dissect.session import Dissection, load_protocols

    load_protocols()
    captures = [eu_compliant_call().write(tmp_path / "eu.pcap"), us_transcription_call().write(tmp_path / "us.pcap"),
                *_cycle_check_captures()]
    examined = 0
    for capture in captures:
        try:
            picked = _picks_of(capture)
        except UserError:  # a capture the reader refuses: nothing to examine
            continue
        gc.collect()
        gc.disable()
        try:
            dissection = Dissection()
            for picks in picked:
                dissection.examine(picks)
            dissection.summary()
            examined += dissection.examined
            del dissection
            assert gc.collect() == 0, f"{capture.name}: the dissectors left reference cycles"
        finally:
            gc.enable()
    assert examined > 0


@pytest.mark.parametrize("seed", range(3))
def test_what_the_dissectors_find_does_not_depend_on_the_order_of_flows(tmp_path, seed):
    """``examine`` takes each flow's first packet before the others, and the lanes take DNS
    datagrams and whole hellos first: sound only because a flow's packets keep their order and
    what flows share (calls, DNS answers) does not depend on the order of flows.  Shuffle the
    flows of every batch (each flow's packets in order) and nothing found may change."""
    import random

    import numpy as np
    from call_scenarios import eu_compliant_call, us_crm_call, us_transcription_call

    from tracecheck.dissect.session import Dissection

    captures = [eu_compliant_call().write(tmp_path / "eu.pcap"), us_transcription_call().write(tmp_path / "us.pcap"),
                us_crm_call().write(tmp_path / "crm.pcap"), _one_call_over_three_flows(tmp_path / "sip3.pcap"), DEMO,
                *[p for p in (SHARED / "wireshark-wiki" / "SIP_CALL_RTP_G711.pcap", SHARED / "ndpi" / "reddit.pcap",
                              SHARED / "pcapplusplus" / "DnsPackets.pcap") if p.exists()]]
    shuffle = random.Random(seed)

    def found(batches) -> tuple:
        dissection = Dissection()
        for picks in batches:
            dissection.examine(picks)
        summary = dissection.summary()
        return (summary["flows"], sorted(summary["dns_answers"]), sorted(summary["stun_addresses"]), summary["calls"],
                summary["examined"])

    for capture in captures:
        batches = _picks_of(capture)
        shuffled = []
        for picks in batches:
            flows = np.unique(picks.flow)
            rank = dict(zip(flows.tolist(), shuffle.sample(range(len(flows)), len(flows))))
            order = sorted(range(len(picks)), key=lambda i: (rank[int(picks.flow[i])], i))
            shuffled.append(picks._take(np.array(order, dtype=np.int64), with_syns=True))
        assert found(shuffled) == found(batches), capture.name
        assert any(found(batches)[0].values())  # something was found to compare


def _picks_of(capture: Path) -> list:
    """What the flow stage hands the dissectors, batch by batch, for this capture."""
    from tracecheck.dissect.session import Dissection
    from tracecheck.flows.pipeline import build_flows

    selector, picked = Dissection(), []

    def pick(p, flow_of, _capture) -> None:
        picks = selector.select(p, flow_of)
        if picks is not None and len(picks):
            picked.append(picks)

    build_flows([str(capture)], on_packets=pick)
    return picked


def _one_call_over_three_flows(path: Path) -> Path:
    """One SIP call whose messages take three UDP flows (a proxy answering from other ports),
    interleaved: what the call's flows share (its span, signalling, media) is built across them."""
    from capture_builders import SECOND, T0, ether, udp, write_pcap

    sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    frames = []
    for i, (sport, dport, start) in enumerate([(5060, 5060, "INVITE sip:desk@pbx.example.com SIP/2.0"),
                                                (5062, 5070, "SIP/2.0 100 Trying"), (5064, 5080, "SIP/2.0 180 Ringing"),
                                                (5062, 5070, "SIP/2.0 200 OK"), (5060, 5060, "ACK sip:desk@pbx.example.com SIP/2.0"),
                                                (5064, 5080, "BYE sip:agent@10.0.0.5 SIP/2.0")]):
        body = sdp if i in (0, 3) else ""
        message = (f"{start}\r\nCall-ID: shared-call@10.0.0.5\r\nCSeq: {i + 1} INVITE\r\n"
                   f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
        frames.append((T0 + (3 - i % 3) * SECOND + i * 1000, ether(udp("10.0.0.5", "192.0.2.10", sport, dport, message))))
    return write_pcap(path, sorted(frames))


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its (dead) parent's reaper."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker")
def test_a_worker_whose_parent_is_killed_does_not_stay_behind():
    import os
    import signal
    import subprocess
    import sys
    import time

    # The parent starts a worker mid-analysis (sent nothing yet: the child waits in recv),
    # says the worker's pid and waits; it is then killed with no chance to clean up.
    script = ("import time\nfrom tracecheck.dissect.worker import DissectionWorker\n"
              "worker = DissectionWorker()\nprint(worker._process.pid, flush=True)\ntime.sleep(60)\n")
    root = str(Path(__file__).resolve().parents[1])
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": root}, start_new_session=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the dissector worker outlived its killed parent"
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
