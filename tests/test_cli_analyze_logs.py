"""`tracecheck analyze --flows/--zeek/--eve`: sensor logs judged like a capture -- a flow dataset
of the demo call gives the demo's destinations and verdicts, a dask.distributed cluster gives the
same report.json byte for byte, bad input exits 2 and empty logs judge nothing (exit 1)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from cli_runner import one_line, run

DEMO = Path(__file__).resolve().parents[1] / "captures" / "demo-call.pcapng"


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    db = tmp_path / "db"
    return lambda *args: run(monkeypatch, capsys, "--db", str(db), *args)


@pytest.fixture
def dataset(tc, tmp_path) -> Path:
    out = tmp_path / "flows"
    code, _, err = tc("flows", str(DEMO), "--format", "parquet", "--partitioned", "-o", str(out))
    assert code == 0, err
    return out


def test_partitioned_flows_are_a_hive_dataset_by_capture_and_date(dataset):
    import pyarrow.dataset as ds

    files = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*.parquet"))
    assert files == ["capture=demo-call.pcapng/date=2026-11-18/flows-0.parquet"]
    table = ds.dataset(dataset, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 10 and set(table.column("capture").to_pylist()) == {"demo-call.pcapng"}


def test_a_flow_dataset_is_judged_as_the_capture_was(tc, dataset, tmp_path):
    code, _, _ = tc("analyze", str(DEMO), "--out", str(tmp_path / "capture"))
    from_capture = json.loads((tmp_path / "capture" / "report.json").read_text())
    code_logs, out, err = tc("analyze", "--flows", str(dataset), "--out", str(tmp_path / "logs"))
    assert code_logs == code == 1 and "Traceback" not in err
    report = json.loads((tmp_path / "logs" / "report.json").read_text())
    pick = ("ip", "verdict", "flows", "orig_bytes", "resp_bytes", "first_ts", "last_ts", "category", "country")
    assert [{k: d[k] for k in pick} for d in report["destinations"]] == \
           [{k: d[k] for k in pick} for d in from_capture["destinations"]]
    [data] = report["inputs"]
    assert data["format"] == "flows-parquet" and data["packets"] == 10 and len(data["sha256"]) == 64
    accounting = report["accounting"]
    assert accounting["records"] == accounting["decoded"] + sum(accounting["skipped"].values()) == 10
    warnings = " ".join(report["warnings"])
    assert "Judged from a flow dataset" in warnings and "no handshake RTT" in warnings
    assert "SIP calls are not rebuilt" in warnings
    assert (tmp_path / "logs" / "flows.csv").read_text().count("\n") == 11
    assert tc("verify", str(tmp_path / "logs"))[0] == 0


def test_a_dask_cluster_writes_the_same_report_byte_for_byte(tc, dataset, tmp_path):
    distributed = pytest.importorskip("distributed")
    # Two copies of the data set: two files, so that both workers have a task.
    shutil.copytree(dataset, tmp_path / "more" / "site-b")
    shutil.copytree(dataset, tmp_path / "more" / "site-a")
    code, _, err = tc("analyze", "--flows", str(tmp_path / "more"), "--out", str(tmp_path / "local"))
    assert code == 1, err
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        code, _, err = tc("analyze", "--flows", str(tmp_path / "more"), "--scheduler", cluster.scheduler_address,
                          "--out", str(tmp_path / "cluster"))
    assert code == 1, err
    local = (tmp_path / "local" / "report.json").read_bytes()
    assert local == (tmp_path / "cluster" / "report.json").read_bytes()
    report = json.loads(local)
    assert len(report["inputs"]) == 2 and report["accounting"]["records"] == 20
    assert next(d for d in report["destinations"] if d["ip"] == "3.227.250.10")["flows"] == 2


def test_an_empty_dataset_judges_nothing(tc, tmp_path):
    from tracecheck.flows.table import COLUMNS
    from tracecheck.report.tables import parquet_bytes

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "flows-0.parquet").write_bytes(parquet_bytes({c: [] for c in COLUMNS}, COLUMNS))
    code, out, err = tc("analyze", "--flows", str(tmp_path / "empty"), "--out", str(tmp_path / "r"))
    assert code == 1, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["summary"]["verdict"] == "indeterminate" and report["summary"]["destinations"] == 0
    assert any(c.startswith("nothing judged") for c in report["summary"]["caveats"])


@pytest.mark.parametrize("args, says", [
    (["--flows", "{tmp}/nothing-here"], "no such file or directory"),
    (["--flows", "{tmp}"], "no Parquet files"),
    (["--flows", "{demo}"], "not a Parquet file"),
    (["{demo}", "--flows", "{tmp}"], "cannot be judged in one run"),
    (["--zeek", "{tmp}", "--eve", "{tmp}"], "one kind of sensor logs"),
    (["{demo}", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler aggregates sensor logs"),
    (["--flows", "{dataset}", "--scheduler", "nonsense"], "--scheduler nonsense"),
])
def test_bad_log_input_is_one_line_and_exit_2(tc, tmp_path, dataset, args, says):
    args = [a.format(tmp=tmp_path / "in", demo=DEMO, dataset=dataset) for a in args]
    (tmp_path / "in").mkdir()
    code, _, err = tc("analyze", *args, "--out", str(tmp_path / "r"))
    assert code == 2 and says in one_line(err)


def test_partitioned_needs_parquet_and_a_directory(tc):
    code, _, err = tc("flows", str(DEMO), "--partitioned")
    assert code == 2 and "--format parquet and -o DIR" in one_line(err)


# --------------------------------------------------------------------------- Zeek logs (the reader is another module)

CONN = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tcount\tcount\tcount\tcount
1795000000.100000\tCa1\t10.0.0.5\t50000\t3.227.250.10\t443\ttcp\tssl\t2.000000\t500\t900\tSF\t10\t1000\t10\t2000
1795000001.000000\tCa2\t10.0.0.5\t50001\t52.210.12.34\t443\ttcp\tssl\t1.000000\t100\t200\tSF\t5\t300\t5\t400
1795000002.000000\tCa3\t10.0.0.5\t50002\t52.210.12.34\t443\ttcp\t-\t-\t-\t-\tS0\t1\t60\t0\t0
"""
SSL = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tssl
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tserver_name
#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring
1795000000.200000\tCa1\t10.0.0.5\t50000\t3.227.250.10\t443\tTLSv13\ttranscribestreaming.us-east-1.amazonaws.com
1795000001.100000\tCa2\t10.0.0.5\t50001\t52.210.12.34\t443\tTLSv13\tapi.mypurecloud.ie
"""


@pytest.mark.skipif(importlib.util.find_spec("tracecheck.sensors.zeek") is None,
                    reason="the Zeek reader (tracecheck/sensors/zeek.py) is not in this build")
def test_zeek_logs_are_judged(tc, tmp_path):
    logs = tmp_path / "zeek"
    logs.mkdir()
    (logs / "conn.log").write_text(CONN)
    (logs / "ssl.log").write_text(SSL)
    code, out, err = tc("analyze", "--zeek", str(logs), "--out", str(tmp_path / "r"))
    assert code == 1, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    by_ip = {d["ip"]: d for d in report["destinations"]}
    assert by_ip["3.227.250.10"]["verdict"] == "violation"
    assert by_ip["3.227.250.10"]["names"][0] == {"name": "transcribestreaming.us-east-1.amazonaws.com", "source": "sni"}
    assert by_ip["52.210.12.34"]["flows"] == 2 and by_ip["52.210.12.34"]["orig_bytes"] == 360
    assert {i["format"] for i in report["inputs"]} == {"zeek-tsv"}
    accounting = report["accounting"]
    assert accounting["records"] == accounting["decoded"] + sum(accounting["skipped"].values())


@pytest.mark.skipif(importlib.util.find_spec("tracecheck.sensors.zeek") is None,
                    reason="the Zeek reader (tracecheck/sensors/zeek.py) is not in this build")
def test_empty_zeek_logs_judge_nothing(tc, tmp_path):
    logs = tmp_path / "zeek"
    logs.mkdir()
    (logs / "conn.log").write_text("".join(line + "\n" for line in CONN.splitlines() if line.startswith("#")))
    code, _, err = tc("analyze", "--zeek", str(logs), "--out", str(tmp_path / "r"))
    assert code == 1, err
    assert json.loads((tmp_path / "r" / "report.json").read_text())["summary"]["destinations"] == 0


def _without_columns(text: str, dropped: set[str]) -> str:
    """A TSV log with some of its columns (and their types) left out, as a trimmed custom log."""
    lines, keep = [], None
    for line in text.splitlines():
        cells = line.split("\t")
        if line.startswith("#fields"):
            keep = [i for i, cell in enumerate(cells) if cell not in dropped]
        if keep is not None and line.startswith(("#fields", "#types")):
            cells = [cells[i] for i in keep]
        elif keep is not None and not line.startswith("#"):  # a record has no "#fields" cell
            cells = [cells[i - 1] for i in keep[1:]]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(importlib.util.find_spec("tracecheck.sensors.zeek") is None,
                    reason="the Zeek reader (tracecheck/sensors/zeek.py) is not in this build")
@pytest.mark.parametrize("conn, unknown", [
    (CONN, 0),
    (_without_columns(CONN, {"orig_ip_bytes", "resp_ip_bytes"}), 3),  # not logged at all: every flow
    (CONN.replace("\t5\t300\t5\t400\n", "\t5\t-\t5\t400\n"), 1),     # unset in one row
])
def test_flows_without_byte_counts_are_said_not_shown_as_zero_silently(tc, tmp_path, conn, unknown):
    logs = tmp_path / "zeek"
    logs.mkdir()
    (logs / "conn.log").write_text(conn)
    code, _, err = tc("analyze", "--zeek", str(logs), "--out", str(tmp_path / "r"))
    assert code == 1, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    said = [w for w in report["warnings"] if "no byte counts" in w]
    if unknown:
        assert len(said) == 1 and said[0].startswith(f"{unknown} flow") and "lower bound" in said[0], said
        assert str(logs / "conn.log") in said[0]
    else:
        assert said == []
    assert report["summary"]["destinations"] == 2  # the flows are judged all the same


@pytest.mark.skipif(importlib.util.find_spec("tracecheck.sensors.zeek") is None,
                    reason="the Zeek reader (tracecheck/sensors/zeek.py) is not in this build")
def test_logs_say_which_names_were_hidden_as_a_capture_does(tc, tmp_path):
    logs = tmp_path / "zeek"
    logs.mkdir()
    doh = "".join(f"179500001{i}.000000\tCd{i}\t10.0.0.5\t5100{i}\t1.1.1.1\t443\ttcp\tssl\t1.0\t100\t200\tSF\t5\t300\t5\t400\n"
                  for i in range(3))  # three flows to a public DoH resolver's address, no SNI logged
    (logs / "conn.log").write_text(CONN + doh)
    (logs / "ssl.log").write_text(SSL)
    code, _, err = tc("analyze", "--zeek", str(logs), "--out", str(tmp_path / "r"))
    assert code == 1, err
    notes = json.loads((tmp_path / "r" / "report.json").read_text())["observability"]
    [hidden] = [n for n in notes if n.startswith("Names hidden by encrypted DNS")]
    assert "cloudflare-dns.com at 1.1.1.1 by DoH (3 flows)" in hidden and "not in the logs" in hidden
    [nameless] = [n for n in notes if n.startswith("No name at all")]
    assert "1 destination (3 flows)" in nameless and "in the logs (1.1.1.1)" in nameless
