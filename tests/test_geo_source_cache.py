"""Imported range files compiled once and read back from the user's cache (``geo/source_cache.py``):
the same places and evidence as compiled afresh, never an entry of other bytes, another
provenance record or other code, and nothing but plain data read from the folder."""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_samples import AWS_SAMPLE, AZURE_SAMPLE, write_json
from tracecheck.geo import source_cache, store
from tracecheck.geo.lookup import Resolver
from tracecheck.geo.sources.interface import PrefixRecord

ADDRESSES = ["3.248.1.1", "3.250.0.9", "13.32.0.1", "15.181.232.5", "2a05:d018::1", "2a05:d018:400::1",
             "2600:9000::1", "20.50.0.1", "20.50.8.1", "20.50.64.1", "2603:1020:200::1", "192.0.2.1", "8.8.8.8"]


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TRACECHECK_CACHE", str(tmp_path / "cache"))
    db = tmp_path / "db"
    store.import_file(db, write_json(tmp_path / "ip-ranges.json", AWS_SAMPLE), "aws")
    store.import_file(db, write_json(tmp_path / "ServiceTags_Public.json", AZURE_SAMPLE), "azure")
    return db


def entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "ranges").glob("*.pickle"))


def placed(resolver: Resolver) -> list:
    return [resolver.resolve(ADDRESSES)[ip] for ip in ADDRESSES] + [resolver.sources()]


def test_an_import_compiles_the_file_and_analyze_reads_it_back(db, tmp_path, monkeypatch):
    assert len(entries(tmp_path)) == 2  # db import compiled both
    cached = Resolver.from_settings(db)
    assert all(isinstance(s.parsed.prefixes, source_cache._Records) for s in cached.range_sources)
    monkeypatch.setenv("TRACECHECK_CACHE", str(tmp_path / "another-cache"))
    fresh = Resolver.from_settings(db)
    assert all(isinstance(s.parsed.prefixes, list) for s in fresh.range_sources)
    assert placed(cached) == placed(fresh)
    assert any(e.source == "aws-ip-ranges" for p in placed(cached)[:-1] for e in p.evidence)


def test_an_edited_file_is_compiled_afresh_never_served_from_its_old_entry(db, tmp_path):
    Resolver.from_settings(db)
    stored = next(m["path"] for m in store.stored(db) if m["kind"] == "aws")
    edited = copy.deepcopy(AWS_SAMPLE)
    edited["prefixes"][2]["region"] = "us-west-2"  # 3.250.0.0/22: eu-central-1 no more
    edited["prefixes"][2]["network_border_group"] = "us-west-2"
    write_json(stored, edited)
    place = Resolver.from_settings(db).resolve(["3.250.0.9"])["3.250.0.9"]
    assert place.region == "us-west-2" and place.country == "US"
    assert len(entries(tmp_path)) == 3


def test_another_provenance_record_or_other_code_is_another_entry(db, tmp_path, monkeypatch):
    Resolver.from_settings(db)
    meta = next(m for m in store.stored(db) if m["kind"] == "aws")
    meta_path = meta["path"].with_name(meta["name"] + store.META_SUFFIX)
    meta_path.write_text(meta_path.read_text().replace('"name": "aws-ip-ranges"', '"name": "aws-renamed"'))
    assert any(s.info.name == "aws-renamed" for s in Resolver.from_settings(db).range_sources)
    assert len(entries(tmp_path)) == 3
    monkeypatch.setattr(source_cache, "_code_fingerprint", lambda: "another tracecheck")
    Resolver.from_settings(db)
    assert len(entries(tmp_path)) == 5


def test_a_damaged_or_planted_entry_is_ignored_and_runs_nothing(db, tmp_path):
    expected = placed(Resolver.from_settings(db))
    damaged, planted = entries(tmp_path)
    damaged.write_bytes(damaged.read_bytes()[:100])
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    planted.write_bytes(pickle.dumps({"info": Planted()}))
    assert placed(Resolver.from_settings(db)) == expected
    assert not marker.exists()
    assert placed(Resolver.from_settings(db)) == expected  # rewritten whole


def test_without_a_usable_cache_folder_the_file_is_compiled_as_before(db, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TRACECHECK_CACHE", str(blocker))
    assert placed(Resolver.from_settings(db))[0].region == "eu-west-1"


def test_an_entry_no_run_read_for_a_month_goes_when_a_new_one_is_written(db, tmp_path):
    Resolver.from_settings(db)
    before = set(entries(tmp_path))
    long_ago = os.stat(next(iter(before))).st_mtime - (source_cache.PRUNE_AFTER_DAYS + 1) * 86400
    for entry in before:
        os.utime(entry, (long_ago, long_ago))
    azure = next(m["path"] for m in store.stored(db) if m["kind"] == "azure")
    write_json(azure, {**AZURE_SAMPLE, "changeNumber": 377})
    Resolver.from_settings(db)  # AWS's entry is read (in use again), Azure's new one written
    after = set(entries(tmp_path))
    assert len(after - before) == 1 and len(before - after) == 1 and len(after) == 2


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(PrefixRecord, network=texts, provider=texts, service=texts, region=texts,
                          country=st.none() | texts, anycast=st.booleans(), subdivision=texts, city=texts,
                          border_group=texts), max_size=30))
def test_records_kept_as_columns_read_back_as_they_were(records):
    plain = pickle.loads(pickle.dumps(source_cache._columns(records)))
    kept = source_cache._Records(plain)
    assert len(kept) == len(records)
    assert [kept[i] for i in range(len(records))] == records
    assert kept[1:3] == records[1:3]
    assert all(type(record) is PrefixRecord for record in kept)
