"""Destinations built without validation (``model.trusted``, ``Destination.of_checked``), as
``analyze`` builds them for a capture of many destinations: they must be exactly what validation
would have made -- same values, same types, same normalisation -- and stay frozen.  Shared
evidence items and lists save memory, never change the report."""

from __future__ import annotations

import platform
import sys

import pytest
from analyze_request import analyze
from capture_builders import many_destinations_pcap

from tracecheck.flows.table import FlowTable
from tracecheck.report import model
from tracecheck.report.formats.json_report import load_report
from tracecheck.vocabulary import Verdict


def _fields(**changes):
    fields = dict(ip="203.0.113.9", names=[model.Name(name="a.example", source="sni")], provider="aws",
                  service="EC2", region="eu-west-1", country="IE", jurisdictions=("EU", "EEA", "EU"),
                  vendor="", category="", flows=2, orig_bytes=100, resp_bytes=50, first_ts=1.5, last_ts=2.5,
                  verdict=Verdict.COMPLIANT, reasons=["in EU"], evidence=[model.EvidenceItem(source="aws", claim="x")],
                  fails=False, basis="provider", exception="", flags=("sources_disagree",), rule="",
                  latitude=53.3, longitude=-6.2, anycast=False, via=("10.0.0.2", "9.9.9.9", "10.0.0.2"))
    fields.update(changes)
    return fields


def _validated(fields):
    return model.Destination(**{k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})


def test_of_checked_equals_the_validated_destination():
    checked = model.Destination.of_checked(**_fields())
    validated = _validated(_fields())
    assert checked == validated
    assert checked.jurisdictions == ["EEA", "EU"] and checked.via == ["9.9.9.9", "10.0.0.2"]
    assert checked.model_dump_json() == validated.model_dump_json()
    assert checked.model_fields_set == validated.model_fields_set
    for name in model.Destination.model_fields:
        assert type(getattr(checked, name)) is type(getattr(validated, name)), name


def test_trusted_refuses_missing_or_unknown_fields():
    fields = _fields()
    del fields["rule"]
    with pytest.raises(TypeError, match="Destination"):
        model.Destination.of_checked(**fields)
    with pytest.raises(TypeError, match="EvidenceItem"):
        model.trusted(model.EvidenceItem, {"source": "a", "claim": "b", "detail": "", "kind": "", "extra": 1})


def test_trusted_destinations_stay_frozen_and_share_their_short_lists():
    one = model.Destination.of_checked(**_fields())
    two = model.Destination.of_checked(**_fields(ip="203.0.113.10"))  # the same place's words
    with pytest.raises(Exception):
        one.country = "US"
    assert one.jurisdictions is two.jurisdictions and one.flags is two.flags
    assert model.Destination.of_checked(**_fields(via=())).via == []


@pytest.mark.skipif(platform.python_implementation() != "CPython", reason="key-sharing dicts are CPython's")
def test_trusted_destinations_keep_a_key_sharing_dict():
    """In a process of its own: CPython stops sharing a class's keys for good once one instance
    fills its dict otherwise (a destination validated or copied by another test, earlier in the
    same worker), and analyze's process makes them all trusted."""
    import subprocess
    from pathlib import Path

    probe = ("import sys\nsys.path.insert(0, sys.argv[1])\n"
             "from test_trusted_destinations import _fields, _validated\nfrom tracecheck.report import model\n"
             "checked = model.Destination.of_checked(**_fields())\n"
             "print(sys.getsizeof(checked.__dict__), sys.getsizeof(_validated(_fields()).__dict__))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(Path(__file__).parent)], capture_output=True, text=True,
                          timeout=60, check=True)
    trusted, validated = map(int, done.stdout.split())
    assert trusted < validated / 2


def test_forgotten_rows_are_made_again_the_same():
    table = FlowTable({"uid": ["C1"], "ts": [1.0], "duration": [0.0], "proto": ["udp"], "id.orig_h": ["10.0.0.1"],
                       "id.orig_p": [5000], "id.resp_h": ["192.0.2.1"], "id.resp_p": [53], "orig_pkts": [1],
                       "orig_ip_bytes": [60], "resp_pkts": [0], "resp_ip_bytes": [0], "server_name": [""],
                       "name_source": [""], "app": [""], "vlan": [None], "tunnel": [""], "handshake_rtt_ms": [None],
                       "capture_file": ["a.pcap"]}, [0])
    first = table.rows()
    table.forget_rows()
    assert table.rows() is not first and table.rows() == first


def test_analyze_builds_what_validation_and_report_json_agree_with(tmp_path):
    capture = tmp_path / "many.pcap"
    many_destinations_pcap(capture, 300)
    result = analyze([str(capture)], out_dir=tmp_path / "out", db_dir=tmp_path / "db")
    destinations = result.report.destinations
    assert len(destinations) == 300
    for destination in destinations:
        again = model.Destination.model_validate(destination.model_dump())
        assert again == destination
        for name in model.Destination.model_fields:
            assert type(getattr(again, name)) is type(getattr(destination, name)), name
    read_back = load_report(result.out_dir / "report.json")
    assert model.canonical_dict(read_back) == model.canonical_dict(result.report)
    # One evidence item per distinct piece of evidence, whichever destinations cite it.
    items = [item for destination in destinations for item in destination.evidence]
    by_value = {}
    for item in items:
        assert by_value.setdefault((item.source, item.claim, item.detail, item.kind), item) is item
