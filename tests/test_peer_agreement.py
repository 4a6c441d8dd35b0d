"""benchmarks/peer_agreement.py on miniature Zeek and nDPI trees written here: the figures it
prints come from matching tracecheck's flows and names against the peers' own files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from capture_builders import T0
from test_dissect_session import CLIENT, RESOLVER, SERVER, Capture

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "peer_agreement.py"


def harness():
    spec = importlib.util.spec_from_file_location("peer_agreement", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


CONN = """#separator \\x09
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount\tcount\tcount
XXXXXXXXXX.XXXXXX\tC1\t{client}\t50020\t{server}\t80\ttcp\t3\t0\t2\t0
XXXXXXXXXX.XXXXXX\tC2\t{client}\t33000\t{resolver}\t53\tudp\t1\t0\t2\t0
XXXXXXXXXX.XXXXXX\tC3\t{client}\t40000\t192.0.2.99\t443\ttcp\t1\t0\t0\t0
"""
DNS = """#separator \\x09
#fields\tts\tquery\tanswers
XXXXXXXXXX.XXXXXX\twww.example.org\t{server}
XXXXXXXXXX.XXXXXX\tmissing.example.org\t198.51.100.1
"""


def test_figures_from_miniature_trees(tmp_path, capsys):
    cap = Capture().dns_answer(T0, CLIENT, "www.example.org", SERVER)
    cap.tcp_flow(T0 + 10_000_000, CLIENT, SERVER, 50020, 80, b"GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n",
                 b"HTTP/1.1 200 OK\r\n\r\n")
    zeek = tmp_path / "zeek" / "testing" / "btest"
    (zeek / "Traces" / "http").mkdir(parents=True)
    cap.write(zeek / "Traces" / "http", "get.pcap")
    (zeek / "scripts").mkdir()
    (zeek / "scripts" / "get.zeek").write_text("# @TEST-EXEC: zeek -r $TRACES/http/get.pcap %INPUT\n")
    (zeek / "Baseline" / "scripts.get").mkdir(parents=True)
    (zeek / "Baseline" / "scripts.get" / "conn.log").write_text(CONN.format(client=CLIENT, server=SERVER, resolver=RESOLVER))
    (zeek / "Baseline" / "scripts.get" / "dns.log").write_text(DNS.format(server=SERVER))
    ndpi = tmp_path / "ndpi" / "tests" / "cfgs" / "default"
    (ndpi / "pcap").mkdir(parents=True)
    (ndpi / "result").mkdir()
    cap.write(ndpi / "pcap", "web.pcap")
    (ndpi / "result" / "web.pcap.out").write_text(
        f"\t1\tTCP {CLIENT}:50020 <-> {SERVER}:80 [proto: 7/HTTP][Hostname/SNI: www.example.org][URL: x]\n"
        f"\t2\tUDP {CLIENT}:33000 <-> {RESOLVER}:53 [proto: 5/DNS][Hostname/SNI: www.example.org]\n"
        f"\t3\tTCP {CLIENT}:50021 <-> {SERVER}:443 [proto: 91/TLS][Hostname/SNI: other.example.org]\n")

    out = tmp_path / "figures.json"
    assert harness().main(["--zeek", str(tmp_path / "zeek"), "--ndpi", str(tmp_path / "ndpi"), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["figures"]
    assert figures["zeek_conn"] == {"hits": 2, "total": 3}  # the third connection is not in the capture
    assert figures["zeek_pkts"] == {"hits": 1, "total": 2}  # the DNS row says 2 answers, the capture has 1
    assert figures["zeek_dns"] == {"hits": 1, "total": 2}
    assert figures["ndpi_names"] == {"hits": 1, "total": 2}  # DNS flows are left out
    assert "Zeek TCP/UDP connections found" in capsys.readouterr().out


def test_nothing_to_compare(tmp_path):
    assert harness().main(["--zeek", str(tmp_path)]) == 2
