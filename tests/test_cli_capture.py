"""`tracecheck capture` on the command line: refusals before anything is captured, the interface
list, --analyze through the same request as `analyze`, and the vantage point in every format."""

from __future__ import annotations

import json

import pytest
from cli_runner import one_line, run

import test_capture
from tracecheck.capture import recorder


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.chdir(tmp_path)
    return lambda *args: run(monkeypatch, capsys, "--db", str(tmp_path / "db"), *args)


@pytest.mark.parametrize("args, said", [
    ([], "capture needs --interface IF"),
    (["-i", "lo", "--out", "call.pcap"], "name it .pcapng"),
    (["-i", "lo", "--site", "Atlantis"], "site 'Atlantis' is not a region code"),
    (["-i", "lo", "--policy", "p.yaml"], "go with --analyze"),
    (["-i", "lo", "--duration", "0"], "--duration must be a positive number"),
    (["-i", "lo", "--ring", "100"], "give SIZE,N"),
    (["-i", "lo", "--ring", "1k,3"], "at least 64 kB"),
    (["-i", "lo", "--note", "x" * 1001], "keep it under 1000"),
    (["-i", "lo", "--analyze", "--policy", "missing.yaml"], "missing.yaml"),
    (["-i", "lo", "--backend", "pcapy"], "unknown capture backend 'pcapy'"),
])
def test_bad_input_is_refused_in_one_line_before_capturing(tc, tmp_path, args, said):
    code, _out, err = tc("capture", *args)
    assert code == 2 and said in one_line(err)
    assert not list(tmp_path.glob("**/*.pcapng"))


def test_an_existing_file_is_never_overwritten(tc, tmp_path):
    (tmp_path / "call.pcapng").write_bytes(b"precious")
    code, _out, err = tc("capture", "-i", "lo", "--out", "call.pcapng")
    assert code == 2 and "exists" in one_line(err)
    assert (tmp_path / "call.pcapng").read_bytes() == b"precious"


def test_list_interfaces_names_the_loopback(tc):
    code, out, _err = tc("capture", "--list-interfaces")
    assert code == 0 and "lo" in out.split()


def test_capture_then_analyze_shows_the_vantage_point_everywhere(tc, tmp_path, monkeypatch):
    backend = test_capture.FakeBackend(limit=40, vanish="the interface veth-test went away")
    monkeypatch.setattr(recorder, "choose_backend", lambda request: backend)
    hostile = "agent <b>7</b> \x1b[31mred\x1b[0m | `tick` \u202egnp.exe"
    code, out, err = tc("capture", "-i", "veth-test", "--out", "captures/c.pcapng", "--site", "Dublin",
                        "--note", hostile, "--analyze", "--report", "r", "--format", "md,pdf")
    # The fake interface ended by itself after 40 packets: said, file kept, no analysis.
    assert code == 2 and "stopped on its own" in one_line(err.splitlines()[-1] + "\n")
    assert "tracecheck analyze captures/c.pcapng" in err

    code, out, err = tc("analyze", "captures/c.pcapng", "--out", "r", "--format", "md,pdf")
    assert code in (0, 1)
    assert "\x1b" not in out and "vantage point of captures/c.pcapng: site Dublin; note agent <b>7</b> <U+001B>[31mred" in out
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["inputs"][0]["vantage_point"]["note"] == hostile
    assert data["site"]["source"] == "capture"
    assert any("dropped 3 packets" in w for w in data["warnings"])
    assert any(c.startswith("capture incomplete: captures/c.pcapng: the capture dropped 3 packets")
               for c in data["summary"]["caveats"])
    assert "note: captures/c.pcapng: the capture dropped 3 packets" in err
    html = (tmp_path / "r" / "report.html").read_text()
    assert "agent &lt;b&gt;7&lt;/b&gt; &lt;U+001B&gt;[31mred" in html and "<b>7</b>" not in html
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "### Vantage point of `captures/c.pcapng`" in markdown
    assert "| Note | ``agent <b>7</b> <U+001B>[31mred<U+001B>[0m \\| `tick` <U+202E>gnp.exe`` |" in markdown
    pypdf = pytest.importorskip("pypdf")
    import io

    text = "".join("".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(
        (tmp_path / "r" / "report.pdf").read_bytes())).pages).split())
    assert "Vantagepoint" in text and "agent<b>7</b><U+001B>[31mred" in text


def test_capture_analyze_returns_analyze_exit_code(tc, tmp_path, monkeypatch):
    backend = test_capture.FakeBackend()
    monkeypatch.setattr(recorder, "choose_backend", lambda request: backend)
    code, out, err = tc("capture", "-i", "veth-test", "--out", "c.pcapng", "--duration", "0.3", "--analyze",
                        "--report", "r")
    # Nothing beyond the fake's private-to-public packet was judged? The exit code is analyze's either way.
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert code == (1 if data["summary"]["verdict"] != "compliant" else 0)
    assert "report in r" in out and data["inputs"][0]["path"] == "c.pcapng"
