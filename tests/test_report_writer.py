"""write_report: the whole report directory, deterministic, spreadsheet-safe, manifest last."""

from __future__ import annotations

import csv
import errno
import io
import json
import os

import pytest
import report_samples

from tracecheck.errors import UserError
from tracecheck.flows.table import COLUMNS
from tracecheck.report import atomic, parse_formats, verify, write_report


def _contents(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_writes_the_contract_files_and_the_manifest_last(tmp_path):
    written = write_report(report_samples.report(), tmp_path / "out" / "deep", report_samples.flow_rows(), set())
    assert [p.name for p in written] == ["report.json", "report.html", "flows.csv", "manifest.json"]
    assert sorted(p.name for p in (tmp_path / "out" / "deep").iterdir()) == [
        "flows.csv", "manifest.json", "report.html", "report.json"]


def test_extra_formats(tmp_path):
    written = write_report(report_samples.report(), tmp_path, report_samples.flow_rows(),
                           {"sarif", "junit", "parquet"})
    assert [p.name for p in written] == ["report.json", "report.html", "flows.csv", "report.sarif",
                                         "report.junit.xml", "flows.parquet", "manifest.json"]
    assert verify(tmp_path) == []


def test_same_inputs_same_bytes(tmp_path, monkeypatch):
    for epoch in (None, "1764230400"):
        if epoch is None:
            monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        else:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        first, second = tmp_path / f"a{epoch}", tmp_path / f"b{epoch}"
        for out in (first, second):
            write_report(report_samples.report(), out, report_samples.flow_rows(), {"sarif", "junit"})
        assert _contents(first) == _contents(second)


def test_flows_csv_has_the_contract_columns_and_neutralises_formulas(tmp_path):
    write_report(report_samples.report(), tmp_path, report_samples.flow_rows(), set())
    rows = list(csv.reader(io.StringIO((tmp_path / "flows.csv").read_text())))
    assert tuple(rows[0]) == COLUMNS
    server_names = [row[COLUMNS.index("server_name")] for row in rows[1:]]
    assert server_names == ["'" + report_samples.HOSTILE_FORMULA, "'-1+2"]
    assert rows[1][COLUMNS.index("id.resp_p")] == "443"  # numbers are left alone


def test_a_rerun_removes_outputs_not_asked_for_again(tmp_path):
    write_report(report_samples.report(), tmp_path, report_samples.flow_rows(), {"sarif", "junit", "parquet"})
    write_report(report_samples.report(), tmp_path, report_samples.flow_rows(), set())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flows.csv", "manifest.json", "report.html", "report.json"]
    assert verify(tmp_path) == []


def test_unknown_formats_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(UserError, match="unknown report format pdf: choose from json, html, csv, sarif, junit, parquet"):
        write_report(report_samples.report(), tmp_path / "out", [], {"pdf"})
    assert not (tmp_path / "out").exists()
    assert parse_formats(" SARIF, junit,,") == {"sarif", "junit"}


def test_out_dir_that_is_a_file_is_bad_input(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(UserError, match="taken"):
        write_report(report_samples.report(), target, [], set())


# --------------------------------------------------------------------------- the directory is the run's own


def _write(out, formats=frozenset(), **options):
    return write_report(report_samples.report(), out, report_samples.flow_rows(), set(formats), **options)


def _listing(directory):
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))


def _listed(directory):
    return sorted(entry["path"] for entry in json.loads((directory / "manifest.json").read_text())["files"])


def test_a_non_empty_directory_that_is_not_a_report_is_refused(tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError) as refused:
        _write(out)
    assert str(refused.value) == (f"{out} is not empty and holds no tracecheck report (manifest.json); "
                                  f"choose another --out DIR or add --force")
    assert _listing(out) == ["notes.txt"]


@pytest.mark.parametrize("manifest", [
    '{"name": "My App", "icons": [], "start_url": "/"}',              # a web app manifest
    '{"manifest_version": "1", "files": []}',                          # our shape, not our tool
    '{"tool": {"name": "tracecheck"}, "files": [], "manifest_version": "1"',  # cut short
    "\xff\xfe not even text",
])
def test_a_manifest_json_from_something_else_is_not_a_report(tmp_path, manifest):
    out = tmp_path / "x"
    out.mkdir()
    (out / "manifest.json").write_bytes(manifest.encode("utf-8", "surrogateescape"))
    with pytest.raises(UserError, match="holds no tracecheck report"):
        _write(out)
    assert _listing(out) == ["manifest.json"]


def test_an_empty_directory_is_written_into(tmp_path):
    _write(tmp_path)
    assert verify(tmp_path) == []


def test_a_rerun_replaces_the_report_whole(tmp_path):
    key = report_samples.write_key(tmp_path / "sign.pem")
    out = tmp_path / "r"
    _write(out, {"sarif", "junit", "parquet"}, sign_key=key)
    for killed in (".report.json.k3j_x9.tmp", ".flows.parquet.a_b1.tmp"):
        (out / killed).write_bytes(b"left by a run that was killed")
    _write(out)
    assert _listing(out) == ["flows.csv", "manifest.json", "report.html", "report.json"]
    assert _listed(out) == ["flows.csv", "report.html", "report.json"]
    assert verify(out) == []


def test_a_rerun_refuses_files_tracecheck_did_not_write(tmp_path):
    _write(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("mine too")
    (tmp_path / "report.sarif").symlink_to(tmp_path / "notes.txt")  # our name, but a link: not ours
    before = (tmp_path / "report.json").read_bytes()
    with pytest.raises(UserError) as refused:
        _write(tmp_path, {"junit"})
    assert str(refused.value) == (f"{tmp_path} holds 3 files tracecheck did not write (notes.txt, report.sarif, "
                                  f"sub/a.txt); move them out of the way, or add --force to keep them beside "
                                  f"the new report")
    assert (tmp_path / "report.json").read_bytes() == before and not (tmp_path / "report.junit.xml").exists()


def test_force_keeps_every_file_tracecheck_did_not_write_and_the_manifest_lists_only_its_own(tmp_path):
    out = tmp_path / "x"
    (out / "sub").mkdir(parents=True)
    for name in ("notes.txt", "sub/a.txt", "report.html", "report.sarif"):
        (out / name).write_text(f"the user's {name}")
    written = _write(out, force=True)
    assert [p.name for p in written] == ["report.json", "report.html", "flows.csv", "manifest.json"]
    assert _listed(out) == ["flows.csv", "report.html", "report.json"]
    assert (out / "report.html").read_text() != "the user's report.html"  # the name --force overwrites
    for name in ("notes.txt", "sub/a.txt", "report.sarif"):  # never deleted: not proven tracecheck's
        assert (out / name).read_text() == f"the user's {name}"
    assert verify(out) == ["extra: notes.txt (not listed in manifest.json)",
                           "extra: report.sarif (not listed in manifest.json)",
                           "extra: sub/a.txt (not listed in manifest.json)"]
    # The next run sees a report beside foreign files: still refused without --force, kept with it.
    with pytest.raises(UserError, match="holds 3 files tracecheck did not write"):
        _write(out)
    _write(out, force=True)
    assert (out / "notes.txt").exists()


# --------------------------------------------------------------------------- a write that fails is one line


def test_a_parent_that_is_a_file_is_bad_input(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=f"cannot create the report directory {tmp_path / 'file' / 'r'}: "):
        _write(tmp_path / "file" / "r")


def test_a_directory_where_a_file_should_be_is_bad_input(tmp_path):
    # Fails as root too, unlike a read-only directory.
    _write(tmp_path)
    (tmp_path / "report.json").unlink()
    (tmp_path / "report.json").mkdir()
    (tmp_path / "report.json" / "x").write_text("x")
    with pytest.raises(UserError, match=r"did not write \(report.json/x\)"):  # refused before anything is written
        _write(tmp_path)
    with pytest.raises(UserError) as failed:
        _write(tmp_path, force=True)
    message = str(failed.value)
    assert message.startswith(f"cannot write {tmp_path / 'report.json'}: Is a directory; ")
    assert "choose another --out DIR" in message and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory; the tests above fail a "
                                               "write another way")
def test_a_read_only_directory_is_bad_input(tmp_path):
    out = tmp_path / "r"
    _write(out)
    out.chmod(0o555)
    try:
        with pytest.raises(UserError) as failed:
            _write(out)
    finally:
        out.chmod(0o755)
    assert str(failed.value).startswith(f"cannot write in {out}: Permission denied; ")


def test_a_full_disk_is_bad_input(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(UserError) as failed:
        _write(tmp_path / "r")
    assert str(failed.value) == (f"cannot write {tmp_path / 'r' / 'report.json'}: No space left on device; "
                                 f"free some space or choose another --out DIR")
    assert _listing(tmp_path / "r") == []  # no temporary file left behind
