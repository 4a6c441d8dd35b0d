"""Zeek's own logs of its own test traces (``benchmarks/zeek_log_agreement.py``), when a zeek
checkout or bare git directory is at $TRACECHECK_ZEEK_SOURCE; skipped otherwise (nothing is
fetched).  Two cases that once disagreed: an IP-literal Host, and a conn.log whose address
fields a script renamed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = os.environ.get("TRACECHECK_ZEEK_SOURCE", "")

pytestmark = pytest.mark.skipif(not SOURCE or not Path(SOURCE).exists(),
                                reason="set TRACECHECK_ZEEK_SOURCE to a zeek checkout or bare git dir")


@pytest.fixture(scope="module")
def agreement():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import zeek_log_agreement
    finally:
        sys.path.pop(0)
    return zeek_log_agreement


def run(agreement, name: str, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    tree = agreement.Tree(Path(SOURCE))
    [case] = [case for case in agreement.cases(tree) if case.name == name]
    policy = tmp_path / "policy.yaml"
    agreement.tracecheck("--db", str(tmp_path / "db"), "policy", "init", "--template", "gdpr-eu", "-o", str(policy))
    work = tmp_path / "case"
    work.mkdir()
    return agreement.run_case(tree, case, work, tmp_path / "db", policy)


def test_an_ip_literal_host_names_the_flow_from_the_log_as_from_the_trace(agreement, tmp_path, monkeypatch):
    result = run(agreement, "scripts.base.protocols.http.http-no-crlf", tmp_path, monkeypatch)
    assert result.dests_pcap == result.dests_logs == {"5.2.136.90"}
    assert result.names_logs == result.names_pcap and ("5.2.136.90", "http_host") in result.names_logs["5.2.136.90"]
    assert result.differences == [] and result.code_pcap == result.code_logs


def test_a_conn_log_with_renamed_address_fields_is_refused(agreement, tmp_path, monkeypatch):
    result = run(agreement, "scripts.base.frameworks.logging.field-name-map", tmp_path, monkeypatch)
    assert result.code_logs == 2
    [(category, what)] = result.differences
    assert category == "log refused" and "id.orig_h or id.resp_h" in what
