"""report.junit.xml: one testcase per destination, so a CI pipeline shows which ones failed and why.

A violation is a ``<failure>``.  An indeterminate destination is a ``<failure>`` when it fails the
run (the policy says ``indeterminate: fail``), else ``<skipped>`` with the reason: visible in the
CI's test view without turning the build red.  A destination the policy does not assess is
``<skipped>`` too, never a pass.  Compliant destinations pass; one allowed by an exception says
so in its ``<system-out>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from tracecheck.report.interface import Columns, ReportFormat

if TYPE_CHECKING:
    from tracecheck.report.model import Report

FILE_NAME = "report.junit.xml"

# XML 1.0 cannot carry most control characters even escaped; capture text may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render_junit(report: Report) -> bytes:
    from tracecheck.report.model import canonical_dict

    data = canonical_dict(report)
    suite_name = f"tracecheck residency ({data['policy']['name']})"
    cases = [_testcase(d, data["summary"]["verdict"]) for d in data["destinations"]]
    failures = sum(1 for case in cases if case.find("failure") is not None)
    skipped = sum(1 for case in cases if case.find("skipped") is not None)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {"name": "tracecheck", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": _xml(suite_name), **counts})
    properties = ET.SubElement(suite, "properties")
    for name, value in (("policy", data["policy"]["name"]), ("policy.sha256", data["policy"]["sha256"]),
                        ("verdict", data["summary"]["verdict"]), ("tool.version", data["tool"]["version"])):
        ET.SubElement(properties, "property", {"name": name, "value": _xml(value)})
    suite.extend(cases)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _testcase(destination: dict, overall: str) -> ET.Element:
    names = ", ".join(dict.fromkeys(n["name"] for n in destination["names"]))
    title = destination["ip"] + (f" ({names})" if names else "")
    category = destination["category"] or "uncategorised"
    case = ET.Element("testcase", {"classname": _xml(f"tracecheck.{category}"), "name": _xml(title), "time": "0"})
    verdict = destination["verdict"]
    if verdict == "compliant":
        if destination.get("exception"):
            ET.SubElement(case, "system-out").text = _xml(destination["reasons"][0])
        return case
    if verdict == "not_assessed":
        ET.SubElement(case, "skipped", {"message": _xml("; ".join(destination["reasons"]) or "not assessed")})
        return case
    reasons = "; ".join(destination["reasons"]) or verdict
    body = "\n".join([*destination["reasons"], "", "evidence:",
                      *(f"  {e['source']}: {e['claim']}" + (f" ({e['detail']})" if e["detail"] else "")
                        for e in destination["evidence"])])
    if verdict == "violation" or _fails(destination, overall):
        failure = ET.SubElement(case, "failure", {"type": verdict, "message": _xml(reasons)})
        failure.text = _xml(body)
    else:
        ET.SubElement(case, "skipped", {"message": _xml(f"indeterminate: {reasons}")})
    return case


def _fails(destination: dict, overall: str) -> bool:
    """Whether an indeterminate destination fails the run.  Reports that do not say so per
    destination fall back on the summary, which is ``indeterminate`` only when unknowns fail."""
    if "fails" in destination:
        return bool(destination["fails"])
    return overall == "indeterminate"


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


class JUnit(ReportFormat):
    name = "junit"
    file_name = FILE_NAME
    summary = "JUnit XML, a test case per destination, for CI"

    def render(self, report: Report, flows: Columns) -> bytes:
        return render_junit(report)


FORMAT = JUnit()
