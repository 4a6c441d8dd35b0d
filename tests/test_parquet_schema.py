"""Parquet tables keep one schema whatever a capture holds, so that runs concatenate.

pyarrow infers ``null`` for a column no row fills (``vlan`` of an untagged capture,
``handshake_rtt_ms`` without TCP handshakes, every column of an empty table) and int64/double
where rows do: two runs then refuse ``pyarrow.concat_tables`` or change dtypes under
``pandas.concat``.  Captures are built here with scapy.
"""

from __future__ import annotations

import struct

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from capture_builders import ether, frames_of, tcp, udp, write_pcap
from cli_runner import run
from tracecheck.cli.names import COLUMNS as NAME_COLUMNS
from tracecheck.flows.table import COLUMNS as FLOW_COLUMNS
from tracecheck.report.tables import parquet_schema


def vlan(packet: bytes, vid: int) -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x8100)) + struct.pack(">HH", vid, 0x0800) + packet


def dns_answer(name: str, address: str) -> bytes:
    return bytes(IP(src="10.0.0.53", dst="10.0.0.1") / UDP(sport=53, dport=40001)
                 / DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, type="A", ttl=60, rdata=address)))


@pytest.fixture
def captures(tmp_path):
    """One capture with VLAN tags, TCP handshakes and a DNS answer; one with none of them."""
    tagged = [
        vlan(tcp("10.0.0.1", "192.0.2.10", 40000, 443, "S"), 20),
        vlan(tcp("192.0.2.10", "10.0.0.1", 443, 40000, "SA"), 20),
        vlan(tcp("10.0.0.1", "192.0.2.10", 40000, 443, "A"), 20),
        ether(dns_answer("api.example.com", "192.0.2.10")),
    ]
    plain = [ether(udp("10.0.0.1", "198.51.100.7", 7000, 7001, payload=b"u" * 20))]
    return (write_pcap(tmp_path / "tagged.pcap", frames_of(tagged)),
            write_pcap(tmp_path / "plain.pcap", frames_of(plain)),
            write_pcap(tmp_path / "empty.pcap", []))


def tables(monkeypatch, capsys, tmp_path, command, captures) -> list[pa.Table]:
    read = []
    for capture in captures:
        out = tmp_path / f"{command}-{capture.stem}.parquet"
        code, _, err = run(monkeypatch, capsys, "-q", command, str(capture), "--format", "parquet", "-o", str(out))
        assert code == 0, err
        read.append(pq.read_table(out))
    return read


def test_flow_tables_of_different_captures_share_one_schema_and_concatenate(monkeypatch, capsys, tmp_path, captures):
    tagged, plain, empty = tables(monkeypatch, capsys, tmp_path, "flows", captures)
    assert tagged.column("vlan").to_pylist() == [20, None] and plain.column("vlan").to_pylist() == [None]
    assert tagged.column("handshake_rtt_ms").to_pylist()[0] is not None
    assert tagged.schema == plain.schema == empty.schema
    assert tagged.schema.field("vlan").type == pa.int64() and tagged.schema.field("handshake_rtt_ms").type == pa.float64()
    both = pa.concat_tables([tagged, plain, empty])
    assert both.num_rows == 3 and both.schema == tagged.schema
    frames = [table.to_pandas() for table in (tagged, plain, empty)]
    assert pd.concat(frames).dtypes.equals(frames[0].dtypes)


def test_names_tables_share_one_schema_and_concatenate(monkeypatch, capsys, tmp_path, captures):
    tagged, plain, empty = tables(monkeypatch, capsys, tmp_path, "names", captures)
    assert ("api.example.com", "192.0.2.10", 60) in zip(*(tagged.column(c).to_pylist() for c in ("name", "ip", "ttl")))
    assert plain.num_rows == 0
    assert tagged.schema == plain.schema == empty.schema and tagged.schema.field("ttl").type == pa.int64()
    assert pa.concat_tables([tagged, plain, empty]).num_rows == tagged.num_rows


def test_the_schemas_name_every_column_in_order():
    assert parquet_schema(FLOW_COLUMNS).names == list(FLOW_COLUMNS)
    assert parquet_schema(NAME_COLUMNS).names == list(NAME_COLUMNS)
    with pytest.raises(KeyError):
        parquet_schema(("uid", "something new"))  # a new column needs its type declared


@pytest.mark.parametrize("command", ["flows", "names"])
@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_an_output_that_cannot_be_written_is_one_line(monkeypatch, capsys, tmp_path, captures, command, fmt):
    for target in (tmp_path, tmp_path / "missing" / "out"):  # a directory; a folder that does not exist
        code, out, err = run(monkeypatch, capsys, command, str(captures[0]), "--format", fmt, "-o", str(target))
        assert code == 2 and out == "" and "Traceback" not in err
        assert err.startswith(f"tracecheck: cannot write {target}: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("command", ["flows", "names"])
def test_a_permission_error_is_one_line(monkeypatch, capsys, tmp_path, captures, command):
    """As root a read-only directory is writable, so the refusal is made by open() itself."""
    import builtins

    real_open = builtins.open

    def refusing_open(file, mode="r", *args, **kwargs):
        if str(file).startswith(str(tmp_path / "readonly")) and any(flag in mode for flag in "wax"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    for fmt in ("csv", "parquet"):
        target = tmp_path / "readonly" / f"out.{fmt}"
        code, out, err = run(monkeypatch, capsys, command, str(captures[0]), "--format", fmt, "-o", str(target))
        assert code == 2 and err == f"tracecheck: cannot write {target}: Permission denied\n", err


def test_parquet_output_is_a_local_path_never_a_url(monkeypatch, capsys, tmp_path, captures):
    """pyarrow reads a string as a URI (s3://, gs://, hdfs://) and would go to the network."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run(monkeypatch, capsys, "-q", "flows", str(captures[1]), "--format", "parquet", "-o", "mock://x.parquet")
    assert code == 2 and err.startswith("tracecheck: cannot write mock://x.parquet: No such file or directory")
