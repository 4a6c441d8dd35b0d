"""`tracecheck db import FILE --source KIND` with the wrong thing: a directory, or a file of
another format.  Exit 2, one line that names the file and the format expected and, where the
content is recognisable, the --source it should have been; nothing is stored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli_runner import one_line, run
from geo_samples import city_database, write_sample_files

KINDS = ("aws", "azure", "gcp", "oracle", "cloudflare", "fastly", "genesys", "geofeed", "mmdb")
EXPECTED = {  # what each reader says it wanted
    "aws": "an AWS ip-ranges.json", "azure": "an Azure Service Tags JSON file",
    "gcp": "a Google cloud.json / goog.json file", "oracle": "an Oracle public_ip_ranges.json",
    "cloudflare": "a Cloudflare ips-v4/ips-v6 list", "fastly": "a Fastly public-ip-list JSON",
    "genesys": "a Genesys Cloud /api/v2/ipranges response", "geofeed": "an RFC 8805 geofeed CSV",
    "mmdb": "a usable MaxMind DB (.mmdb) file",
}


@pytest.fixture
def tc(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1788220800")
    db = tmp_path / "db"

    def tracecheck(*args: str) -> tuple[int, str, str]:
        return run(monkeypatch, capsys, "--db", str(db), *args)

    tracecheck.db = db
    return tracecheck


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("samples")
    files = write_sample_files(folder)
    del files["google"]  # goog.json is read by the gcp reader
    files["mmdb"] = city_database(folder / "GeoIP2-City-Test.mmdb")
    return files


def nothing_stored(db: Path) -> bool:
    return not list((db / "sources").glob("*.meta.json")) if (db / "sources").exists() else True


def test_a_directory_is_refused_as_a_directory(tc, tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    code, out, err = tc("db", "import", str(folder), "--source", "aws")
    line = one_line(err)
    assert code == 2 and out == ""
    assert line.startswith(f"tracecheck: {folder} is a directory") and "no such file" not in line
    assert "give the file itself" in line and nothing_stored(tc.db)


def test_a_device_is_not_a_regular_file(tc):
    code, _, err = tc("db", "import", "/dev/null", "--source", "cloudflare")
    assert code == 2 and one_line(err).startswith("tracecheck: /dev/null is not a regular file; give the file itself")


def test_a_missing_file_is_still_no_such_file(tc, tmp_path):
    code, _, err = tc("db", "import", str(tmp_path / "nope.json"), "--source", "aws")
    assert code == 2 and one_line(err) == f"tracecheck: {tmp_path / 'nope.json'}: no such file"


def test_a_plain_prefix_list_is_not_a_geofeed(tc, samples):
    code, out, err = tc("db", "import", str(samples["cloudflare"]), "--source", "geofeed")
    line = one_line(err)
    assert code == 2 and out == "" and nothing_stored(tc.db)
    assert line.startswith(f"tracecheck: {samples['cloudflare']} is not an RFC 8805 geofeed CSV")
    assert "looks like a plain prefix list" in line and "--source cloudflare" in line


def test_a_geofeed_is_not_a_cloudflare_list(tc, samples):
    code, out, err = tc("db", "import", str(samples["geofeed"]), "--source", "cloudflare")
    line = one_line(err)
    assert code == 2 and out == "" and nothing_stored(tc.db)
    assert line.startswith(f"tracecheck: {samples['geofeed']}:2 is not a Cloudflare ips-v4/ips-v6 list")
    assert "--source geofeed" in line


def test_a_geofeed_with_some_rows_without_a_country_is_still_a_geofeed(tc, tmp_path):
    feed = tmp_path / "geofeed-example.csv"
    feed.write_text("192.0.2.0/24,NL,NL-NH,Amsterdam,\n198.51.100.0/24\n")
    assert tc("db", "import", str(feed), "--source", "geofeed")[0] == 0


@pytest.mark.parametrize("actual", [kind for kind in KINDS])
@pytest.mark.parametrize("given", KINDS)
def test_every_mix_up_names_the_format_expected_and_the_right_source(tc, samples, given, actual):
    if given == actual:
        assert tc("db", "import", str(samples[actual]), "--source", given)[0] == 0
        return
    code, out, err = tc("db", "import", str(samples[actual]), "--source", given)
    line = one_line(err)
    assert code == 2 and out == "" and nothing_stored(tc.db)
    assert str(samples[actual]) in line and EXPECTED[given] in line
    assert f"--source {actual}" in line


def shared_cloud() -> Path | None:
    configured = os.environ.get("TRACECHECK_SHARED_DATA")
    data = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"
    return data / "cloud" if (data / "cloud").is_dir() else None


REAL = {"aws-ip-ranges.json": "aws", "gcp-cloud.json": "gcp", "oracle-public_ip_ranges.json": "oracle",
        "cloudflare-ips-v4.txt": "cloudflare", "cloudflare-ips-v6.txt": "cloudflare",
        "digitalocean-geo.csv": "geofeed", "fastly-public-ip-list.json": "fastly"}


@pytest.mark.shared_data
@pytest.mark.parametrize("filename", sorted(REAL))
@pytest.mark.parametrize("given", [kind for kind in KINDS if kind != "mmdb"])
def test_the_real_files_imported_as_another_kind(tc, filename, given):
    cloud = shared_cloud()
    if cloud is None or not (cloud / filename).exists():
        pytest.skip(f"cloud/{filename} not in shared data")
    actual = REAL[filename]
    code, out, err = tc("db", "import", str(cloud / filename), "--source", given)
    if given == actual:
        assert code == 0, err
        return
    line = one_line(err)
    assert code == 2 and str(cloud / filename) in line and EXPECTED[given] in line and f"--source {actual}" in line


def test_a_damaged_file_of_the_right_kind_gets_no_other_kind_suggested(tc, tmp_path):
    for name, content, kind in (("broken.mmdb", b"\x00" * 64 + b"\xab\xcd\xefMaxMind.com", "mmdb"),
                                ("ips-v4", b"104.16.0.0/13\n", "cloudflare"),
                                ("goog.json", b'{"creationTime": "soon", "prefixes": []}', "google")):
        (tmp_path / name).write_bytes(content)
    code, _, err = tc("db", "import", str(tmp_path / "broken.mmdb"), "--source", "mmdb")
    assert code == 2 and "not a usable MaxMind DB" in one_line(err) and "--source" not in err
    code, _, err = tc("db", "import", str(tmp_path / "goog.json"), "--source", "google")
    assert code == 2 and "'soon'" in one_line(err) and "use --source" not in err
