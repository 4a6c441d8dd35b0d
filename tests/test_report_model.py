"""report.json's model: the contract's field names, self-consistency, canonical order and values."""

from __future__ import annotations

import math

import pytest
import report_samples
from pydantic import ValidationError

from tracecheck.report.model import (
    Accounting,
    Destination,
    Report,
    Summary,
    canonical_dict,
)

# CONTRACT.md, "report.json": field names and their order.
CONTRACT_TOP = ["schema_version", "tool", "inputs", "accounting", "sources", "policy", "summary",
                "destinations", "calls"]
CONTRACT_FIELDS = {
    "tool": ["name", "version"],
    "inputs": ["path", "sha256", "format", "linktypes", "packets", "first_ts", "last_ts"],
    "accounting": ["records", "decoded", "skipped"],
    "sources": ["name", "kind", "version", "date", "sha256", "age_days", "stale"],
    "policy": ["path", "sha256", "name", "authorized"],
    "summary": ["verdict", "destinations", "compliant", "violations", "indeterminate", "not_assessed"],
    "destinations": ["ip", "names", "provider", "service", "region", "country", "jurisdictions", "vendor",
                     "category", "flows", "orig_bytes", "resp_bytes", "first_ts", "last_ts", "verdict",
                     "reasons", "evidence"],
    "calls": ["call_id", "first_ts", "last_ts", "signalling", "media"],
}
EXTENSIONS = {"top": {"observability", "warnings", "generated", "site"}, "accounting": {"notes"}, "sources": {"date_basis"},
              "destinations": {"fails", "basis", "exception", "flags", "rule", "latitude", "longitude", "anycast"},
              "policy": {"exceptions", "rules", "indeterminate"}, "calls": {"signalling_to", "media_to"},
              "summary": {"judged", "violations_geoip_only", "caveats"}}


def test_field_names_and_order_are_the_contracts():
    data = canonical_dict(report_samples.report())
    assert [k for k in data if k not in EXTENSIONS["top"]] == CONTRACT_TOP
    assert data["schema_version"] == "1"
    for section, fields in CONTRACT_FIELDS.items():
        value = data[section]
        for item in value if isinstance(value, list) else [value]:
            assert [k for k in item if k not in EXTENSIONS.get(section, set())] == fields, section
    destination = data["destinations"][0]
    assert list(destination["names"][0]) == ["name", "source"]
    assert list(destination["evidence"][0])[:3] == ["source", "claim", "detail"]


def test_extensions_come_after_the_contract_and_unset_ones_are_left_out():
    data = canonical_dict(report_samples.report())
    assert list(data)[len(CONTRACT_TOP):] == ["observability", "warnings"]  # no "generated": null
    by_ip = {d["ip"]: d for d in data["destinations"]}
    assert by_ip["3.224.10.20"]["fails"] is True and "fails" not in by_ip["52.18.1.2"]
    assert list(data["accounting"]) == ["records", "decoded", "skipped", "notes"]


def test_destinations_most_severe_first_then_by_address():
    extra = [Destination(ip=ip, verdict="violation") for ip in ("10.0.0.9", "9.9.9.9", "::1", "10.0.0.10")]
    dests = report_samples.destinations() + extra
    report = report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=False))
    order = [(d["verdict"], d["ip"]) for d in canonical_dict(report)["destinations"]]
    assert order == [("violation", "3.224.10.20"), ("violation", "9.9.9.9"), ("violation", "10.0.0.9"),
                     ("violation", "10.0.0.10"), ("violation", "::1"),
                     ("indeterminate", "2606:4700::6810:84e5"), ("compliant", "52.18.1.2")]


def test_free_form_mappings_and_unordered_lists_are_sorted():
    data = canonical_dict(report_samples.report())
    assert list(data["accounting"]["skipped"]) == ["non_ip:arp", "truncated_record"]
    assert data["calls"][0]["signalling"] == ["CSip1", "CSip2"]
    assert [s["name"] for s in data["sources"]] == ["aws-ip-ranges", "geoip2fast"]  # by kind, name
    assert data["inputs"][0]["path"] == "hand-made/test-call.pcapng"
    genesys = next(d for d in data["destinations"] if d["ip"] == "52.18.1.2")
    assert genesys["jurisdictions"] == ["EEA", "EU"]
    assert [n["source"] for n in genesys["names"]] == ["sni", "dns"]  # strongest first: kept


def test_floats_are_rounded_to_microseconds_and_never_nan():
    odd = Destination(ip="192.0.2.1", verdict="indeterminate", first_ts=math.nan, last_ts=-0.0000001)
    dests = [odd]
    data = canonical_dict(report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=True)))
    assert data["destinations"][0]["first_ts"] is None
    assert str(data["destinations"][0]["last_ts"]) == "0.0"
    transcribe = next(d for d in canonical_dict(report_samples.report())["destinations"] if d["ip"] == "3.224.10.20")
    assert transcribe["first_ts"] == 1764230400.123457


def test_undecodable_capture_text_becomes_replacement_characters():
    dests = [Destination(ip="192.0.2.1", verdict="compliant", reasons=["bad \udcff byte"])]
    data = canonical_dict(report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=False)))
    assert data["destinations"][0]["reasons"] == ["bad \ufffd byte"]


def test_accounting_must_add_up():
    Accounting(records=10, decoded=7, skipped={"a": 2, "b": 1})
    with pytest.raises(ValidationError, match="does not add up"):
        Accounting(records=10, decoded=7, skipped={"a": 2})


def test_summary_of_follows_the_contract():
    dests = report_samples.destinations()
    assert report_samples.summary_of(dests, unknowns_fail=False).verdict == "violation"
    no_violation = [d for d in dests if d.verdict != "violation"]
    assert report_samples.summary_of(no_violation, unknowns_fail=True).verdict == "indeterminate"
    assert report_samples.summary_of(no_violation, unknowns_fail=False).verdict == "compliant"
    summary = report_samples.summary_of(dests, unknowns_fail=False)
    assert (summary.destinations, summary.compliant, summary.violations, summary.indeterminate) == (3, 1, 1, 1)


def test_a_summary_that_contradicts_the_destinations_is_refused():
    dests = report_samples.destinations()
    wrong_count = Summary(verdict="violation", destinations=3, compliant=2, violations=1, indeterminate=0)
    with pytest.raises(ValidationError, match="disagree"):
        report_samples.report(destinations=dests, summary=wrong_count)
    hidden_violation = Summary(verdict="compliant", destinations=3, compliant=1, violations=1, indeterminate=1)
    with pytest.raises(ValidationError, match="exactly when"):
        report_samples.report(destinations=dests, summary=hidden_violation)


def test_unknown_fields_and_verdicts_are_refused():
    with pytest.raises(ValidationError):
        Destination(ip="192.0.2.1", verdict="fine")
    with pytest.raises(ValidationError):
        Destination(ip="192.0.2.1", verdict="compliant", countyr="IE")
    with pytest.raises(ValidationError):
        Report.model_validate({**canonical_dict(report_samples.report()), "schema_version": "2"})


def _sort_key_by_ipaddress(ip: str) -> tuple:
    """``ip_sort_key`` as ipaddress alone gives it: the oracle of its shortcuts."""
    import ipaddress

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return (99, 0, ip)
    return (address.version, int(address), "")


def _ipv6_texts():
    import ipaddress

    from hypothesis import strategies as st

    addresses = (st.binary(min_size=16, max_size=16)
                 | st.lists(st.sampled_from([0, 1, 0xFFFF, 0x64, 0xFF9B]), min_size=8, max_size=8).map(
                     lambda words: b"".join(w.to_bytes(2, "big") for w in words)))
    return addresses.flatmap(lambda packed: st.sampled_from([
        str(ipaddress.IPv6Address(packed)), ipaddress.IPv6Address(packed).exploded,
        str(ipaddress.IPv6Address(packed)).upper(), str(ipaddress.IPv6Address(packed)) + "%eth0"]))


def test_addresses_sort_as_ipaddress_orders_them():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tracecheck.report.rows import ip_sort_key

    @settings(max_examples=1000)
    @given(_ipv6_texts() | st.ip_addresses().map(str) | st.text(max_size=12)
           | st.sampled_from(["::ffff:1.2.3.4", "::1.2.3.4", "::0.0.0.1", "64:ff9b::1.2.3.4", "01.2.3.4", "1.2.3", ""]))
    def check(ip):
        assert ip_sort_key(ip) == _sort_key_by_ipaddress(ip)

    check()
