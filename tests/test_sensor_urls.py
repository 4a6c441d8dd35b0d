"""`analyze --zeek/--eve/--flows` with fsspec URLs (shared storage, object stores): the same
report as from local paths, globs matched through fsspec, and a one-line exit 2 for a scheme
nobody knows or a filesystem whose package is missing.  Only memory:// and file:// are used:
no network."""

from __future__ import annotations

import gzip
import importlib.util
import json
import uuid
from pathlib import Path

import pytest

from cli_runner import one_line, run
from test_cli_analyze_logs import CONN, SSL

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    return lambda *args: run(monkeypatch, capsys, "--db", str(tmp_path / "db"), *args)


@pytest.fixture
def memory_logs():
    """conn.log (gzip-compressed) and ssl.log in fsspec's memory filesystem; its root URL."""
    root = f"memory://zeek-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{root}/2026-12-01/conn.10:00:00-11:00:00.log.gz", gzip.compress(CONN.encode()))
    fs.pipe(f"{root}/2026-12-01/ssl.10:00:00-11:00:00.log", SSL.encode())
    fs.pipe(f"{root}/2026-12-01/notes.txt", b"not a log")
    yield root
    fs.rm(root, recursive=True)


def destinations(path):
    report = json.loads((path / "report.json").read_text())
    return [{k: d[k] for k in ("ip", "names", "flows", "orig_bytes", "verdict")} for d in report["destinations"]], report


def test_a_memory_url_directory_and_glob_judge_as_the_local_files_do(tc, tmp_path, memory_logs):
    local = tmp_path / "zeek"
    local.mkdir()
    (local / "conn.log").write_text(CONN)
    (local / "ssl.log").write_text(SSL)
    code, _, err = tc("analyze", "--zeek", str(local), "--out", str(tmp_path / "local"))
    assert code == 1, err
    expected, _ = destinations(tmp_path / "local")
    assert len(expected) == 2

    code, _, err = tc("analyze", "--zeek", memory_logs, "--out", str(tmp_path / "dir"))
    assert code == 1 and "Traceback" not in err, err
    got, report = destinations(tmp_path / "dir")
    assert got == expected
    # fsspec's own spelling of each file's URL (memory:///...), so that a worker can open it again
    bucket = memory_logs[len("memory://"):]
    assert sorted(i["path"] for i in report["inputs"]) == [
        f"memory:///{bucket}/2026-12-01/conn.10:00:00-11:00:00.log.gz", f"memory:///{bucket}/2026-12-01/ssl.10:00:00-11:00:00.log"]
    assert all(len(i["sha256"]) == 64 for i in report["inputs"])

    # more URLs after --zeek, as a shell gives them: the same run as the directory's
    code, _, err = tc("analyze", "--zeek", f"{memory_logs}/2026-12-01/conn.10:00:00-11:00:00.log.gz",
                      f"{memory_logs}/2026-12-01/ssl.10:00:00-11:00:00.log", "--out", str(tmp_path / "files"))
    assert code == 1, err
    assert destinations(tmp_path / "files")[0] == expected

    code, _, err = tc("analyze", "--zeek", f"{memory_logs}/*/conn.*", "--out", str(tmp_path / "glob"))
    assert code == 1, err
    got, report = destinations(tmp_path / "glob")
    assert [d["ip"] for d in got] == [d["ip"] for d in expected] and all(d["names"] == [] for d in got)
    assert len(report["inputs"]) == 1


def test_file_urls_for_zeek_logs_and_a_flow_dataset(tc, tmp_path):
    logs = tmp_path / "zeek"
    logs.mkdir()
    (logs / "conn.log").write_text(CONN)
    code, _, err = tc("analyze", "--zeek", logs.as_uri(), "--out", str(tmp_path / "r"))
    assert code == 1, err
    got, _ = destinations(tmp_path / "r")
    assert {d["ip"] for d in got} == {"3.227.250.10", "52.210.12.34"}

    capture = Path(__file__).resolve().parents[1] / "captures" / "demo-call.pcapng"
    code, _, err = tc("flows", str(capture), "--format", "parquet", "--partitioned", "-o", str(tmp_path / "flows"))
    assert code == 0, err
    code, _, err = tc("analyze", "--flows", str(tmp_path / "flows"), "--out", str(tmp_path / "plain"))
    code_url, _, err = tc("analyze", "--flows", (tmp_path / "flows").as_uri(), "--out", str(tmp_path / "url"))
    assert code_url == code == 1, err
    assert destinations(tmp_path / "url")[0] == destinations(tmp_path / "plain")[0]


def test_eve_from_a_memory_url(tc, tmp_path):
    root = f"memory://eve-{uuid.uuid4().hex}"
    event = {"timestamp": "2026-11-18T10:00:00.000000+0000", "flow_id": 7, "event_type": "flow",
             "src_ip": "10.0.0.5", "src_port": 50000, "dest_ip": "3.227.250.10", "dest_port": 443, "proto": "TCP",
             "flow": {"pkts_toserver": 3, "pkts_toclient": 2, "bytes_toserver": 300, "bytes_toclient": 200,
                      "start": "2026-11-18T10:00:00.000000+0000", "end": "2026-11-18T10:00:01.000000+0000"}}
    fsspec.filesystem("memory").pipe(f"{root}/eve.json", (json.dumps(event) + "\n").encode())
    code, _, err = tc("analyze", "--eve", f"{root}/eve.json", "--out", str(tmp_path / "r"))
    assert code == 1, err
    got, _ = destinations(tmp_path / "r")
    assert [d["ip"] for d in got] == ["3.227.250.10"] and got[0]["flows"] == 1


def test_an_unknown_scheme_is_one_line_and_exit_2(tc, tmp_path):
    code, _, err = tc("analyze", "--zeek", "nosuchstore://bucket/zeek/", "--out", str(tmp_path / "r"))
    assert code == 2
    line = one_line(err)
    assert "nosuchstore://bucket/zeek/" in line and "unknown storage protocol" in line


def test_a_missing_url_is_one_line_and_exit_2(tc, tmp_path):
    code, _, err = tc("analyze", "--zeek", f"memory://absent-{uuid.uuid4().hex}/logs", "--out", str(tmp_path / "r"))
    assert code == 2 and "no such file or directory" in one_line(err)


@pytest.mark.parametrize("scheme, package", [("s3", "s3fs"), ("gcs", "gcsfs"), ("abfs", "adlfs")])
def test_a_filesystem_whose_package_is_missing_is_one_line_and_exit_2(tc, tmp_path, scheme, package):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    code, _, err = tc("analyze", "--zeek", f"{scheme}://bucket/zeek/", "--out", str(tmp_path / "r"))
    assert code == 2
    line = one_line(err)
    assert f"{scheme}://bucket/zeek/" in line and "not installed" in line
