"""report.pdf: the report paginated, the same bytes every time, and capture text only ever text."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
import report_samples
from call_scenarios import us_transcription_call
from capture_builders import write_pcap

from cli_runner import run
from tracecheck.report.formats import help_text
from tracecheck.report.model import Name

pytest.importorskip("typst", reason="the typst wheel (the PDF engine) is not installed")
pypdf = pytest.importorskip("pypdf", reason="pypdf (a test dependency) is not installed")

from tracecheck.report.formats.pdf import render_pdf  # noqa: E402

SECTIONS = ["Destinations", "Reasons and evidence", "Policy in force", "Calls", "Sources", "Limits and caveats"]
HOSTILE = [
    "#set page(width: 1pt)",
    "]#panic(\"x\")[",
    "$x^2$ = 1",
    "<script>alert(1)</script>",
    "``` `code` ```",
    "#read(\"/etc/passwd\")",
    "x\u202egnp.exe",
]


def _text(pdf: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, text


def _squashed(text: str) -> str:
    """Text without the spaces, line breaks and zero-width spaces wrapping put in."""
    return "".join(ch for ch in text if not ch.isspace() and ch != "\u200b")


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return lambda *args: run(monkeypatch, capsys, "--db", str(tmp_path / "db"), *args)


def test_sections_and_verdict_are_in_the_pdf(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    reader, text = _text(render_pdf(report_samples.report()))
    assert text.startswith("tracecheck report")
    for section in SECTIONS:
        assert section in text
    squashed = _squashed(text)
    assert _squashed("VIOLATION: 1 violation, 1 indeterminate, 1 compliant of 3 destinations") in squashed
    assert _squashed("aws-ip-ranges is 97 days old (stale).") in squashed
    assert "c" * 32 in squashed  # a source's sha256
    assert "a84b4c76e66710@pc33.example" in squashed  # the call


def test_same_report_same_bytes_and_pdfa(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = render_pdf(report_samples.report())
    assert first == render_pdf(report_samples.report())
    assert first.startswith(b"%PDF-") and b"pdfaid" in first
    assert b"2025-11-27" in first  # dated by the capture's first packet, not the clock
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = render_pdf(report_samples.report())
    assert dated == render_pdf(report_samples.report()) and b"2023-11-14" in dated


def test_hostile_names_are_printed_not_obeyed(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    report = report_samples.report()
    first = report.destinations[0]
    hostile = first.model_copy(update={"names": [Name(name=n, source="sni") for n in HOSTILE],
                                       "reasons": [f"quoted {n}" for n in HOSTILE]})
    pdf = render_pdf(report.model_copy(update={"destinations": [hostile, *report.destinations[1:]]}))
    reader, text = _text(pdf)
    squashed = _squashed(text)
    for name in HOSTILE[:5]:  # the table shows five names, the reasons all of them
        assert _squashed(name) in squashed, name
    for name in HOSTILE:
        assert _squashed("quoted " + name.replace("\u202e", "<U+202E>")) in squashed, name
    assert "\u202e" not in text
    for page in reader.pages:  # A4 still: no name set the page
        assert round(float(page.mediabox.width)) == 595


def test_registered_with_the_formats():
    assert "pdf (report.pdf" in help_text() and "md (report.md" in help_text()


def test_unknown_format_lists_pdf_and_md(tc, tmp_path):
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    code, _, err = tc("analyze", str(capture), "--out", str(tmp_path / "r"), "--format", "docx")
    assert code == 2 and "pdf" in err and "md" in err


def _valid(out_dir) -> str:
    _, text = _text((out_dir / "report.pdf").read_bytes())
    assert "tracecheck report" in text and "Limits and caveats" in text
    markdown = (out_dir / "report.md").read_text()
    assert markdown.startswith("## tracecheck: ")
    return text


def test_analyze_writes_both_and_verify_vouches_for_them(tc, tmp_path):
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    code, out, _ = tc("analyze", str(capture), "--out", str(tmp_path / "r"), "--format", "pdf,md")
    assert code == 1
    text = _valid(tmp_path / "r")
    sentence = out.splitlines()[-1].rsplit("; report in", 1)[0]
    assert _squashed(sentence) in _squashed(text)
    assert sentence in (tmp_path / "r" / "report.md").read_text()
    assert tc("verify", str(tmp_path / "r"))[0] == 0


def test_header_only_capture(tc, tmp_path):
    capture = write_pcap(tmp_path / "empty.pcap", [])
    code, _, err = tc("analyze", str(capture), "--out", str(tmp_path / "r"), "--format", "pdf,md")
    assert code in (0, 1), err
    text = _valid(tmp_path / "r")
    assert "No destination was seen" in text


def test_policy_that_ignores_everything(tc, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("name: ignore-all\nauthorized:\n  jurisdictions: [EU]\n"
                      "ignore:\n  - ip: 0.0.0.0/0\n  - ip: ::/0\n")
    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    code, _, err = tc("analyze", str(capture), "--policy", str(policy), "--out", str(tmp_path / "r"),
                      "--format", "pdf,md")
    assert code in (0, 1), err
    text = _valid(tmp_path / "r")
    assert "Not assessed" in text and "Nothing was judged" in text


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="pdftoppm (poppler-utils) is not installed")
def test_poppler_renders_every_page(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(report_samples.report()))
    done = subprocess.run(["pdftoppm", "-png", "-r", "30", str(pdf), str(tmp_path / "page")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr
    assert list(tmp_path.glob("page*.png"))


def test_map_and_timeline_drawn_as_images(monkeypatch):
    from tracecheck.report import figures

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    _, text = _text(render_pdf(report_samples.report()))
    assert "Map and timeline" in text and "Where the destinations are" in text
    assert "When each destination was used" in text
    monkeypatch.setattr(figures, "timeline_svg", lambda data, flows: 1 / 0)  # a figure that fails
    _, text = _text(render_pdf(report_samples.report()))  # leaves the page without it
    assert "Where the destinations are" in text and "When each destination was used" not in text


def test_policy_in_full_and_where_each_call_went(monkeypatch):
    from tracecheck.report.model import Call, ExceptionUse, PolicyRef, PolicyRule

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    policy = PolicyRef(path="policy.yaml", sha256="d" * 64, name="gdpr-eu", authorized=["EU", "EEA"],
                       indeterminate="fail",
                       rules=[PolicyRule(entry="categories.telemetry", action="ignore"),
                              PolicyRule(entry="vendors.Salesforce", action="allow", authorized=["EU", "CH"],
                                         reason="CRM stays in Frankfurt")],
                       exceptions=[ExceptionUse(id="EXC-7", expires="2027-06-30", active=True,
                                                applied=["3.224.10.20"], matched=["3.224.10.20"],
                                                selector={"service": "AWS Transcribe"}, places=["US"],
                                                justification="SCC module 3", reference="TIA-2026-04")])
    call = Call(call_id="a84b4c76e66710@pc33.example", first_ts=1764230400.0, last_ts=1764230465.0,
                signalling=["CSip1"], media=["CRtp1"], signalling_to=["52.18.1.2"], media_to=["3.224.10.20"])
    _, text = _text(render_pdf(report_samples.report(policy=policy, calls=[call])))
    squashed = _squashed(text)
    for shown in ("categories.telemetry", "ignored(notassessed)", "vendors.Salesforce", "maygotoEU,CH",
                  "CRMstaysinFrankfurt", "EXC-7", "SCCmodule3—TIA-2026-04", "2027-06-30",
                  "allowed3.224.10.20", "serviceAWSTranscribe", "Unknownoranycastplaces:fail."):
        assert shown in squashed, shown
    calls = squashed[squashed.index("signallingwentto"):]
    assert calls.index("52.18.1.2") < calls.index("3.224.10.20")  # signalling, then media, each with its place


def test_a_long_category_wraps_inside_its_column(monkeypatch):
    """An underscored category is one word to the typesetter: without a break it ran past the table."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    report = report_samples.report()
    long = "customer_relationship_management_integration"
    first = report.destinations[0].model_copy(update={"category": long})
    _, text = _text(render_pdf(report.model_copy(update={"destinations": [first, *report.destinations[1:]]})))
    assert long in _squashed(text)
    assert not any(long in _squashed(line) for line in text.splitlines())  # wrapped over lines


def test_a_long_label_wraps_inside_the_name_column(monkeypatch):
    """A label of 32 hex digits (an ad server's) has no dot to break after: it ran over the place column."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    report = report_samples.report()
    label = "8a755a3fef0b189d8ab5b0d10758f68e"
    first = report.destinations[0].model_copy(
        update={"names": [Name(name=f"{label}.safeframe.googlesyndication.com", source="dns")]})
    _, text = _text(render_pdf(report.model_copy(update={"destinations": [first, *report.destinations[1:]]})))
    lines = [_squashed(line) for line in text.splitlines()]
    # The heading of its reasons, at the page's width, holds it whole; the table's cell wraps it.
    assert any(label[:10] in line and label not in line for line in lines)
