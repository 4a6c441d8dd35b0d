"""`tracecheck capture` on a network this test builds: two namespaces joined by a veth pair.

The agent's namespace (192.168.77.10) asks the resolver (192.168.77.1) for api.mypurecloud.ie,
opens TLS to the answer (52.210.12.34) with that name as SNI, and streams RTP-like UDP to a media
server (3.227.250.10); the other namespace answers.  `tracecheck capture` records it on the
agent's veth, once with tcpdump (or dumpcap) and once with the scapy fallback, and is stopped by
SIGINT mid-capture.  `analyze` of each file must find the flows, the names, the site and the note,
and read the file without a warning.

Needs root and iproute2 (`ip netns`): skipped, with the reason, elsewhere.  CI runs as root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AGENT, RESOLVER, API, MEDIA = "192.168.77.10", "192.168.77.1", "52.210.12.34", "3.227.250.10"
NAME = "api.mypurecloud.ie"
NOTE = "agent 7, inbound call flow <b>&amp; 'quoted'</b>"

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                       reason="needs root to create network namespaces (CI runs as root)"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's `ip` for network namespaces"),
]

SERVER = r"""
import socket, struct, sys, threading
def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))
    while True:
        query, peer = s.recvfrom(2048)
        end = query.index(b"\x00", 12) + 5            # the question: name, type, class
        answer = struct.pack(">HHHHHH", struct.unpack(">H", query[:2])[0], 0x8180, 1, 1, 0, 0) + query[12:end]
        answer += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(sys.argv[2])
        s.sendto(answer, peer)
def tls():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[2], 443)); s.listen()
    while True:
        c, _ = s.accept(); c.settimeout(2)
        try: c.recv(4096)
        except OSError: pass
        c.close()
def media():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[3], 40000))
    while True: s.recvfrom(2048)
for job in (dns, tls, media): threading.Thread(target=job, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

CLIENT = r"""
import socket, ssl, struct, sys, time
resolver, name, media = sys.argv[1], sys.argv[2], sys.argv[3]
query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.sendto(query, (resolver, 53))
answer = s.recv(2048); api = socket.inet_ntoa(answer[-4:])
context = ssl.create_default_context()
try:
    with socket.create_connection((api, 443), timeout=3) as raw:
        context.wrap_socket(raw, server_hostname=name)
except (OSError, ssl.SSLError):
    pass                                             # the server only reads the ClientHello
rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rtp.bind(("0.0.0.0", 40002))
for seq in range(40):
    rtp.sendto(struct.pack(">BBHII", 0x80, 0, 1000 + seq, 160 * seq, 0x5EED) + bytes(160), (media, 40000))
    time.sleep(0.005)
print(api, flush=True)
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def network():
    """Namespaces ``agent`` and ``server`` joined by a veth pair; removed afterwards, also on failure."""
    tag = uuid.uuid4().hex[:6]
    agent, server = f"tc-agent-{tag}", f"tc-server-{tag}"
    agent_if, server_if = f"tca{tag}", f"tcs{tag}"
    try:
        _ip("netns", "add", agent)
    except subprocess.CalledProcessError as err:
        pytest.skip(f"cannot create a network namespace here: {err.stderr.decode().strip()}")
    try:
        probe = subprocess.run(["ip", "netns", "exec", agent, sys.executable, "-c", "pass"], capture_output=True,
                               text=True, timeout=30)
        if probe.returncode:
            pytest.skip(f"cannot run a program in a network namespace here: {probe.stderr.strip()[-200:]}")
        _ip("netns", "add", server)
        _ip("link", "add", agent_if, "type", "veth", "peer", "name", server_if)
        _ip("link", "set", agent_if, "netns", agent)
        _ip("link", "set", server_if, "netns", server)
        _ip("-n", agent, "addr", "add", f"{AGENT}/24", "dev", agent_if)
        _ip("-n", server, "addr", "add", f"{RESOLVER}/24", "dev", server_if)
        for address in (API, MEDIA):
            _ip("-n", server, "addr", "add", f"{address}/32", "dev", server_if)
        for namespace, interface in ((agent, agent_if), (server, server_if)):
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "link", "set", interface, "up")
        _ip("-n", agent, "route", "add", "default", "via", RESOLVER)
        servers = subprocess.Popen(["ip", "netns", "exec", server, sys.executable, "-c", SERVER, RESOLVER, API, MEDIA],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert servers.stdout.readline().strip() == "ready"
            yield {"agent": agent, "interface": agent_if}
        finally:
            servers.stdin.close()
            servers.wait(timeout=5)
    finally:
        for namespace in (agent, server):  # deleting a namespace deletes its end of the veth, and so the pair
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)


def _tracecheck(*args: str, namespace: str | None = None, env: dict | None = None, **popen) -> subprocess.Popen:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([*prefix, sys.executable, "-m", "tracecheck", *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _backends() -> list:
    programs = [name for name in ("tcpdump", "dumpcap") if shutil.which(name)]
    missing = pytest.param("tcpdump", marks=pytest.mark.skip(
        reason="neither tcpdump nor dumpcap is installed (.ci/run installs tcpdump as root)"))
    return (programs or [missing]) + ["scapy"]


def test_without_the_privilege_it_says_what_to_do():
    """An unprivileged user (nobody, no capabilities) is told the group, setcap and root ways, in one line."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs util-linux's setpriv to drop privileges")
    with tempfile.TemporaryDirectory() as folder:  # not under pytest's root-only tmp
        Path(folder).chmod(0o777)
        _unprivileged_capture(Path(folder))


def _unprivileged_capture(tmp_path: Path) -> None:
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                           sys.executable, "-m", "tracecheck", "capture", "-i", "lo", "--out",
                           str(tmp_path / "c.pcapng")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)})
    if "No module named" in done.stderr or "Permission denied" in done.stderr and "tracecheck:" not in done.stderr:
        pytest.skip(f"user nobody cannot run tracecheck from here: {done.stderr.strip()[-200:]}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "no privilege to capture on lo" in lines[0] and "setcap" in lines[0] and "sudo" in lines[0]
    assert not (tmp_path / "c.pcapng").exists()


@pytest.mark.parametrize("backend", _backends())
def test_capture_records_the_call_and_analyze_finds_it(network, backend, tmp_path):
    capture = tmp_path / "captures" / "call.pcapng"
    recorder = _tracecheck("capture", "-i", network["interface"], "--out", str(capture), "--site", "Dublin",
                           "--note", NOTE, "--test-call-id", "TC-42", namespace=network["agent"],
                           env={"TRACECHECK_CAPTURE_BACKEND": backend})
    try:
        deadline = time.monotonic() + 15
        while not capture.exists() and recorder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the file appears once the backend is capturing
        assert capture.exists(), recorder.communicate(timeout=5)
        time.sleep(0.3)
        client = subprocess.run(["ip", "netns", "exec", network["agent"], sys.executable, "-c", CLIENT, RESOLVER,
                                 NAME, MEDIA], capture_output=True, text=True, timeout=20)
        assert client.stdout.strip() == API, client.stderr
        # Ctrl-C at once, as Ctrl-C mid-capture: the call's last packets, still held in libpcap's
        # ring (tcpdump hands a block over once a second), must reach the file all the same.
        recorder.send_signal(signal.SIGINT)
        out, err = recorder.communicate(timeout=20)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    assert recorder.returncode == 0, err
    assert "stopped: Ctrl-C (SIGINT)" in err
    assert backend in err  # the final line names what captured

    report = tmp_path / "report"
    analysis = _tracecheck("--db", str(tmp_path / "db"), "analyze", str(capture), "--out", str(report))
    shown, said = analysis.communicate(timeout=120)
    assert analysis.returncode in (0, 1), said
    assert "warning" not in said.lower() and "truncated" not in said, said  # the interrupted file reads cleanly
    data = json.loads((report / "report.json").read_text())
    assert not [w for w in data["warnings"] if str(capture) in w], data["warnings"]

    vantage = data["inputs"][0]["vantage_point"]
    assert (vantage["site"], vantage["note"], vantage["test_call_id"]) == ("Dublin", NOTE, "TC-42")
    assert vantage["interfaces"][0]["name"] == network["interface"]
    assert vantage["interfaces"][0]["linktype"] == 1
    assert vantage["start_ts"] <= data["inputs"][0]["first_ts"] <= data["inputs"][0]["last_ts"] <= vantage["stop_ts"]
    assert vantage["dropped_by_os"] == 0
    assert backend in vantage["application"].lower()
    assert data["site"]["source"] == "capture" and data["site"]["label"].startswith("Dublin")
    assert "vantage point" in shown and "Dublin" in shown

    destinations = {d["ip"]: d for d in data["destinations"]}
    api = destinations[API]
    assert {(n["name"], n["source"]) for n in api["names"]} >= {(NAME, "sni"), (NAME, "dns")}
    assert destinations[MEDIA]["category"] == "media" and destinations[MEDIA]["orig_bytes"] >= 40 * 200
    assert RESOLVER in destinations  # the DNS flow
    flows = (report / "flows.csv").read_text()
    assert f"{API},443" in flows and f"{MEDIA},40000" in flows and f"{RESOLVER},53" in flows
    html = (report / "report.html").read_text()
    assert "Vantage point" in html and "&lt;b&gt;&amp;amp; &#39;quoted&#39;&lt;/b&gt;" in html and "<b>&amp;" not in html


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("args, said", [
    (["-i", "lo", "--filter", "port nope"], "the capture filter 'port nope'"),
    (["-i", "nosuch0"], "no interface named nosuch0"),
])
def test_real_backends_refuse_bad_input_in_one_line(backend, args, said, tmp_path):
    done = _tracecheck("capture", *args, "--out", str(tmp_path / "c.pcapng"), env={"TRACECHECK_CAPTURE_BACKEND": backend})
    _out, err = done.communicate(timeout=60)
    assert done.returncode == 2 and len(err.strip().splitlines()) == 1 and said in err, err
    assert not (tmp_path / "c.pcapng").exists()


FLOOD = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(int(sys.argv[2])):
    s.sendto(n.to_bytes(4, "big") + bytes(400), (sys.argv[1], 40000))
"""


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while not path.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), process.communicate(timeout=5)
    time.sleep(0.3)


@pytest.mark.parametrize("backend", _backends())
def test_a_full_disk_ends_the_capture_with_a_valid_file(network, backend, tmp_path):
    import resource

    capture = tmp_path / "full.pcapng"
    limit = 150_000  # a file size limit stands in for a full disk: the write fails the same way (EFBIG)
    recorder = _tracecheck("capture", "-i", network["interface"], "--out", str(capture), namespace=network["agent"],
                           env={"TRACECHECK_CAPTURE_BACKEND": backend},
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    try:
        _wait_for(capture, recorder)
        subprocess.run(["ip", "netns", "exec", network["agent"], sys.executable, "-c", FLOOD, MEDIA, "2000"],
                       check=True, timeout=30)
        try:
            out, err = recorder.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.send_signal(signal.SIGINT)
            out, err = recorder.communicate(timeout=30)
            raise AssertionError(err)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    assert recorder.returncode == 2 and "the disk is full" in err and "a valid file" in err, err
    assert capture.stat().st_size <= limit
    from tracecheck.flows.pipeline import build_flows

    reading = build_flows([str(capture)])
    assert reading.warnings == [] and reading.accounting.records > 100


@pytest.mark.parametrize("backend", _backends())
def test_a_vanished_interface_ends_the_capture_with_a_valid_file(network, backend, tmp_path):
    dummy = f"tcd{uuid.uuid4().hex[:8]}"  # a second veth pair, both ends in the agent's namespace
    _ip("-n", network["agent"], "link", "add", dummy, "type", "veth", "peer", "name", f"{dummy}p")
    _ip("-n", network["agent"], "addr", "add", "198.51.100.1/24", "dev", dummy)
    for interface in (dummy, f"{dummy}p"):
        _ip("-n", network["agent"], "link", "set", interface, "up")
    _ip("-n", network["agent"], "neigh", "add", "198.51.100.7", "lladdr", "02:00:00:00:00:07", "dev", dummy)
    capture = tmp_path / "gone.pcapng"
    recorder = _tracecheck("capture", "-i", dummy, "--out", str(capture), namespace=network["agent"],
                           env={"TRACECHECK_CAPTURE_BACKEND": backend})
    try:
        _wait_for(capture, recorder)
        subprocess.run(["ip", "netns", "exec", network["agent"], sys.executable, "-c", FLOOD, "198.51.100.7", "20"],
                       check=True, timeout=30)
        time.sleep(1.5)  # tcpdump hands over a buffer block a second: what it still holds when the interface goes is lost
        _ip("-n", network["agent"], "link", "del", dummy)
        out, err = recorder.communicate(timeout=30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
        subprocess.run(["ip", "-n", network["agent"], "link", "del", dummy], capture_output=True)
    assert recorder.returncode == 2 and "stopped on its own" in err, err
    from tracecheck.flows.pipeline import build_flows

    reading = build_flows([str(capture)])
    assert reading.warnings == [] and reading.accounting.records >= 20
