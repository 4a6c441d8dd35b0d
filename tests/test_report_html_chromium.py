"""The demo-like report in headless Chromium: it renders the table, logs no console error and
asks for nothing over the network (its CSP forbids it; a violation would be logged)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import report_samples

from tracecheck.report.formats.html import render_html

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
