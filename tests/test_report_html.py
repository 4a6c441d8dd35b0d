"""report.html: readable, self-contained, and inert whatever the capture contained."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import report_samples

from tracecheck.report.formats.html import render_html, visible
from tracecheck.report.model import Destination, Name

HOSTILE_NAMES = [
    report_samples.HOSTILE_SCRIPT,
    report_samples.HOSTILE_ATTRIBUTE,
    "'><svg/onload=alert(3)>",
    "</textarea></style></details><script src=https://evil.example/x.js></script>",
    "javascript:alert(4)",
    '<a href="https://evil.example/">click</a>',
    '<link rel=stylesheet href="//evil.example/x.css">',
    "{{ 7*7 }}{% raw %}",
]


class _Tags(HTMLParser):
    """Every start tag and its attributes, as a browser's tokenizer would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _hostile_report():
    dest = Destination(ip="198.51.100.7", verdict="violation", category="<b>cdn</b>",
                       names=[Name(name=n, source="sni") for n in HOSTILE_NAMES],
                       reasons=[f"name {n} is outside" for n in HOSTILE_NAMES])
    dests = report_samples.destinations() + [dest]
    return report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=False),
                                 warnings=["<script>alert('warning')</script>"])


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def test_hostile_names_are_text_not_markup():
    page = render_html(_hostile_report())
    parsed = _parse(page)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"img", "a", "link", "iframe", "object", "embed", "textarea", "foreignobject", "use", "image"}
    assert [tag for tag, _ in parsed.tags].count("script") == 1  # the page's own, allowed by its hash
    assert all(not name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    text = "".join(parsed.text)
    for name in HOSTILE_NAMES:
        assert name in text  # shown to the reviewer, verbatim, as text ("{{ 7*7 }}" not evaluated)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page


def test_no_script_and_no_remote_loads():
    page = render_html(_hostile_report())
    parsed = _parse(page)
    scripts = re.findall(r"<script(.*?)>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 1 and scripts[0][0] == ""  # the page's own sorting script, inline, no src
    assert "alert" not in scripts[0][1]
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            assert name not in attrs, (tag, attrs)
    for tag in re.findall(r"<[^>]*>", page):  # real markup only: escaped capture text has no '<'
        assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", tag, re.IGNORECASE), tag
    style = "".join(re.findall(r"<style>(.*?)</style>", page, re.DOTALL))
    assert "url(" not in style and "@import" not in style
    assert "default-src 'none'" in page  # the browser refuses loads even if escaping failed
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert "unsafe-inline" not in csp and csp.count("'sha256-") == 2
    digest = base64.b64encode(hashlib.sha256(scripts[0][1].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp


def test_the_page_says_what_a_reviewer_needs():
    page = render_html(report_samples.report())
    text = " ".join("".join(_parse(page).text).split())
    for expected in ("violation — personal data went to at least one destination outside the authorized area",
                     "3 destinations", "1 violations", "1 indeterminate", "1 compliant",
                     "transcribestreaming.us-east-1.amazonaws.com", "AWS Transcribe", "us-east-1",
                     "US is not in {EU, EEA}", "evidence (2)", "ip-ranges.json 2026-08-22, prefix 3.224.0.0/12",
                     "a84b4c76e66710@pc33.example", "CSip1 CSip2", "a" * 64, "stale", "97 days",
                     "1,000 records read, 990 decoded into flows, 10 skipped", "skipped: truncated_record",
                     "An agent-desktop capture cannot show AudioHook", "aws-ip-ranges is 97 days old",
                     "2025-11-27 08:00:00.123457 UTC", "no country established", "d" * 64):
        assert expected in text, expected
    assert "<details>" in page and page.index("3.224.10.20") < page.index("52.18.1.2")


def test_links_in_evidence_stay_plain_text():
    page = render_html(report_samples.report())
    assert "https://www.cloudflare.com/ips-v6 2026-11-01" in page
    assert not any("href" in attrs for _, attrs in _parse(page).tags)


def test_invisible_and_direction_changing_characters_are_shown():
    assert visible("evil\u202egpj.exe") == "evil<U+202E>gpj.exe"
    assert visible("zero\u200bwidth\x00") == "zero<U+200B>width<U+0000>"
    assert visible("Zürich") == "Zürich" and visible(None) == "" and visible(3) == 3
    dests = [Destination(ip="192.0.2.1", verdict="compliant", names=[Name(name="a\u202eb.example", source="dns")])]
    page = render_html(report_samples.report(destinations=dests, summary=report_samples.summary_of(dests, unknowns_fail=False)))
    assert "a&lt;U+202E&gt;b.example" in page and "\u202e" not in page


def test_same_report_same_page(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764230400")
    page = render_html(report_samples.report())
    assert page == render_html(report_samples.report()) and "generated 2025-11-27T08:00:00Z" in page


def test_host_names_wrap_after_dots_and_stay_escaped():
    from tracecheck.report.formats.html import host_name

    shown = str(host_name('<b>x</b>.evil\u202e-moc.example'))
    assert "<b>" not in shown and "&lt;b&gt;x&lt;/b&gt;.<wbr>" in shown
    assert "<U+202E>" not in shown and "&lt;U+202E&gt;-<wbr>moc.<wbr>example" in shown
    assert str(host_name("api.mypurecloud.ie")) == "api.<wbr>mypurecloud.<wbr>ie"


def test_the_page_written_a_piece_at_a_time_is_the_template_rendered_whole(monkeypatch, tmp_path):
    """report.html's pieces (the template's page with each table's rows put in, ROWS_AT_A_TIME at a
    time, and the CSP read from it) are the page the template renders with its rows in it, the CSP
    put in after: however few the rows at a time, hostile names and all."""
    from tracecheck.report import grouping
    from tracecheck.report.formats import html

    for report, summarise_above in ((_hostile_report(), None), (report_samples.report(), None), (_hostile_report(), 2)):
        if summarise_above is not None:  # counted by place and provider, the violations and indeterminates listed
            monkeypatch.setattr(grouping, "SUMMARISE_ABOVE", summarise_above)
        template_page = html._page(report, {})
        whole = template_page.replace(html.CSP_PLACEHOLDER, html._csp(template_page), 1)
        assert html._ROWS not in whole and "<tr class=" in whole
        assert ('class="summarised"' in whole) == (summarise_above is not None)
        for size in (1, 2, 3, html.ROWS_AT_A_TIME):
            monkeypatch.setattr(html, "ROWS_AT_A_TIME", size)
            assert render_html(report, {}) == whole
            assert b"".join(html.html_parts(report, {})) == whole.encode("utf-8")
        assert html.FORMAT.render(report, {}) == whole.encode("utf-8")
        assert html.FORMAT.write(report, {}, tmp_path).read_bytes() == whole.encode("utf-8")
