"""A small capture with many destinations (issue 14's resource case): report.html, report.pdf and
the terminal table summarise past a threshold -- counts by verdict, place and provider, the
violations and indeterminates listed -- while report.json and flows.csv keep every destination;
memory stays bounded; report.json is written fast, byte for byte as json.dumps writes it.
No timing here: speed is measured by benchmarks/bench_many_destinations.py."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from analyze_request import analyze
from capture_builders import many_destinations_pcap
from cli_runner import run
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.report import grouping
from tracecheck.report.figures.timeline import BUCKETS, bucket_bytes, stacked_bytes
from tracecheck.report.formats.json_report import dumps_indented

ROOT = Path(__file__).resolve().parents[1]
LISTED = ("violation", "indeterminate")


def _listed_ips(html: str) -> list[str]:
    """The addresses of the destination table's rows (not the map's, nor the calls')."""
    section = html.split("<h2>Destinations</h2>", 1)[1].split("<h2>Where the data went</h2>", 1)[0]
    return re.findall(r'<td class="ip"><code>([^<]+)</code></td>', section)


@pytest.fixture(scope="module")
def summarised_run(tmp_path_factory):
    """60 destinations judged with the threshold at 20 and at most 3 of each verdict listed."""
    folder = tmp_path_factory.mktemp("many")
    capture = folder / "many.pcap"
    many_destinations_pcap(capture, 60)
    patch = pytest.MonkeyPatch()
    patch.setattr(grouping, "SUMMARISE_ABOVE", 20)
    patch.setattr(grouping, "LISTED_AT_MOST", 3)
    try:
        result = analyze([str(capture)], out_dir=folder / "out", formats=["pdf", "md"], db_dir=folder / "db")
    finally:
        patch.undo()
    return result.out_dir


def test_report_json_and_flows_csv_keep_every_destination(summarised_run):
    report = json.loads((summarised_run / "report.json").read_text())
    assert len(report["destinations"]) == report["summary"]["destinations"] == 60
    flows = list(csv.DictReader(io.StringIO((summarised_run / "flows.csv").read_text())))
    assert len(flows) == 60
    assert {row["id.resp_h"] for row in flows} == {d["ip"] for d in report["destinations"]}


def test_html_lists_violations_and_indeterminates_and_counts_the_rest(summarised_run):
    report = json.loads((summarised_run / "report.json").read_text())
    html = (summarised_run / "report.html").read_text()
    by_verdict = {v: [d["ip"] for d in report["destinations"] if d["verdict"] == v]
                  for v in ("violation", "indeterminate", "compliant", "not_assessed")}
    assert by_verdict["violation"] and by_verdict["compliant"], "the fixture needs both verdicts"
    # The first three of each listed verdict, in report.json's order; no compliant row.
    assert _listed_ips(html) == by_verdict["violation"][:3] + by_verdict["indeterminate"][:3]
    left = {v: len(ips) - (min(len(ips), 3) if v in LISTED else 0) for v, ips in by_verdict.items()}
    said = ", ".join(f"{n:,} {v.replace('_', ' ')}" for v, n in left.items() if n)
    assert said.rsplit(", ", 1)[0] in html and "report.json and flows.csv list all" in html
    # Counts by verdict, place and provider add up to every destination.
    digest = re.search(r"<h3>By place</h3>.*?</table>", html, re.DOTALL).group(0)
    totals = [int(n.replace(",", "")) for n in re.findall(r'<tr><td>[^<]*</td><td class="num">([\d,]+)</td>', digest)]
    assert sum(totals) == 60
    assert "<h3>By provider</h3>" in html and "<h3>By verdict</h3>" in html


def test_pdf_lists_the_same_destinations_and_the_counts(summarised_run):
    pypdf = pytest.importorskip("pypdf", reason="pypdf (a test dependency) is not installed")
    report = json.loads((summarised_run / "report.json").read_text())
    reader = pypdf.PdfReader(summarised_run / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages).replace("\u200b", "")
    listed = [ip for v in LISTED for ip in [d["ip"] for d in report["destinations"] if d["verdict"] == v][:3]]
    for ip in listed:
        assert ip in text
    assert "60 destinations" in text and "report.json and flows.csv list all" in " ".join(text.split())
    assert len(reader.pages) <= 6


def test_markdown_summarises_too(summarised_run):
    report = json.loads((summarised_run / "report.json").read_text())
    text = (summarised_run / "report.md").read_text()
    rows = re.findall(r"^\| (violation|indeterminate|compliant|not assessed) \| `([^`]+)` \|", text, re.MULTILINE)
    listed = [ip for v in LISTED for ip in [d["ip"] for d in report["destinations"] if d["verdict"] == v][:3]]
    assert [ip for _, ip in rows] == listed
    assert "**60 destinations**" in text and "report.json and flows.csv list all" in text


def test_below_the_threshold_every_destination_is_listed(tmp_path):
    capture = tmp_path / "few.pcap"
    ips = many_destinations_pcap(capture, 25)
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path / "db")
    html = (result.out_dir / "report.html").read_text()
    assert sorted(_listed_ips(html)) == sorted(ips)
    assert "<h3>By place</h3>" not in html


def test_terminal_table_summarises_too(tmp_path, monkeypatch, capsys):
    capture = tmp_path / "many.pcap"
    many_destinations_pcap(capture, 40)
    monkeypatch.setattr(grouping, "SUMMARISE_ABOVE", 10)
    monkeypatch.setattr("tracecheck.cli.analyze.TERMINAL_ROWS", 2)
    code, out, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "analyze", str(capture),
                         "--out", str(tmp_path / "out"))
    assert code == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    violations = [d["ip"] for d in report["destinations"] if d["verdict"] == "violation"]
    rows = [line.split()[0] for line in out.splitlines() if re.match(r"\d+\.\d+\.\d+\.\d+ ", line)]
    assert rows[:2] == violations[:2] and len(rows) <= 4
    assert f"+ {len(violations) - 2:,} more" in out
    assert "40 destinations" in err and "report.json and flows.csv list all" in err


def test_many_destinations_run_in_bounded_memory(tmp_path):
    """3,000 destinations (0.2 MB of capture) with every format: the peak RSS of the run, measured
    in a child process.  Before the pages were summarised this run took over 1 GB (the PDF
    typeset a row and an evidence block per destination)."""
    capture = tmp_path / "many.pcap"
    many_destinations_pcap(capture, 3000)
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so the child would report the test process's
    # own size when that is larger (a pytest worker late in the suite is).
    script = ("import sys\nfrom tracecheck.cli import main\n"
              "try:\n    main()\nexcept SystemExit as end:\n    code = end.code\n"
              "peak = next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
              "print(peak, code, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script, "--quiet", "--db", str(tmp_path / "db"), "analyze",
                           str(capture), "--out", str(tmp_path / "out"), "--format", "pdf,md,sarif,junit"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    peak_kb, code = done.stderr.split()[-2:]
    assert code == "1", done.stderr[-2000:]
    assert int(peak_kb) < 700 * 1024, f"peak RSS {int(peak_kb) // 1024} MB"
    assert (tmp_path / "out" / "report.html").stat().st_size < 3_000_000
    assert len(json.loads((tmp_path / "out" / "report.json").read_text())["destinations"]) == 3000


# --------------------------------------------------------------------------- report.json's writer

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e-05, 1.5e-07, 0.0001, 1e16, 9999999999999998.0, 1.2345678901234568e+17, -0.0, 5.0])
    | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)),
                                                                         max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_report_json_writer_is_json_dumps_byte_for_byte(value):
    assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8")


def test_report_json_writer_where_orjson_would_differ():
    for value in ({"ts": 1e-05}, [1e16], {"a\": 1e-5": "1e-5"}, {"k": [0.00001234]}, 2 ** 80):
        assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------- the timeline


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.floats(0, 100), st.floats(0, 30), st.integers(0, 10 ** 6)),
                min_size=1, max_size=40), st.integers(1, 8))
def test_timeline_stacks_are_the_per_destination_series_added_up(flows, top):
    ips = [f"10.0.0.{ip}" for ip, *_ in flows]
    data = {"destinations": [{"ip": ip} for ip in sorted(set(ips))]}
    table = {"ts": [1.7e9 + ts for _, ts, _, _ in flows], "duration": [d for _, _, d, _ in flows],
             "id.resp_h": ips, "orig_ip_bytes": [sent for *_, sent in flows]}
    start, end, series = bucket_bytes(data, table)
    start2, end2, shown, top_series, others = stacked_bytes(data, table, top=top)
    assert (start, end) == (start2, end2)
    ranked = sorted(series, key=lambda ip: (-sum(series[ip]), ip))
    assert shown == ranked[:top] and all(top_series[ip] == series[ip] for ip in shown)
    if len(ranked) > top:
        assert others == (len(ranked) - top, [sum(series[ip][i] for ip in ranked[top:]) for i in range(BUCKETS)])
    else:
        assert others is None
    assert math.isclose(sum(map(sum, series.values())), sum(sent for *_, sent in flows))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.floats(0, 100), st.sampled_from([0.0, 0.0, 5.0]),
                          st.sampled_from([0, 7, 7, 7, 100])), min_size=1, max_size=80), st.integers(1, 8))
def test_timeline_top_destinations_among_many_tied_by_bytes_are_the_first_by_address(flows, top):
    """Many destinations with the same bytes (a port scan's shape): the few shown are ranked as
    sorting them all would rank them, by bytes and then by address."""
    ips = [f"10.0.{ip % 3}.{ip}" for ip, *_ in flows]
    data = {"destinations": [{"ip": ip} for ip in sorted(set(ips))] + [{"ip": "10.9.9.9"}]}  # one without flows
    table = {"ts": [1.7e9 + ts for _, ts, _, _ in flows], "duration": [d for _, _, d, _ in flows],
             "id.resp_h": ips, "orig_ip_bytes": [sent for *_, sent in flows]}
    _, _, series = bucket_bytes(data, table)
    _, _, shown, top_series, others = stacked_bytes(data, table, top=top)
    ranked = sorted(series, key=lambda ip: (-sum(series[ip]), ip))
    assert shown == ranked[:top] and all(top_series[ip] == series[ip] for ip in shown)
    assert (others[0] if others else 0) == max(len(ranked) - top, 0)


# --------------------------------------------------------------------------- report.json's plain form


def _plain_one_by_one(destination):
    from tracecheck.report import rows

    dumped = destination.model_dump(mode="json")
    rows.drop_unset(dumped)
    return rows.plain(dumped)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats() | st.none(), st.floats(-90, 90) | st.none(), st.text(max_size=6),
                          st.booleans() | st.none()), min_size=1, max_size=4))
def test_destinations_made_plain_at_once_as_one_by_one(values):
    from tracecheck.report.model import Destination, EvidenceItem, Name, plain_destinations
    from tracecheck.vocabulary import Verdict

    destinations = [Destination(ip=f"192.0.2.{i}", names=[Name(name=text, source="dns")], first_ts=ts, last_ts=ts,
                                latitude=lat, longitude=-0.0, verdict=Verdict.VIOLATION, fails=fails,
                                evidence=[EvidenceItem(source="s", claim=text, detail=text)], reasons=[text])
                    for i, (ts, lat, text, fails) in enumerate(values)]
    assert plain_destinations(destinations) == [_plain_one_by_one(d) for d in destinations]


_EDGE_FLOATS = st.sampled_from([1e-06, 1e-05, 9.9e-05, 0.0001, 0.000123, 9999999999999998.0, 1e16, -1e-05, 1.7e9])
"""Where repr's float form turns from decimal to exponent, and orjson's elsewhere."""


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats() | _EDGE_FLOATS | st.none(), st.floats(-90, 90) | _EDGE_FLOATS | st.none(),
                          st.text(st.characters(exclude_categories=()), max_size=6) | st.just("\udcff"),
                          st.booleans() | st.none(), st.lists(st.sampled_from(["192.0.2.9", "2001:db8::1"]),
                                                              max_size=2)), min_size=1, max_size=4))
def test_destinations_written_from_their_values_are_json_dumps_of_their_plain_form(values):
    # Text from a capture may hold lone surrogates (orjson refuses them: the careful way is taken),
    # floats may be NaN, tiny or huge (exponent forms), "fails" and "via" may be unset.
    from tracecheck.report.formats.json_report import _destinations_indented
    from tracecheck.report.model import Destination, EvidenceItem, Name
    from tracecheck.vocabulary import Verdict

    destinations = [Destination(ip=f"192.0.2.{i}", names=[Name(name=text, source="dns")], first_ts=ts, last_ts=ts,
                                latitude=lat, longitude=-0.0, verdict=Verdict.VIOLATION, fails=fails, via=via,
                                evidence=[EvidenceItem(source="s", claim=text, detail=text)], reasons=[text])
                    for i, (ts, lat, text, fails, via) in enumerate(values)]
    expected = json.dumps([_plain_one_by_one(d) for d in destinations], indent=2, ensure_ascii=False)
    assert _destinations_indented(destinations) == expected.encode("utf-8")


def test_only_a_destinations_own_fields_hold_floats():
    from tracecheck.report.model import EvidenceItem, Name

    for nested in (Name, EvidenceItem):
        assert not any("float" in str(field.annotation) for field in nested.model_fields.values())


def test_report_json_written_a_slice_at_a_time_is_the_same_bytes(monkeypatch):
    from report_samples import report

    from tracecheck.report.formats import json_report
    from tracecheck.report.model import canonical_dict

    whole = report()
    expected = json.dumps(canonical_dict(whole), indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    monkeypatch.setattr(grouping, "SUMMARISE_ABOVE", 0)  # a report the pages summarise is written in slices
    for size in (1, 2, 3, len(whole.destinations)):
        monkeypatch.setattr(json_report, "SLICE", size)
        assert json_report.render_report_json(whole) == expected


def test_a_light_destination_is_its_plain_form_cut_down():
    from tracecheck.report.model import Destination, Name
    from tracecheck.report.rows import light_destination
    from tracecheck.vocabulary import Verdict

    destination = Destination(ip="192.0.2.7", names=[Name(name="a\udc80.example", source="sni"), Name(name="b", source="dns")],
                              provider="aws", region="eu-west-1", country="IE", verdict=Verdict.COMPLIANT,
                              latitude=53.3498123456789, longitude=-0.0, flags=["rtt_implausible"], basis="provider")
    light = light_destination(destination)
    full = _plain_one_by_one(destination)
    assert light == {key: (full[key][:1] if key == "names" else full[key]) for key in light}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=8) | st.sampled_from(["192.0.2.1", "2001:db8::1", "a\udc80", "\u202e1.2.3.4"]),
       st.floats() | st.none(), st.floats() | st.none(), st.sampled_from(["violation", "indeterminate", "compliant",
                                                                          "not_assessed"]), st.booleans())
def test_light_destinations_are_their_plain_form_cut_down_for_any_values(ip, latitude, longitude, verdict, anycast):
    from tracecheck.report.model import Destination, Name
    from tracecheck.report.rows import light_destination
    from tracecheck.vocabulary import Verdict

    destination = Destination(ip=ip, names=[Name(name=ip, source="sni")], latitude=latitude, longitude=longitude,
                              verdict=Verdict(verdict), anycast=anycast, flags=["anycast"] if anycast else [])
    light = light_destination(destination)
    full = _plain_one_by_one(destination)
    assert light == {key: (full[key][:1] if key == "names" else full[key]) for key in light}
    assert [type(light[key]) for key in light] == [type(full[key]) for key in light]


# --------------------------------------------------------------------------- a gzip that inflates a lot


def test_progress_follows_a_gzip_stream_to_its_end(tmp_path, monkeypatch):
    """Progress is the compressed bytes read (what the file's size measures), rising to the end,
    reported with every block of records (1 MB here, 32 MB in use)."""
    import gzip

    monkeypatch.setattr("tracecheck.ingest.pcap.BLOCK_SIZE", 1 << 20)
    from capture_builders import ether, pcap_bytes, udp

    from tracecheck.flows.pipeline import build_flows

    record = ether(udp(payload=b"q" * 40))  # built once: scapy per packet would take seconds
    chunk = pcap_bytes((i * 1000, record) for i in range(20000))
    member = gzip.compress(chunk[24:], compresslevel=9, mtime=0)
    path = tmp_path / "inflating.pcap.gz"
    path.write_bytes(gzip.compress(chunk[:24], mtime=0) + member * 5)  # 8 MB of records from 0.25 MB
    seen: list[tuple[int, int]] = []
    result = build_flows([str(path)], progress=lambda name, done, total: seen.append((done, total)))
    assert result.accounting.records == 100_000
    assert len(seen) > 3 and all(total == path.stat().st_size for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen) and seen[-1][0] == path.stat().st_size


def test_flows_csv_written_some_rows_at_a_time_is_the_same_text(summarised_run, monkeypatch):
    from tracecheck.flows.table import COLUMNS
    from tracecheck.report import tables
    from tracecheck.report.formats import flows_csv

    text = (summarised_run / "flows.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    columns = {name: [_typed(row[name]) for row in rows] for name in COLUMNS}
    whole = tables.columns_to_csv(columns).encode("utf-8")
    for size in (1, 7, 59, 60):
        monkeypatch.setattr(flows_csv, "ROWS_AT_A_TIME", size)
        assert flows_csv.FORMAT.render(None, columns) == whole
        out = summarised_run.parent / f"streamed-{size}"  # written part by part, as analyze does
        out.mkdir(exist_ok=True)
        assert flows_csv.FORMAT.write(None, columns, out).read_bytes() == whole


def _typed(cell: str):
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell or None


# --------------------------------------------------------------------------- the summarised page's tallies


def _tally_one_key(destinations, key, shown):
    """A digest table as it was counted before grouping._tallies, one key at a time (ranked as
    the page ranks it: only the counting changed)."""
    from tracecheck.report.grouping import SUMMARY_VERDICTS, _ranked

    rows = {}
    for d in destinations:
        row = rows.setdefault(key(d), {"label": key(d), "total": 0, **dict.fromkeys(SUMMARY_VERDICTS, 0)})
        row["total"] += 1
        row[d.get("verdict", "not_assessed")] += 1
    return _ranked(rows, shown)


_tallied = st.fixed_dictionaries(
    {"country": st.none() | st.sampled_from(["US", "DE", ""]), "region": st.none() | st.sampled_from(["", "eu-west-1"])},
    optional={"verdict": st.sampled_from(["violation", "indeterminate", "compliant", "not_assessed"]),
              "provider": st.none() | st.sampled_from(["", "aws", "gcp"]), "basis": st.sampled_from(["local", "geoip"]),
              "anycast": st.booleans()})


@settings(max_examples=200, deadline=None)
@given(st.lists(_tallied, max_size=30), st.integers(1, 6))
def test_the_digest_tables_counted_in_one_pass_are_as_one_key_at_a_time(destinations, shown):
    from tracecheck.report.grouping import _tallies, place_of

    verdicts = [d.get("verdict", "not_assessed") for d in destinations]
    assert _tallies(destinations, verdicts, shown) == {
        "by_place": _tally_one_key(destinations, place_of, shown),
        "by_provider": _tally_one_key(destinations, lambda d: d.get("provider") or "no provider named", shown)}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0, 60) | st.sampled_from([0.0, 1.0, 30.0, 59.0, 60.0]),
                          st.floats(0, 60) | st.sampled_from([0.0, 1.0, 1e-9, 2.0]),
                          st.integers(0, 2 ** 56) | st.sampled_from([0, 1, 7, 2 ** 53 + 1])), min_size=1, max_size=30))
def test_flows_spread_all_at_once_are_spread_one_by_one(flows):
    """``_spread_all`` (the stacked figure's) gives each bucket what ``_spread`` gives it, to the byte,
    at bucket edges and for byte counts past a double's integers too."""
    import numpy as np

    from tracecheck.report.figures.timeline import _spread, _spread_all

    ts = np.array([t for _, t, _, _ in flows])
    duration = np.array([d for _, _, d, _ in flows])
    sent = np.array([s for *_, s in flows], dtype=np.int64)
    row = np.array([r for r, *_ in flows], dtype=np.int64)
    start, end = float(ts.min()), float((ts + duration).max())
    width = max(end - start, 1e-6) / BUCKETS
    first = np.minimum(((ts - start) / width).astype(np.int64), BUCKETS - 1)
    last = np.minimum(((ts + duration - start) / width).astype(np.int64), BUCKETS - 1)
    at_once = np.zeros((3, BUCKETS), dtype=np.int64)
    _spread_all(at_once, row, ts, duration, sent, first, last, start, width)
    one_by_one = [[0] * BUCKETS for _ in range(3)]
    for r, t, d, s in flows:
        _spread(one_by_one[r], float(t), float(d), int(s), start, width)
    assert at_once.tolist() == one_by_one


def _plain_as_before(destinations):
    """``plain_destinations`` as it was: pydantic's JSON text read back by orjson, or one by one."""
    import orjson
    from pydantic_core import PydanticSerializationError

    from tracecheck.report import rows
    from tracecheck.report.model import _DESTINATION_LIST, DESTINATION_FLOATS

    try:
        dumped = orjson.loads(_DESTINATION_LIST.dump_json(destinations))
    except PydanticSerializationError:
        dumped = [rows.plain(d.model_dump(mode="json")) for d in destinations]
    return rows.finished(dumped, DESTINATION_FLOATS)


_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=6) | st.sampled_from(["\udcff", "a\ud800b", "<é>"])
_ANY_COUNT = st.integers(0, 2 ** 70) | st.sampled_from([2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64, 2 ** 64 + 5])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats() | _EDGE_FLOATS | st.none(), _ANY_TEXT, _ANY_COUNT, _ANY_COUNT,
                          st.booleans() | st.none(),
                          st.lists(st.sampled_from(["192.0.2.9", "2001:db8::1"]), max_size=2)),
                min_size=1, max_size=4))
def test_destinations_made_plain_are_as_before_for_any_values(values):
    """The values pydantic dumps as they are, where orjson takes them, are those its JSON text read
    back gave: types too (an integer past 64 bits came back a float), surrogates, NaN and all."""
    from tracecheck.report.model import Destination, EvidenceItem, Name, plain_destinations
    from tracecheck.vocabulary import Verdict

    def made():
        return [Destination(ip=f"192.0.2.{i}", names=[Name(name=text, source="dns")], first_ts=ts, last_ts=ts,
                            latitude=ts, longitude=-0.0, verdict=Verdict.VIOLATION, fails=fails, via=via,
                            flows=flows, orig_bytes=sent, evidence=[EvidenceItem(source="s", claim=text, detail=text)],
                            reasons=[text], vendor=text)
                for i, (ts, text, flows, sent, fails, via) in enumerate(values)]

    assert repr(plain_destinations(made())) == repr(_plain_as_before(made()))
