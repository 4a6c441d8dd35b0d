"""report.sarif: SARIF 2.1.0 for code-scanning dashboards -- one result per violation and per
indeterminate destination; compliant and not-assessed ones are not results.

A violation proven by a provider's file, the vendor's regional hostname or a geofeed is an
``error`` (TC001); one that rests on a GeoIP database alone is a ``warning`` of its own rule
(TC003), so that a reviewer can tell a claim AWS's file proves from a registrant's country.

A destination is not a line of source code, so each result points at the capture file(s) as its
artifact and names the address as a logical location; ``partialFingerprints`` keep a destination
recognisable across runs so dashboards do not reopen the same finding as new.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from tracecheck.report.interface import Columns, ReportFormat

if TYPE_CHECKING:
    from tracecheck.report.model import Report

FILE_NAME = "report.sarif"
SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json"

RULES = [
    {
        "id": "TC001",
        "name": "DataOutsideAuthorizedArea",
        "shortDescription": {"text": "Traffic went to a destination outside the authorized jurisdictions or regions."},
        "defaultConfiguration": {"level": "error"},
    },
    {
        "id": "TC002",
        "name": "DestinationPlaceIndeterminate",
        "shortDescription": {"text": "Where a destination is cannot be established (unknown, anycast, "
                                     "or sources that disagree)."},
        "defaultConfiguration": {"level": "warning"},
    },
    {
        "id": "TC003",
        "name": "DataOutsideAuthorizedAreaOnGeoIPAlone",
        "shortDescription": {"text": "Traffic went to a destination outside the authorized area, on the word of a "
                                     "GeoIP database alone (often the address registrant's country): confirm it with "
                                     "the provider's ranges or the vendor."},
        "defaultConfiguration": {"level": "warning"},
    },
]
_RULE_OF = {"violation": (0, "error"), "indeterminate": (1, "warning")}
_WEAK_VIOLATION = (2, "warning")


def render_sarif(report: Report) -> bytes:
    from tracecheck.report.model import canonical_dict

    data = canonical_dict(report)
    artifacts = [{"location": {"uri": _uri(i["path"])}, "hashes": {"sha-256": i["sha256"]}}
                 for i in data["inputs"]]
    results = [_result(d, data["policy"]["name"], artifacts)
               for d in data["destinations"] if d["verdict"] in _RULE_OF]
    sarif = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": data["tool"]["name"], "version": data["tool"]["version"], "rules": RULES}},
            "artifacts": artifacts,
            "results": results,
            "properties": {"summary": data["summary"], "policy": data["policy"]},
        }],
    }
    return (json.dumps(sarif, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _result(destination: dict, policy_name: str, artifacts: list[dict]) -> dict:
    rule_index, level = _RULE_OF[destination["verdict"]]
    if destination["verdict"] == "violation" and destination.get("basis") == "geoip":
        rule_index, level = _WEAK_VIOLATION
    names = ", ".join(dict.fromkeys(n["name"] for n in destination["names"]))
    subject = f"{destination['ip']}" + (f" ({names})" if names else "")
    if destination.get("via"):
        subject += f" via TURN relay {', '.join(destination['via'])}"
    reasons = " ".join(destination["reasons"]) or destination["verdict"]
    return {
        "ruleId": RULES[rule_index]["id"],
        "ruleIndex": rule_index,
        "level": level,
        "message": {"text": f"{destination['verdict']} under policy {policy_name}: {subject}: {reasons}"},
        "locations": _locations(destination["ip"], artifacts),
        "partialFingerprints": {"destination/v1": _fingerprint(destination)},
        "properties": {key: destination[key] for key in (
            "ip", "vendor", "category", "provider", "region", "country", "jurisdictions", "flows",
            "orig_bytes", "resp_bytes", "evidence")} | {"basis": destination.get("basis", "")}
        | ({"via": destination["via"]} if destination.get("via") else {}),
    }


def _locations(ip: str, artifacts: list[dict]) -> list[dict]:
    """The capture files the finding comes from, with the address as the logical place."""
    logical = [{"name": ip, "kind": "resource"}]
    if not artifacts:
        return [{"logicalLocations": logical}]
    return [{"physicalLocation": {"artifactLocation": {"uri": a["location"]["uri"], "index": index}},
             "logicalLocations": logical} for index, a in enumerate(artifacts)]


def _fingerprint(destination: dict) -> str:
    # Address, vendor and verdict: the same finding next run, a new one if any of them changes.
    key = f"{destination['ip']}|{destination['vendor']}|{destination['verdict']}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _uri(path: str) -> str:
    """A capture path as a URI: ``file://`` when absolute, else a relative reference."""
    from urllib.parse import quote

    if Path(path).is_absolute():
        return Path(path).as_uri()
    return quote(path.replace("\\", "/"), safe="/@-._~")


class Sarif(ReportFormat):
    name = "sarif"
    file_name = FILE_NAME
    summary = "SARIF 2.1.0 for code-scanning dashboards"

    def render(self, report: Report, flows: Columns) -> bytes:
        return render_sarif(report)


FORMAT = Sarif()
