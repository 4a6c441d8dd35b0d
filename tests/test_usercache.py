"""What start-up keeps in the user cache (parsed catalogs, compiled templates) and how the service
catalog finds its patterns: faster, and never a different answer or an old file's content."""

from __future__ import annotations

import datetime as dt
import pickle
import re
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck import usercache
from tracecheck.classify import catalog as services
from tracecheck.classify import classifier
from tracecheck.errors import UserError
from tracecheck.geo import catalog as geo_catalog
from tracecheck.geo.sources import embedded
from tracecheck.resources import geo_db_dir
from tracecheck.yamlfile import read_yaml, read_yaml_cached

from analyze_request import analyze
from dissect_helpers import shared_data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("TRACECHECK_CACHE", str(folder))
    return folder


def _entries(cache):
    return sorted((cache / "parsed").glob("*.pickle")) if (cache / "parsed").is_dir() else []


# --------------------------------------------------------------------------- parsed YAML


def test_parsed_data_is_kept_and_served_for_the_same_bytes(cache):
    raw = b"a: 1\n"
    assert usercache.load_parsed(raw, "yaml") is None
    usercache.store_parsed(raw, "yaml", {"a": 1, "when": dt.date(2026, 1, 2)})
    assert usercache.load_parsed(raw, "yaml") == {"a": 1, "when": dt.date(2026, 1, 2)}
    assert usercache.load_parsed(b"a: 2\n", "yaml") is None
    assert usercache.load_parsed(raw, "geo-catalog") is None  # another parser's entry is another file


def test_a_changed_parser_does_not_read_what_another_parsed(cache, tmp_path):
    parser = tmp_path / "parser.py"
    parser.write_text("# reads YAML 1.1 booleans\n")
    old = usercache.parser_kind("yaml", str(parser), "6.0")
    usercache.store_parsed(b"x: no\n", old, {"x": False})
    parser.write_text("# reads YAML 1.2 booleans\n")
    usercache.parser_kind.cache_clear()  # a new process, with the new code
    new = usercache.parser_kind("yaml", str(parser), "6.0")
    assert new != old and new != usercache.parser_kind("yaml", str(parser), "6.1")
    assert usercache.load_parsed(b"x: no\n", new) is None
    assert usercache.load_parsed(b"x: no\n", old) == {"x": False}


def test_an_edited_yaml_is_parsed_again_not_served_from_the_cache(cache, tmp_path):
    path = tmp_path / "services.yaml"
    path.write_text("version: 1\nservices: []\n")
    assert read_yaml_cached(path).data == {"version": 1, "services": []}
    assert len(_entries(cache)) == 1
    assert read_yaml_cached(path).lines == {}  # served from the cache this time
    path.write_text("version: 2\nservices: []\n")
    assert read_yaml_cached(path).data == {"version": 2, "services": []}
    path.write_text("version: 1\nservices: []\n")
    assert read_yaml_cached(path).data == {"version": 1, "services": []}


def test_an_edited_builtin_service_catalog_is_never_served_stale(cache, tmp_path, monkeypatch):
    path = tmp_path / "services.yaml"
    original = (geo_db_dir() / "services.yaml").read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    monkeypatch.setattr(services, "builtin_catalog_path", lambda: path)
    services._builtin.cache_clear()
    try:
        before = services.load_catalog().match("api.mypurecloud.ie")
        assert before is not None and before[0].vendor == "Genesys"
        assert _entries(cache)
        path.write_text(original.replace("vendor: Genesys", "vendor: Edited Vendor"), encoding="utf-8")
        services._builtin.cache_clear()  # a new process
        after = services.load_catalog().match("api.mypurecloud.ie")
        assert after is not None and after[0].vendor == "Edited Vendor"
    finally:
        services._builtin.cache_clear()


def test_an_edited_region_catalog_is_never_served_stale(cache, tmp_path):
    path = tmp_path / "regions.yaml"
    original = (geo_db_dir() / "regions.yaml").read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    assert geo_catalog.load_regions(path)[("aws", "eu-west-1")].city == "Dublin"
    assert _entries(cache)
    geo_catalog._region_index.cache_clear()  # a new process
    path.write_text(original.replace("city: Dublin", "city: Cork", 1), encoding="utf-8")
    try:
        assert geo_catalog.load_regions(path)[("aws", "eu-west-1")].city == "Cork"
    finally:
        geo_catalog._region_index.cache_clear()


def test_a_problem_in_cached_data_still_names_its_line(cache, tmp_path):
    path = tmp_path / "regions.yaml"
    original = (geo_db_dir() / "regions.yaml").read_text(encoding="utf-8")
    broken = original.replace("country: IE", "country: XX", 1)
    path.write_text(broken, encoding="utf-8")
    messages = []
    for _ in range(2):  # parsed, then from the cache
        geo_catalog._region_index.cache_clear()
        with pytest.raises(UserError) as raised:
            geo_catalog.load_regions(path)
        messages.append(str(raised.value))
    geo_catalog._region_index.cache_clear()
    assert _entries(cache)
    assert messages[0] == messages[1]
    line = broken[:broken.index("country: XX")].count("\n") + 1
    assert f"regions.yaml:{line}: providers.aws.regions[" in messages[1]  # the entry's own line


def test_a_planted_cache_entry_cannot_run_code(cache):
    raw = b"version: 1\n"
    entry = usercache._entry(raw, "yaml")
    entry.parent.mkdir(parents=True)
    entry.write_bytes(pickle.dumps(re.compile("x")))  # needs re._compile: not plain data
    assert usercache.load_parsed(raw, "yaml") is None
    entry.write_bytes(b"not a pickle")
    assert usercache.load_parsed(raw, "yaml") is None


def test_no_cache_folder_means_parsing_every_time(monkeypatch, tmp_path):
    monkeypatch.delenv("TRACECHECK_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HOME", raising=False)
    assert usercache.cache_dir() is None
    usercache.store_parsed(b"a: 1\n", "yaml", {"a": 1})
    assert usercache.load_parsed(b"a: 1\n", "yaml") is None
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\n")
    assert read_yaml_cached(path).data == read_yaml(path).data == {"a": 1}


def test_an_unwritable_cache_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TRACECHECK_CACHE", str(blocker / "below-a-file"))
    usercache.store_parsed(b"a: 1\n", "yaml", {"a": 1})
    assert usercache.load_parsed(b"a: 1\n", "yaml") is None


def test_template_cache_folder_follows_the_environment_options(cache):
    jinja2 = pytest.importorskip("jinja2")
    plain = usercache.template_cache(jinja2.Environment(trim_blocks=True))
    other = usercache.template_cache(jinja2.Environment(trim_blocks=False))
    assert plain.directory != other.directory
    assert plain.directory.startswith(str(cache))


# --------------------------------------------------------------------------- service matching


def _first_match_in_turn(catalog: services.Catalog, host: str):
    """The catalog's match as it was: every pattern tried in order."""
    host = services.normalize_host(host)
    for pattern in catalog.patterns:
        region = pattern.region_for(host)
        if region is not None:
            return pattern, region
    return None


_CATALOG = services.load_catalog()
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)


def _example_host(pattern: services.CatalogPattern, labels: list[str]) -> str:
    text = pattern.text.removeprefix("suffix:")
    if text.startswith("regex:"):
        return ".".join(labels) + ".example.com"
    text = text.replace("{aws_region}", "eu-west-1").replace("{region}", labels[0])
    return text.replace("*", labels[-1])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_CATALOG.patterns), st.lists(_LABEL, min_size=1, max_size=3),
       st.sampled_from(["", "x.", "eu-west-1.", "API."]))
def test_looking_up_by_suffix_finds_what_trying_every_pattern_found(pattern, labels, prefix):
    host = prefix + _example_host(pattern, labels)
    assert _CATALOG.match(host) == _first_match_in_turn(_CATALOG, host)


def test_every_pattern_written_out_matches_as_before():
    for pattern in _CATALOG.patterns:
        host = _example_host(pattern, ["a1", "b"])
        assert _CATALOG.match(host) == _first_match_in_turn(_CATALOG, host), host


# --------------------------------------------------------------------------- same reports


DEMO = Path(__file__).resolve().parents[1] / "captures" / "demo-call.pcapng"
_SHARED_CAPTURES = ("wireshark-wiki/SIP_CALL_RTP_G711.pcap", "wireshark-wiki/v6.pcap", "wireshark-wiki/vlan.cap")
_REPORT_FILES = ("report.json", "report.html", "flows.csv")


def _forget_loaded_catalogs() -> None:
    """What a new process would not have: the catalogs and GeoIP data loaded in this one."""
    services._builtin.cache_clear()
    classifier._default = None
    geo_catalog._region_index.cache_clear()
    geo_catalog._jurisdictions.cache_clear()
    embedded.load.cache_clear()


def _reports(captures, out, db):
    _forget_loaded_catalogs()
    analyze(captures, db_dir=db, out_dir=out, force=True)
    return {name: (out / name).read_bytes() for name in _REPORT_FILES}


def test_reports_are_the_same_bytes_from_an_empty_and_a_filled_cache(tmp_path, monkeypatch):
    """The demo and the shared captures, each analyzed with nothing cached (everything parsed
    and compiled) and then with everything cached: the same report.json, report.html, flows.csv."""
    first = tmp_path / "first-cache"
    monkeypatch.setenv("TRACECHECK_CACHE", str(first))
    try:
        cold = _reports([DEMO], tmp_path / "cold", tmp_path / "db")  # GeoIP arrays, catalogs, templates
        assert (first / "parsed").is_dir() and list(first.glob("jinja2-*/*"))
        assert _reports([DEMO], tmp_path / "warm", tmp_path / "db") == cold
        shared = shared_data()
        if shared is None:
            return
        geoip = next(first.glob("geoip2fast-*"))
        for name in _SHARED_CAPTURES:
            capture = shared / "pcaps" / name
            if not capture.is_file():
                continue
            fresh = tmp_path / f"cache-{capture.stem}"  # the GeoIP arrays (tested elsewhere) kept
            shutil.copytree(geoip, fresh / geoip.name)
            monkeypatch.setenv("TRACECHECK_CACHE", str(fresh))
            cold = _reports([capture], tmp_path / "cold", tmp_path / "db")
            assert _reports([capture], tmp_path / "warm", tmp_path / "db") == cold, name
    finally:
        _forget_loaded_catalogs()


def test_a_small_corpus_reports_the_same_bytes_from_an_empty_and_a_filled_cache(tmp_path, monkeypatch):
    """benchmarks/make_corpus.py's mix (TLS, QUIC, DNS, SIP and RTP; IPv6; VLANs), at 8,000 packets."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import make_corpus
    finally:
        sys.path.pop(0)
    capture = tmp_path / "corpus.pcap"
    make_corpus.generate(8_000, seed=3, path=capture)
    monkeypatch.setenv("TRACECHECK_CACHE", str(tmp_path / "cache"))
    try:
        cold = _reports([capture], tmp_path / "cold", tmp_path / "db")
        assert _reports([capture], tmp_path / "warm", tmp_path / "db") == cold
    finally:
        _forget_loaded_catalogs()
