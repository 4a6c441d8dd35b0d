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
from tracecheck.report.manifest import sha256_file


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
    assert [p.name for p in written] == ["report.json", "report.html", "flows.csv", "report.junit.xml",
                                         "flows.parquet", "report.sarif", "manifest.json"]
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
    with pytest.raises(UserError, match="unknown report format xyz: choose from json, html, csv, junit, md, parquet, pdf, sarif"):
        write_report(report_samples.report(), tmp_path / "out", [], {"xyz"})
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


# --------------------------------------------------------------------------- the policy and catalogs as used


HOSTILE_CATALOGS = [
    ("catalogs/acme.yaml", b"services: []  # acme\n"),
    ("/elsewhere/acme.yaml", b"services: []  # another acme\n"),   # the same name: no collision
    ("../../../etc/passwd", b"services: []  # 3\n"),
    ("..", b"services: []  # 4\n"),
    (".hidden.yaml", b"services: []  # 5\n"),
    ("evil\nname;rm -rf ~ \u202e.yaml", b"services: []  # 6\n"),
    ("C:\\Users\\a\\cat.yaml", b"services: []  # 7\n"),
    ("x" * 300 + ".yaml", b"services: []  # 8\n"),
]


def _judged(out, catalogs=(), policy=report_samples.POLICY_TEXT, **options):
    report = report_samples.report_judged_by(policy, list(catalogs))
    return write_report(report, out, report_samples.flow_rows(), set(), policy=policy, catalogs=list(catalogs),
                        **options)


def test_the_policy_as_used_is_copied_and_its_hash_is_the_reports(tmp_path):
    written = _judged(tmp_path)
    assert [p.name for p in written] == ["report.json", "report.html", "flows.csv", "policy.yaml", "manifest.json"]
    assert (tmp_path / "policy.yaml").read_bytes() == report_samples.POLICY_TEXT  # byte for byte, \r\n kept
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    report = json.loads((tmp_path / "report.json").read_text())
    assert manifest["policy"] == {"path": "policy.yaml", "sha256": report["policy"]["sha256"], "name": "gdpr-eu",
                                  "copy": "policy.yaml"}
    assert report["policy"]["sha256"] == sha256_file(tmp_path / "policy.yaml")
    assert "policy.yaml" in _listed(tmp_path) and manifest["catalogs"] == []


def test_policy_bytes_that_are_not_the_reports_policy_are_refused(tmp_path):
    report = report_samples.report_judged_by(b"name: one\n")
    with pytest.raises(UserError, match=r"^the policy policy.yaml changed while tracecheck ran \(its sha256 is "
                                        r"now [0-9a-f]{64}, the report says [0-9a-f]{64}\); run again$"):
        write_report(report, tmp_path / "r", [], set(), policy=b"name: two\n")
    assert not (tmp_path / "r").exists()


def test_every_catalog_is_copied_under_a_name_that_stays_inside_and_cannot_collide(tmp_path):
    out = tmp_path / "r"
    _judged(out, HOSTILE_CATALOGS)
    manifest = json.loads((out / "manifest.json").read_text())
    copies = [entry["copy"] for entry in manifest["catalogs"]]
    assert copies[:7] == ["catalogs/1-acme.yaml", "catalogs/2-acme.yaml", "catalogs/3-passwd", "catalogs/4-catalog",
                          "catalogs/5-hidden.yaml", "catalogs/6-evil_name_rm_-rf____.yaml", "catalogs/7-cat.yaml"]
    assert copies[7].startswith("catalogs/8-xxx") and len(copies[7]) < 120
    assert [entry["path"] for entry in manifest["catalogs"]] == [given for given, _ in HOSTILE_CATALOGS]
    for entry, (_, data) in zip(manifest["catalogs"], HOSTILE_CATALOGS):
        assert (out / entry["copy"]).read_bytes() == data
        assert entry["sha256"] == sha256_file(out / entry["copy"])
    assert _listing(out / "catalogs") == sorted(copy.removeprefix("catalogs/") for copy in copies)
    assert set(copies) <= set(_listed(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # nothing escaped


def test_a_catalog_that_changed_while_tracecheck_ran_is_refused(tmp_path):
    report = report_samples.report_judged_by(catalogs=[("acme.yaml", b"services: []\n")])
    with pytest.raises(UserError, match=r"^the service catalog acme.yaml changed while tracecheck ran"):
        write_report(report, tmp_path / "r", [], set(), policy=report_samples.POLICY_TEXT,
                     catalogs=[("acme.yaml", b"services: [] # edited\n")])


def test_a_rerun_removes_the_copies_of_catalogs_no_longer_given(tmp_path):
    _judged(tmp_path, HOSTILE_CATALOGS[:3])
    (tmp_path / "catalogs" / ".2-acme.yaml.a1_b2.tmp").write_bytes(b"killed")
    _judged(tmp_path, HOSTILE_CATALOGS[1:2])
    assert _listing(tmp_path / "catalogs") == ["1-acme.yaml"]
    assert (tmp_path / "catalogs" / "1-acme.yaml").read_bytes() == HOSTILE_CATALOGS[1][1]
    _judged(tmp_path)
    assert not (tmp_path / "catalogs").exists()
    assert _listing(tmp_path) == ["flows.csv", "manifest.json", "policy.yaml", "report.html", "report.json"]
    assert verify(tmp_path) == []


def test_a_users_file_among_the_copies_is_kept(tmp_path):
    _judged(tmp_path, HOSTILE_CATALOGS[:1])
    (tmp_path / "catalogs" / "2-mine.yaml").write_text("not written by tracecheck")
    with pytest.raises(UserError, match=r"holds 1 file tracecheck did not write \(catalogs/2-mine.yaml\)"):
        _judged(tmp_path)
    _judged(tmp_path, force=True)
    assert _listing(tmp_path / "catalogs") == ["2-mine.yaml"]


def test_catalogs_that_is_not_a_directory_is_bad_input(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for make in (lambda p: p.write_text("x"), lambda p: p.symlink_to(elsewhere)):
        out = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
        out.mkdir()
        make(out / "catalogs")
        with pytest.raises(UserError) as failed:
            _judged(out, HOSTILE_CATALOGS[:1], force=True)
        assert str(failed.value) == (f"{out / 'catalogs'} is not a directory tracecheck can copy the service "
                                     f"catalogs into; move it out of the way or choose another --out DIR")
    assert list(elsewhere.iterdir()) == []  # nothing written through the link


def test_formats_register_themselves_and_the_help_and_errors_name_them():
    from tracecheck.report import formats

    found = {f.name: f.file_name for f in formats.all_formats()}
    assert {"json": "report.json", "html": "report.html", "csv": "flows.csv", "sarif": "report.sarif",
            "junit": "report.junit.xml", "parquet": "flows.parquet"}.items() <= found.items()
    assert [f.name for f in formats.all_formats()][:3] == ["json", "html", "csv"]  # the contract's, first
    help_text = formats.help_text()
    for fmt in formats.all_formats():
        assert fmt.file_name in help_text and (fmt.always or f"{fmt.name} (" in help_text)
    with pytest.raises(UserError) as refused:
        formats.check({"docx"})
    assert str(refused.value).endswith(", ".join(found))
