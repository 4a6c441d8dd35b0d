"""The demo-like report in headless Chromium: it renders the table, logs no console error and
asks for nothing over the network (its CSP forbids it; a violation would be logged)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import report_samples

from tracecheck.report.formats.html import render_html
from tracecheck.report.model import Name

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")


def test_page_renders_in_chromium_without_errors_or_requests(tmp_path):
    flows = {"ts": [1_764_230_400.0, 1_764_230_410.0], "duration": [30.0, 5.0],
             "id.resp_h": ["3.224.10.20", "52.18.1.2"], "orig_ip_bytes": [4000, 900]}
    page = tmp_path / "report.html"
    page.write_text(render_html(report_samples.report(), flows), encoding="utf-8")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom, log = result.stdout, result.stderr
    assert 'class="findings"' in dom and "3.224.10.20" in dom
    assert 'id="filter"' in dom  # the script ran (its hash is in the CSP), so it was not blocked
    console = [line for line in log.splitlines() if "CONSOLE" in line or "Content Security Policy" in line]
    assert console == [], console
    assert "net::" not in log and "http://" not in log and "https://" not in log


_WIDTH_PROBE = """<script>window.addEventListener("load", () => {
  const probe = document.createElement("pre"); probe.id = "probe";
  probe.textContent = "WIDTHS " + document.documentElement.scrollWidth + " " + document.documentElement.clientWidth;
  document.body.appendChild(probe);
});</script>"""


def _page_widths(page: str, tmp_path: Path, window: int) -> tuple[int, int]:
    """(the page's scroll width, the window's width) in Chromium: the page with a probe of ours,
    its CSP taken out so that the probe may run."""
    import re

    probed = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page).replace("</body>", _WIDTH_PROBE + "</body>")
    path = tmp_path / "probed.html"
    path.write_text(probed, encoding="utf-8")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size={window},900", "--virtual-time-budget=2000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'id="probe">WIDTHS (\d+) (\d+)<', result.stdout)
    assert found, result.stdout[-500:]
    return int(found.group(1)), int(found.group(2))


@pytest.mark.parametrize("window", [1100, 1400])
def test_ipv6_reasons_long_labels_and_jurisdictions_stay_within_the_window(tmp_path, window):
    """An IPv6 address in a reason and EU_ADEQUATE_CONDITIONAL are one word each: beside an IPv6
    destination and a DNS label of 32 hex digits they made the table wider than the window
    (reddit.pcap's report: 30 pixels too wide at 1400, the label alone 33 at 1100)."""
    report = report_samples.report()
    wide = []
    for i, d in enumerate(report.destinations):
        ip = f"2600:9000:219c:ee00:6:44e3:f8c0:93a{i}"
        wide.append(d.model_copy(update={
            "ip": ip, "jurisdictions": ["EU_ADEQUATE_CONDITIONAL", "UK_ADEQUATE_CONDITIONAL", "US"],
            "names": [Name(name="8a755a3fef0b189d8ab5b0d10758f68a.safeframe.googlesyndication.com", source="sni")],
            "reasons": [f"unclassified destination at {ip} (US): US is not in {{EU, EEA}}."]}))
    page = render_html(report.model_copy(update={"destinations": wide}))
    scroll, inner = _page_widths(page, tmp_path, window)
    assert scroll <= inner, (scroll, inner)
