"""Zeek's tunnel.log: the outer flow of a GRE or IP-in-IP tunnel, which Zeek writes there and not
to conn.log, is a destination from the logs as it is from the capture (where the outer packets
are a flow of their own)."""

from __future__ import annotations

import json

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import GRE, Ether

from capture_builders import T0, frames_of, tcp, write_pcap
from cli_runner import run
from test_sensors_zeek import json_lines, read, tsv, write

TUNNEL_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "tunnel_type", "action")
CONN_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
               "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "history", "tunnel_parents")
TS = T0 / 1e9
GRE_OUTER = ("10.9.0.1", "52.210.12.34")  # a local tunnel end and a public one: the outer flow's destination
INNER = ("192.168.1.1", 1234, "3.227.250.10", 443)
TUNNEL_ROWS = [
    (f"{TS:.6f}", "CgreOuter", GRE_OUTER[0], "0", GRE_OUTER[1], "0", "Tunnel::GRE", "Tunnel::DISCOVER"),
    (f"{TS + 1:.6f}", "CgreOuter", GRE_OUTER[0], "0", GRE_OUTER[1], "0", "Tunnel::GRE", "Tunnel::CLOSE"),
    (f"{TS:.6f}", "Cvx", "10.9.0.1", "48134", "198.51.100.9", "4789", "Tunnel::VXLAN", "Tunnel::DISCOVER"),
    (f"{TS:.6f}", "-", "10.9.0.1", "0", "198.51.100.10", "1080", "Tunnel::SOCKS", "Tunnel::DISCOVER"),
    (f"{TS:.6f}", "Cip", "2001:db8::1", "0", "2001:db8::2", "0", "Tunnel::IP", "Tunnel::DISCOVER"),
]


def _tunnel_log(tmp_path, layout: str, rows=TUNNEL_ROWS) -> str:
    if layout == "tsv":
        return write(tmp_path / "tunnel.log", tsv("tunnel", TUNNEL_FIELDS, rows))
    records = []
    for row in rows:
        record = {name: value for name, value in zip(TUNNEL_FIELDS, row) if value != "-"}
        record["ts"] = float(record["ts"])
        record["id.orig_p"], record["id.resp_p"] = int(record["id.orig_p"]), int(record["id.resp_p"])
        records.append(record)
    return write(tmp_path / "tunnel.log", json_lines(records))


@pytest.mark.parametrize("layout", ["tsv", "json"])
def test_tunnel_log_gives_the_outer_flows_of_ip_level_tunnels(tmp_path, layout):
    flows, names, skipped, _ = read(_tunnel_log(tmp_path, layout))
    assert names is None
    got = [(f["uid"], f["proto"], f["id.orig_h"], f["id.orig_p"], f["id.resp_h"], f["id.resp_p"], f["orig_ip_bytes"])
           for f in flows.to_dict("records")]
    assert got == [("CgreOuter", "47", "10.9.0.1", 0, "52.210.12.34", 0, -1),   # bytes: tunnel.log has none
                   ("Cip", "4", "2001:db8::1", 0, "2001:db8::2", 0, -1)]
    assert dict(skipped) == {"tunnel whose outer connection is in conn.log": 2,  # VXLAN (UDP), SOCKS (TCP)
                             "tunnel close or expiry (its discovery is the flow)": 1}


def _gre_capture(tmp_path):
    """The inner TCP handshake's packets in GRE between the two tunnel ends, both directions."""
    src, sport, dst, dport = INNER
    packets = []
    for outer_src, outer_dst, inner in ((GRE_OUTER[0], GRE_OUTER[1], tcp(src, dst, sport, dport, flags="S")),
                                        (GRE_OUTER[1], GRE_OUTER[0], tcp(dst, src, dport, sport, flags="SA"))):
        packets.append(bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                             / IP(src=outer_src, dst=outer_dst) / GRE(proto=0x0800) / inner))
    return write_pcap(tmp_path / "gre.pcap", frames_of(packets))


@pytest.mark.parametrize("layout", ["tsv", "json"])
def test_a_log_set_with_tunnel_log_gives_the_captures_destinations(monkeypatch, capsys, tmp_path, layout):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    tc = lambda *args: run(monkeypatch, capsys, "--db", str(tmp_path / "db"), *args)  # noqa: E731
    code, _, err = tc("analyze", str(_gre_capture(tmp_path)), "--out", str(tmp_path / "pcap"))
    assert code in (0, 1), err
    logs = tmp_path / "zeek"
    logs.mkdir()
    src, sport, dst, dport = INNER
    conn = [(f"{TS:.6f}", "Cinner", src, str(sport), dst, str(dport), "tcp", "-", "0.001000", "1", "40", "1", "40",
             "Sh", "CgreOuter")]
    write(logs / "conn.log", tsv("conn", CONN_FIELDS, conn))
    _tunnel_log(logs, layout, TUNNEL_ROWS[:2])
    code, _, err = tc("analyze", "--zeek", str(logs), "--out", str(tmp_path / "zeek-report"))
    assert code in (0, 1), err
    pcap = json.loads((tmp_path / "pcap" / "report.json").read_text())
    zeek = json.loads((tmp_path / "zeek-report" / "report.json").read_text())
    ips = lambda report: sorted(d["ip"] for d in report["destinations"])  # noqa: E731
    assert GRE_OUTER[1] in ips(pcap)
    assert ips(zeek) == ips(pcap)
    outer = {d["ip"]: d for d in zeek["destinations"]}[GRE_OUTER[1]]
    assert outer["flows"] == 1 and outer["verdict"] == {d["ip"]: d for d in pcap["destinations"]}[GRE_OUTER[1]]["verdict"]
    assert any("no byte counts" in w and "tunnel.log" in w for w in zeek["warnings"])
    accounting = zeek["accounting"]
    assert accounting["records"] == accounting["decoded"] + sum(accounting["skipped"].values())
