"""`tracecheck capture` without a network: the file it writes, how it stops, what it says.

A fake backend hands over packets, so every way of stopping (duration, SIGTERM, a full disk, the
interface vanishing, a ring rotating) is exercised without privileges; tests/test_capture_netns.py
captures for real.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import struct
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.capture import pcapng_writer, recorder
from tracecheck.capture.interface import END, Backend, CaptureError, Drops
from tracecheck.capture.live import LiveLine
from tracecheck.capture.pcap_stream import PcapStream, StreamError
from tracecheck.capture.pcapng_writer import FileContext, PcapngWriter, Statistics
from tracecheck.capture.recorder import CaptureRequest, Ring, record
from tracecheck.flows.pipeline import build_flows

FRAME = bytes.fromhex("020000000001020000000002080045000020000040004011" "0000c0a84d0a34d20c22" "9c4001bb000cf0f0") + b"hi!!"


def _frame(size: int = len(FRAME)) -> bytes:
    return FRAME + bytes(max(0, size - len(FRAME)))


class FakeBackend(Backend):
    """Packets every ``interval`` seconds until stopped (or ``limit`` of them, then it ends by itself)."""

    name = "fake"

    def __init__(self, interval: float = 0.002, limit: int | None = None, size: int = 60,
                 vanish: str | None = None) -> None:
        super().__init__("veth-test", "udp or tcp", 262144)
        self.interval, self.limit, self.size, self.vanish = interval, limit, size, vanish
        self._stop = threading.Event()
        self.sent = 0

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set() and (self.limit is None or self.sent < self.limit):
            self.packets.put((time.time_ns(), _frame(self.size), self.size))
            self.sent += 1
            time.sleep(self.interval)
        if not self._stop.is_set() and self.vanish:
            self.ended_by_itself = self.vanish
        self.packets.put(END)

    def stop(self) -> None:
        self._stop.set()

    def drops(self) -> Drops:
        return Drops(received=self.sent + 3, dropped_by_os=3, dropped_by_interface=0)

    def describe(self) -> str:
        return "fake 1.0"


def _run(tmp_path: Path, backend: Backend, monkeypatch, **options) -> recorder.CaptureResult:
    monkeypatch.setattr(recorder, "choose_backend", lambda request: backend)
    request = CaptureRequest(interface="veth-test", out=tmp_path / "call.pcapng", capture_filter="udp or tcp",
                             site="Dublin", note="agent 7", test_call_id="TC-1", **options)
    return record(request, LiveLine(stream=io.StringIO()))


def _read(path: Path):
    result = build_flows([str(path)])
    return result, result.captures[0].vantage


def test_duration_stops_with_a_closed_file_carrying_its_context(tmp_path, monkeypatch):
    result = _run(tmp_path, FakeBackend(), monkeypatch, duration_s=0.3)
    assert not result.failed and "duration (0.3 s)" in result.stopped_by
    assert result.packets > 10 and result.packets == result.seen
    reading, vantage = _read(result.files[0])
    assert reading.accounting.records == result.packets
    assert vantage.site == "Dublin" and vantage.note == "agent 7" and vantage.test_call_id == "TC-1"
    assert vantage.application == "tracecheck 0.1.0 (fake 1.0)" and vantage.host
    (interface,) = vantage.interfaces
    assert (interface.name, interface.linktype, interface.snaplen, interface.filter) == ("veth-test", 1, 262144, "udp or tcp")
    first, last = reading.captures[0].first_ts, reading.captures[0].last_ts
    assert vantage.start_ts <= first <= last <= vantage.stop_ts
    assert vantage.dropped_by_os == 3 and vantage.received == result.packets + 3
    assert any("stopped: the duration" in c for c in vantage.comments)
    # Kernel drops are a limit of the evidence, not damage to the file.
    assert reading.warnings == []
    assert reading.limits == [f"{result.files[0]}: the capture dropped 3 packets of {result.packets + 3:,} received "
                                "(by the kernel: 3): flows, names or calls may be missing from this evidence"]


def test_a_quiet_interface_is_waited_for(tmp_path, monkeypatch):
    result = _run(tmp_path, FakeBackend(interval=0.35), monkeypatch, duration_s=0.9)
    assert not result.failed and 2 <= result.packets <= 4
    assert _read(result.files[0])[0].accounting.records == result.packets


def test_sigterm_stops_cleanly(tmp_path, monkeypatch):
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
    result = _run(tmp_path, FakeBackend(), monkeypatch)
    assert result.stopped_by == "SIGTERM" and not result.failed
    reading, vantage = _read(result.files[0])
    assert reading.accounting.records == result.packets > 0 and vantage.stop_ts is not None
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers are given back


def test_vanished_interface_leaves_a_valid_file_and_says_so(tmp_path, monkeypatch):
    result = _run(tmp_path, FakeBackend(limit=25, vanish="the interface veth-test went away (Network is down)"),
                  monkeypatch)
    assert result.failed and "went away" in result.stopped_by
    reading, vantage = _read(result.files[0])
    assert reading.accounting.records == 25 == result.packets
    assert any("went away" in c for c in vantage.comments)


@pytest.mark.parametrize("flush_bytes", [4096, 1 << 18])
def test_full_disk_cuts_the_file_back_to_its_last_whole_block(tmp_path, monkeypatch, flush_bytes):
    real_write, capacity = os.write, 40_000

    def write(fd, data):  # a disk with room for 40 kB: partial writes, then ENOSPC
        room = capacity - os.lseek(fd, 0, os.SEEK_CUR)
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, bytes(data[:room]))

    monkeypatch.setattr(pcapng_writer.os, "write", write)
    monkeypatch.setattr(pcapng_writer, "FLUSH_BYTES", flush_bytes)
    result = _run(tmp_path, FakeBackend(size=400), monkeypatch)
    assert result.failed and "disk is full" in result.stopped_by
    assert 60 < result.packets < result.seen  # a batch that did not fit kept what fitted of it
    monkeypatch.setattr(pcapng_writer.os, "write", real_write)
    assert result.files[0].stat().st_size <= capacity
    reading, _vantage = _read(result.files[0])
    assert reading.warnings == [] and reading.accounting.records == result.packets
    assert reading.accounting.skipped == {}


def test_ring_keeps_the_newest_files_each_complete(tmp_path, monkeypatch):
    result = _run(tmp_path, FakeBackend(interval=0, limit=1500, size=500), monkeypatch,
                  ring=Ring(size_bytes=100_000, files=3))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [p.name for p in result.files] == names and len(names) == 3
    assert names[-1] == f"call-{len(names) + int(names[0][5:10]) - 1:05d}.pcapng" and names[0] != "call-00001.pcapng"
    for path in result.files:
        reading, vantage = _read(path)
        assert reading.warnings == [] and vantage.note == "agent 7" and vantage.stop_ts is not None
        assert path.stat().st_size <= 100_000 + 600


@given(note=st.text(max_size=3000), comment=st.text(max_size=50))
@settings(max_examples=40, deadline=None)
def test_any_text_goes_in_and_comes_back_as_text_bounded(tmp_path_factory, note, comment):
    path = tmp_path_factory.mktemp("w") / "x.pcapng"
    context = FileContext(site="", note=note, test_call_id="", host="h", os="", hardware="", application=comment,
                          interface="eth0", linktype=1, snaplen=65535, filter="")
    writer = PcapngWriter(path, context)
    writer.packet(1_800_000_000_123_456_789, FRAME, len(FRAME))
    writer.close(Statistics(1_800_000_000_000_000_000, 1_800_000_001_000_000_000, 5, 0, 0))
    reading, vantage = _read(path)
    assert reading.warnings == [] and reading.accounting.records == 1
    shown = note.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "").strip()
    assert len(vantage.note) <= 1000
    assert vantage.note == (shown if len(shown) <= 1000 else shown[:999] + "…")
    assert reading.captures[0].first_ts == pytest.approx(1_800_000_000.123456789)


def test_a_foreign_pcapng_with_many_long_comments_is_bounded(tmp_path):
    path = tmp_path / "x.pcapng"
    context = FileContext(site="", note="", test_call_id="", host="", os="", hardware="", application="",
                          interface="eth0", linktype=1, snaplen=0, filter="")
    header = pcapng_writer.section_header(context)
    comments = b"".join(pcapng_writer._text(1, f"comment {i} " + "x" * 5000) for i in range(100))
    body = header[8:-4]
    shb = pcapng_writer._block(0x0A0D0D0A, body[:16] + comments + pcapng_writer._option(0, b""))
    path.write_bytes(shb + pcapng_writer.interface_description(context)
                     + pcapng_writer.enhanced_packet(10**18, FRAME, len(FRAME)))
    reading, vantage = _read(path)
    assert len(vantage.comments) == 32 and all(len(c) <= 1000 for c in vantage.comments)
    assert vantage.site == "" and reading.warnings == []


def _pcap(records: list[tuple[int, bytes]], nanoseconds: bool = False) -> bytes:
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for ts_ns, data in records:
        fraction = ts_ns % 10**9 if nanoseconds else ts_ns % 10**9 // 1000
        out += struct.pack("<IIII", ts_ns // 10**9, fraction, len(data), len(data) + 10) + data
    return out


class Trickle(io.RawIOBase):
    """A pipe that hands over a few bytes at a time."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = self.data[: min(size, self.step)], self.data[min(size, self.step):]
        return chunk


@pytest.mark.parametrize("nanoseconds", [False, True])
@pytest.mark.parametrize("step", [1, 7, 4096])
def test_pcap_stream_reassembles_records_from_a_pipe(nanoseconds, step):
    records = [(1_800_000_000_123_456_000 + i, FRAME[: 20 + i]) for i in range(5)]
    stream = PcapStream(Trickle(_pcap(records, nanoseconds), step))
    assert stream.linktype == 1 and stream.snaplen == 65535
    got = list(stream.records())
    expected_ts = [ts if nanoseconds else ts // 1000 * 1000 for ts, _ in records]
    assert [g[0] for g in got] == expected_ts and [g[1] for g in got] == [d for _, d in records]
    assert [g[2] for g in got] == [len(d) + 10 for _, d in records]


def test_pcap_stream_refuses_what_is_not_pcap():
    with pytest.raises(StreamError, match="no pcap header"):
        PcapStream(io.BytesIO(b""))
    with pytest.raises(StreamError, match="not pcap"):
        PcapStream(io.BytesIO(b"\x0a\x0d\x0d\x0a" + bytes(20)))
    corrupt = _pcap([]) + struct.pack("<IIII", 1, 0, 1 << 30, 1 << 30)
    with pytest.raises(StreamError, match="corrupt"):
        list(PcapStream(io.BytesIO(corrupt)).records())


def test_without_privilege_it_says_exactly_what_to_do(monkeypatch):
    monkeypatch.setattr(recorder, "process_can_capture", lambda: False)
    monkeypatch.setattr(recorder, "program_can_capture", lambda path: False)
    monkeypatch.setattr(recorder.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("tracecheck.capture.privilege.shutil.which", lambda name: f"/usr/bin/{name}")
    monkeypatch.delenv(recorder.BACKEND_ENV, raising=False)
    with pytest.raises(CaptureError) as caught:
        recorder.choose_backend(CaptureRequest(interface="eth0", out=Path("x.pcapng")))
    message = str(caught.value)
    assert "\n" not in message and "no privilege to capture on eth0" in message
    assert "usermod -aG wireshark" in message and "setcap cap_net_raw,cap_net_admin=eip /usr/bin/tcpdump" in message
    assert "sudo " in message


def test_backend_choice(monkeypatch):
    monkeypatch.setattr(recorder, "process_can_capture", lambda: True)
    monkeypatch.setattr(recorder, "program_can_capture", lambda path: True)
    monkeypatch.setattr(recorder.shutil, "which", lambda name: None)
    monkeypatch.delenv(recorder.BACKEND_ENV, raising=False)
    request = CaptureRequest(interface="eth0", out=Path("x.pcapng"))
    assert recorder.choose_backend(request).name == "scapy"  # neither program: the fallback
    monkeypatch.setattr(recorder.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert recorder.choose_backend(request).name == "tcpdump"
    monkeypatch.setenv(recorder.BACKEND_ENV, "scapy")
    assert recorder.choose_backend(request).name == "scapy"
    monkeypatch.setenv(recorder.BACKEND_ENV, "pcapy")
    with pytest.raises(CaptureError, match="unknown capture backend"):
        recorder.choose_backend(request)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_line_on_a_terminal_and_only_the_final_line_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder, "choose_backend", lambda request: FakeBackend())
    terminal = Terminal()
    request = CaptureRequest(interface="veth-test", out=tmp_path / "a.pcapng", duration_s=1.2)
    result = record(request, LiveLine(stream=terminal))
    shown = terminal.getvalue()
    assert shown.startswith("\r\x1b[Kcapturing on veth-test with fake into")
    updates = [part for part in shown.split("\r\x1b[K") if " packets  " in part]
    assert len(updates) >= 3 and all("3 dropped" in u and ":00:0" in u for u in updates)
    assert shown.endswith(f"stopped: the duration (1.2 s) ended; wrote {tmp_path / 'a.pcapng'}\n")
    assert f"captured {result.packets:,} packets" in shown

    monkeypatch.setattr(recorder, "choose_backend", lambda request: FakeBackend())
    piped = io.StringIO()
    record(CaptureRequest(interface="veth-test", out=tmp_path / "b.pcapng", duration_s=0.5), LiveLine(stream=piped))
    assert piped.getvalue().count("\n") == 1 and piped.getvalue().startswith("tracecheck: captured ")
    quiet = Terminal()
    monkeypatch.setattr(recorder, "choose_backend", lambda request: FakeBackend())
    record(CaptureRequest(interface="veth-test", out=tmp_path / "c.pcapng", duration_s=0.3),
           LiveLine(stream=quiet, quiet=True))
    assert quiet.getvalue() == ""


@given(shb=st.binary(max_size=300), idb=st.binary(max_size=300),
       isb=st.binary(max_size=300) | st.builds(lambda t, r: struct.pack("<HHII", 2, 8, t, t) + struct.pack("<HHII", 3, 8, t, r),
                                              st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)))
@settings(max_examples=200, deadline=None)
def test_any_option_bytes_read_as_a_bounded_context_or_nothing(tmp_path_factory, shb, idb, isb):
    """Hostile option areas in the section header, interface description and statistics blocks:
    the file still reads (its packet counted), the context stays bounded, nothing raises."""
    pad = lambda raw: raw + bytes(-len(raw) % 4)  # noqa: E731 -- block bodies are 32-bit aligned
    blocks = (pcapng_writer._block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + pad(shb))
              + pcapng_writer._block(1, struct.pack("<HHI", 1, 0, 0) + pad(idb))
              + pcapng_writer.enhanced_packet(10**18, FRAME, len(FRAME))
              + pcapng_writer._block(5, struct.pack("<III", 0, 0, 0) + pad(isb)))
    path = tmp_path_factory.mktemp("f") / "x.pcapng"
    path.write_bytes(blocks)
    reading, vantage = _read(path)
    assert reading.accounting.records == 1
    if vantage is not None:
        from tracecheck.report.model import VantagePoint as Shown
        from tracecheck.report.vantage import vantage_rows

        assert all("\n" not in value for _label, value in vantage_rows(Shown.of(vantage).model_dump(mode="json")))
        texts = [vantage.site, vantage.note, vantage.os, vantage.application, *vantage.comments,
                 *(i.name for i in vantage.interfaces), *(i.filter for i in vantage.interfaces)]
        assert all(len(t) <= 1000 and "\x00" not in t for t in texts) and len(vantage.comments) <= 32


@pytest.mark.skipif(__import__("shutil").which("capinfos") is None, reason="Wireshark's capinfos is not installed")
def test_wireshark_reads_the_file_and_its_context(tmp_path, monkeypatch):
    import subprocess

    result = _run(tmp_path, FakeBackend(limit=5), monkeypatch)
    done = subprocess.run(["capinfos", str(result.files[0])], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for line in ("Number of packets:   5", "Capture comment:     tracecheck site: Dublin",
                 "Capture comment:     tracecheck note: agent 7", "Capture application: tracecheck 0.1.0 (fake 1.0)",
                 "Name = veth-test", "Capture length = 262144", "Time precision = nanoseconds (9)",
                 "Filter string = udp or tcp", "Number of stat entries = 1"):
        assert line in done.stdout, done.stdout
