"""`tracecheck db status | update | import` and `tracecheck lookup`: outputs and exit codes.

No test touches the network: `db update` is pointed at a server on 127.0.0.1, and every other
command runs with outgoing connections forbidden.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from geo_samples import AWS_SAMPLE, AZURE_SAMPLE, city_database, write_sample_files
from cli_runner import run

EPOCH_2026_09_01 = "1788220800"


@pytest.fixture
def offline(monkeypatch):
    """Any connection to somewhere other than this machine fails the test."""
    real_connect = socket.socket.connect

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            pytest.fail(f"tracecheck tried to connect to {address}")
        return real_connect(sock, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "::1", "localhost"):
            pytest.fail(f"tracecheck asked DNS for {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH_2026_09_01)
    return tmp_path / "db"


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    return write_sample_files(tmp_path / "samples")


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- db import / status


def test_import_then_status_shows_each_files_own_date(monkeypatch, capsys, db, files, tmp_path, offline):
    for kind in ("aws", "azure", "cloudflare", "geofeed"):
        code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "import", str(files[kind]), "--source", kind)
        assert code == 0 and "imported" in err, err
    city_database(tmp_path / "GeoIP2-City-Test.mmdb", build_epoch=1_770_245_369)
    assert run(monkeypatch, capsys, "--db", str(db), "db", "import", str(tmp_path / "GeoIP2-City-Test.mmdb"), "--source", "mmdb")[0] == 0

    code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "status", "--json")
    assert code == 0
    report = json.loads(out)
    rows = {row["name"]: row for row in report["sources"]}
    aws = rows["aws-ip-ranges"]
    assert aws["date"] == "2026-08-22T21:17:05Z" and aws["version"] == AWS_SAMPLE["syncToken"]
    assert aws["sha256"] == hashlib.sha256(files["aws"].read_bytes()).hexdigest()
    assert (aws["age_days"], aws["stale"], aws["prefixes"], aws["kind"]) == (10, False, 8, "aws")
    assert rows["azure-service-tags"]["date"] == "2025-11-03"  # from ServiceTags_Public_20251103.json
    assert rows["azure-service-tags"]["date_basis"] == "filename"
    assert rows["cloudflare-ips-v4"]["date"] == "2026-01-01" and rows["cloudflare-ips-v4"]["stale"]
    assert rows["geoip2-city"]["date"] == "2026-02-04T22:49:29Z" and rows["geoip2-city"]["version"] == "1770245369"
    assert rows["geoip2fast"]["kind"] == "embedded" and rows["geoip2fast"]["stale"]
    assert report["missing"] == ["gcp", "oracle", "fastly"] and report["today"] == "2026-09-01"

    code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "status")
    assert code == 0 and "aws-ip-ranges" in out and "missing: gcp, oracle, fastly" in out


def test_import_keeps_the_file_byte_for_byte_with_provenance(monkeypatch, capsys, db, files, offline):
    assert run(monkeypatch, capsys, "--db", str(db), "db", "import", str(files["aws"]), "--source", "aws")[0] == 0
    stored = db / "sources" / "aws-ip-ranges.json"
    assert stored.read_bytes() == files["aws"].read_bytes()
    meta = json.loads((db / "sources" / "aws-ip-ranges.meta.json").read_text())
    assert meta["origin"] == "import" and meta["from"] == str(files["aws"].resolve()) and meta["kind"] == "aws"
    assert not [p for p in (db / "sources").iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize("content, kind, expected", [
    (b"\xab\xcd\xefMaxMind.com", "mmdb", "not a usable MaxMind DB"),
    (json.dumps(AZURE_SAMPLE).encode(), "aws", "is not an AWS ip-ranges.json"),
    (b"1.2.3.0/24\n", "maxmind", "unknown source kind 'maxmind'"),
    (json.dumps({**AWS_SAMPLE, "prefixes": [{**AWS_SAMPLE["prefixes"][0], "ip_prefix": "3.248.0.0/40"}]}).encode(),
     "aws", "prefix length"),
])
def test_bad_imports_exit_2_with_one_line_and_store_nothing(monkeypatch, capsys, db, tmp_path, content, kind, expected, offline):
    bad = tmp_path / "input.bin"
    bad.write_bytes(content)
    code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "import", str(bad), "--source", kind)
    assert code == 2 and out == "" and expected in one_line(err)
    assert not (db / "sources").exists() or not list((db / "sources").glob("*.meta.json"))


def test_corrupt_search_tree_mmdb_exits_2(monkeypatch, capsys, db, tmp_path, offline):
    broken = city_database(tmp_path / "broken.mmdb", unreachable_nodes=5)
    code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "import", str(broken), "--source", "mmdb")
    assert code == 2 and "search tree is corrupt" in one_line(err)


def test_status_of_an_empty_data_directory_lists_the_embedded_default(monkeypatch, capsys, db, offline):
    code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "status", "--json")
    report = json.loads(out)
    assert code == 0 and [row["name"] for row in report["sources"]] == ["geoip2fast"]
    assert report["missing"] == ["aws", "azure", "gcp", "oracle", "cloudflare", "fastly"]


# --------------------------------------------------------------------------- db update, from 127.0.0.1


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, dict[str, str], float]] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        status, body, headers, delay = self.routes.get(self.path, (404, b"not found", {}, 0.0))
        time.sleep(delay)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.routes = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.routes
    httpd.shutdown()
    httpd.server_close()


def test_update_fetches_validates_and_dates_each_source(monkeypatch, capsys, db, files, server, offline):
    base, routes = server
    routes["/ip-ranges.json"] = (200, files["aws"].read_bytes(), {}, 0)
    routes["/ips-v4"] = (200, b"104.16.0.0/13\n", {"Last-Modified": "Fri, 02 Jan 2026 08:42:09 GMT"}, 0)
    routes["/details.aspx"] = (200, (f'<a href="{base}/b/ServiceTags_Public_20251103.json">new</a>'
                                     f'<a href="{base}/c/ServiceTags_Public_20251027.json">old</a>').encode(), {}, 0)
    routes["/b/ServiceTags_Public_20251103.json"] = (200, json.dumps(AZURE_SAMPLE).encode(), {}, 0)
    code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "update",
                         "--url", f"aws-ip-ranges={base}/ip-ranges.json", "--url", f"cloudflare-ips-v4={base}/ips-v4",
                         "--url", f"azure={base}/details.aspx")
    assert code == 0, err
    report = json.loads(run(monkeypatch, capsys, "--db", str(db), "db", "status", "--json")[1])
    rows = {row["name"]: row for row in report["sources"]}
    assert rows["aws-ip-ranges"]["date"] == "2026-08-22T21:17:05Z" and rows["aws-ip-ranges"]["origin"] == "update"
    assert rows["aws-ip-ranges"]["source"] == f"{base}/ip-ranges.json"
    assert rows["cloudflare-ips-v4"]["date"] == "2026-01-02" and rows["cloudflare-ips-v4"]["date_basis"] == "http-last-modified"
    assert rows["azure-service-tags"]["date"] == "2025-11-03" and rows["azure-service-tags"]["source"].endswith("_20251103.json")
    assert (db / "sources" / "aws-ip-ranges.json").read_bytes() == files["aws"].read_bytes()


def test_update_keeps_the_old_file_when_a_download_fails(monkeypatch, capsys, db, files, server, offline):
    base, routes = server
    assert run(monkeypatch, capsys, "--db", str(db), "db", "import", str(files["aws"]), "--source", "aws")[0] == 0
    before = (db / "sources" / "aws-ip-ranges.json").read_bytes()
    routes["/broken.json"] = (200, b"{\"prefixes\": [", {}, 0)  # truncated
    routes["/fastly"] = (200, files["fastly"].read_bytes(), {}, 0)
    code, out, err = run(monkeypatch, capsys, "--quiet", "--db", str(db), "db", "update", "--url", f"aws={base}/broken.json",
                         "--url", f"fastly-public-ip-list={base}/fastly", "--url", f"gcp-cloud={base}/missing")
    line = one_line(err)
    assert code == 2 and "2 of 3 sources not updated (1 updated)" in line
    assert "aws-ip-ranges" in line and "invalid JSON" in line and "gcp-cloud" in line and "HTTP 404" in line
    assert (db / "sources" / "aws-ip-ranges.json").read_bytes() == before
    assert (db / "sources" / "fastly-public-ip-list.json").exists()
    assert not [p for p in (db / "sources").iterdir() if p.name.startswith(".")]


def test_update_times_out(monkeypatch, capsys, db, files, server, offline):
    base, routes = server
    routes["/slow"] = (200, files["aws"].read_bytes(), {}, 1.5)
    code, out, err = run(monkeypatch, capsys, "--quiet", "--db", str(db), "db", "update", "--timeout", "0.3",
                         "--url", f"aws={base}/slow")
    assert code == 2 and "timed out" in one_line(err)


def test_update_rejects_unknown_names(monkeypatch, capsys, db, offline):
    code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "update", "--url", "maxmind=http://127.0.0.1:9/x")
    assert code == 2 and "expected NAME=URL" in one_line(err)


# --------------------------------------------------------------------------- lookup


LOOKUP_KEYS = {"target", "ip", "provider", "service", "region", "country", "jurisdictions", "anycast", "evidence"}


@pytest.fixture
def imported(monkeypatch, capsys, db, files):
    for kind in ("aws", "cloudflare", "azure"):
        assert run(monkeypatch, capsys, "--db", str(db), "db", "import", str(files[kind]), "--source", kind)[0] == 0
    return db


def test_lookup_json_per_contract(monkeypatch, capsys, imported, offline):
    code, out, err = run(monkeypatch, capsys, "--db", str(imported), "lookup", "--json",
                         "3.250.1.1", "104.16.0.1", "10.0.0.1", "2a05:d018::1", "api.mypurecloud.ie")
    assert code == 0
    rows = json.loads(out)
    assert [row["target"] for row in rows] == ["3.250.1.1", "104.16.0.1", "10.0.0.1", "2a05:d018::1", "api.mypurecloud.ie"]
    assert all(LOOKUP_KEYS <= set(row) for row in rows)
    frankfurt, cloudflare, local, dublin, name_only = rows
    assert (frankfurt["provider"], frankfurt["region"], frankfurt["country"]) == ("aws", "eu-central-1", "DE")
    assert "EU" in frankfurt["jurisdictions"]
    assert frankfurt["evidence"][0] == {"source": "aws-ip-ranges", "claim": "region eu-central-1 (S3)",
                                        "detail": frankfurt["evidence"][0]["detail"]}
    assert "prefix 3.250.0.0/22" in frankfurt["evidence"][0]["detail"]
    assert cloudflare["anycast"] is True and cloudflare["country"] is None and cloudflare["jurisdictions"] == []
    assert local["local"] is True and local["country"] is None
    assert dublin["region"] == "eu-west-1"
    assert name_only["ip"] is None and name_only["region"] == "eu-west-1" and name_only["country"] == "IE"
    assert [e["source"] for e in name_only["evidence"]][0] == "hostname"


def test_lookup_table(monkeypatch, capsys, imported, offline):
    code, out, err = run(monkeypatch, capsys, "--db", str(imported), "lookup", "3.248.0.1", "104.16.0.1")
    assert code == 0 and "eu-west-1" in out and "anycast" in out and "aws-ip-ranges" in out


def test_lookup_resolves_names_only_when_asked(monkeypatch, capsys, imported):
    import tracecheck.cli.lookup as lookup_cli

    monkeypatch.setattr(lookup_cli, "_resolve_name", lambda name: (["3.248.0.7", "2a05:d018::7"], ""))
    code, out, err = run(monkeypatch, capsys, "--db", str(imported), "lookup", "--json", "--resolve", "api.mypurecloud.ie")
    rows = json.loads(out)
    assert code == 0 and [row["ip"] for row in rows] == ["3.248.0.7", "2a05:d018::7"]
    assert all(row["target"] == "api.mypurecloud.ie" and row["country"] == "IE" for row in rows)
    assert all({"source": "hostname", "claim": "region eu-west-1"} in [{k: e[k] for k in ("source", "claim")}
                                                                      for e in row["evidence"]] for row in rows)


def test_lookup_with_a_damaged_store_exits_2(monkeypatch, capsys, imported, offline):
    (imported / "sources" / "aws-ip-ranges.json").unlink()
    code, out, err = run(monkeypatch, capsys, "--db", str(imported), "lookup", "3.248.0.1")
    assert code == 2 and "aws-ip-ranges.json is missing" in one_line(err)


# --------------------------------------------------------------------------- against the real files


def shared_data() -> Path | None:
    configured = os.environ.get("TRACECHECK_SHARED_DATA")
    data = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"
    return data if data.is_dir() else None


def real_file(*parts: str) -> Path:
    data = shared_data()
    if data is None or not data.joinpath(*parts).exists():
        pytest.skip(f"{'/'.join(parts)} not in shared data")
    return data.joinpath(*parts)


@pytest.mark.shared_data
def test_status_shows_the_real_files_own_dates(monkeypatch, capsys, db, offline):
    expected = {"aws-ip-ranges.json": ("aws", "2026-08-22T21:17:05Z"), "gcp-cloud.json": ("gcp", "2025-07-24T19:16:28Z"),
                "oracle-public_ip_ranges.json": ("oracle", "2025-07-21T07:13:25Z")}
    for filename, (kind, _) in expected.items():
        assert run(monkeypatch, capsys, "--db", str(db), "db", "import", str(real_file("cloud", filename)), "--source", kind)[0] == 0
    report = json.loads(run(monkeypatch, capsys, "--db", str(db), "db", "status", "--json")[1])
    dates = {row["kind"]: row["date"] for row in report["sources"]}
    assert {kind: dates[kind] for kind, _ in expected.values()} == {kind: date for kind, date in expected.values()}
    prefixes = {row["kind"]: row["prefixes"] for row in report["sources"]}
    assert prefixes["aws"] == 10666 + 6160 and prefixes["gcp"] == 782 and prefixes["oracle"] == 896


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["GeoIP2-City-Test-Invalid-Node-Count.mmdb", "bad-data/libmaxminddb-corrupt-search-tree.mmdb",
                                  "bad-data/libmaxminddb-metadata-marker-only.mmdb"])
def test_real_broken_mmdbs_exit_2_with_one_line(monkeypatch, capsys, db, name, offline):
    path = real_file("geoip", *name.split("/"))
    code, out, err = run(monkeypatch, capsys, "--db", str(db), "db", "import", str(path), "--source", "mmdb")
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith("tracecheck: ") and str(path) in line and "not a usable MaxMind DB" in line


@pytest.mark.shared_data
def test_real_maxmind_test_databases_through_lookup(monkeypatch, capsys, db, offline):
    for name in ("GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"):
        assert run(monkeypatch, capsys, "--db", str(db), "db", "import", str(real_file("geoip", name)), "--source", "mmdb")[0] == 0
    rows = json.loads(run(monkeypatch, capsys, "--db", str(db), "lookup", "--json", "81.2.69.160", "2001:218::1", "1.128.0.1")[1])
    assert rows[0]["country"] == "GB" and rows[1]["country"] == "JP"
    assert any(e["claim"].startswith("AS1221 ") for e in rows[2]["evidence"])
