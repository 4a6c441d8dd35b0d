"""Sources dated only by their file's modification time (Cloudflare lists, geofeeds, Fastly ...)
say so wherever `db` shows their date, and no source is ever a negative number of days old."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from cli_runner import run
from geo_samples import write_sample_files
from tracecheck.geo import store
from tracecheck.vocabulary import date_label
from tracecheck.vocabulary import SourceInfo

SEPT_1 = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)
THREE_DAYS_LATER = (SEPT_1 + dt.timedelta(days=3, hours=12)).timestamp()


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(SEPT_1.timestamp())))
    return lambda *args: run(monkeypatch, capsys, "--db", str(tmp_path / "db"), *args)


@pytest.fixture
def files(tmp_path):
    return write_sample_files(tmp_path / "samples")  # every file's mtime 2026-01-01


def status_rows(tc) -> dict[str, dict]:
    code, out, _ = tc("db", "status", "--json")
    assert code == 0
    return {row["name"]: row for row in json.loads(out)["sources"]}


def test_a_file_time_in_the_future_is_an_unknown_age_not_a_negative_one(tc, files):
    os.utime(files["cloudflare"], (THREE_DAYS_LATER, THREE_DAYS_LATER))
    code, _, err = tc("db", "import", str(files["cloudflare"]), "--source", "cloudflare")
    assert code == 0 and "date unknown (file time 2026-09-04)" in err
    row = status_rows(tc)["cloudflare-ips-v4"]
    assert row["age_days"] is None and row["stale"]  # its age cannot be known: never trusted fresh
    assert row["date"] == "2026-09-04" and row["date_basis"] == "mtime"  # the machine field stays ISO
    assert row["date_label"] == "date unknown (file time 2026-09-04)"
    code, out, _ = tc("db", "status")
    line = next(line for line in out.splitlines() if "cloudflare-ips-v4" in line)
    assert "date unknown (file time" in line and "-3" not in line and "?" in line


def test_file_time_dated_sources_say_so_and_keep_their_age(tc, files):
    for kind in ("cloudflare", "geofeed", "fastly", "genesys", "aws"):
        assert tc("db", "import", str(files[kind]), "--source", kind)[0] == 0
    rows = status_rows(tc)
    for name in ("cloudflare-ips-v4", "geofeed-digitalocean", "fastly-public-ip-list", "genesys-ipranges"):
        assert rows[name]["date_label"] == "date unknown (file time 2026-01-01)", name
        assert rows[name]["age_days"] == 243 and rows[name]["stale"]
    assert rows["aws-ip-ranges"]["date_label"] == "2026-08-22T21:17:05Z"  # its own createDate
    code, out, _ = tc("db", "status")
    assert out.count("date unknown (file time 2026-01-01)") == 4


def test_a_date_of_its_own_after_the_day_judged_is_no_negative_age_either():
    info = SourceInfo(name="aws-ip-ranges", kind="aws", version="1", date="2026-08-22T21:17:05Z", sha256="", prefixes=1)
    aged = store.with_age(info, dt.date(2026, 8, 20))
    assert (aged.age_days, aged.stale) == (None, False)  # newer than the day judged: not old
    assert store.with_age(info, dt.date(2026, 8, 22)).age_days == 0
    file_timed = store.with_age(info, dt.date(2026, 8, 20), date_basis="mtime")
    assert (file_timed.age_days, file_timed.stale) == (None, True)


@pytest.mark.parametrize("date, basis, label", [
    ("2026-01-01", "mtime", "date unknown (file time 2026-01-01)"),
    ("2026-01-01", "http-last-modified", "date unknown (file time 2026-01-01)"),
    ("2026-01-01", "download-time", "date unknown (file time 2026-01-01)"),
    ("2025-11-03", "filename", "2025-11-03"),
    ("2026-08-22T21:17:05Z", "content", "2026-08-22T21:17:05Z"),
    ("", "mtime", "date unknown"),
    ("", "content", "undated"),
])
def test_date_labels(date, basis, label):
    assert date_label(date, basis) == label
