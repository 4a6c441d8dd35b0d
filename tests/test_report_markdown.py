"""report.md: the verdict and the table, and nothing from a capture becomes markup."""

from __future__ import annotations

import report_samples
from markdown_it import MarkdownIt

from tracecheck.report.formats import help_text
from tracecheck.report.formats.markdown import code, render_markdown
from tracecheck.report.model import Name
from tracecheck.report.verdict_line import verdict_sentence

HOSTILE = [
    "<script>alert(1)</script>",
    "[click](https://evil.example/)",
    "![x](https://evil.example/x.png)",
    "a|b|c",
    "``` ` `` fence",
    "`",
    "#set page(width: 1pt)",
    "]$ \\ *bold* _it_",
    "x\u202egnp.exe",
    "line\nbreak # heading",
    "<https://evil.example/auto>",
]


def _html(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_code_span_shows_the_text_literally():
    md = MarkdownIt("commonmark")
    for text in HOSTILE:
        html = md.renderInline(code(text))
        assert html.startswith("<code>") and html.endswith("</code>") and html.count("<code>") == 1, (text, html)


def test_hostile_names_become_no_tags_or_links():
    report = report_samples.report()
    destinations = [report.destinations[0].model_copy(update={"names": [Name(name=t, source="sni")]})
                    for t in HOSTILE]
    for destination in destinations:
        one = report.model_copy(update={"destinations": [destination, *report.destinations[1:]]})
        html = _html(render_markdown(one))
        assert "<script" not in html and "<a " not in html and "<img" not in html and "<h1" not in html
        assert "&lt;U+202E&gt;" in html or "\u202e" not in destination.names[0].name
        # The table keeps its six columns: no name splits a cell.
        for row in html.split("<tr>")[2:]:
            assert row.count("<td>") == 6, row


def test_opens_with_the_cli_verdict_sentence():
    report = report_samples.report()
    assert verdict_sentence(report) in render_markdown(report)
    assert verdict_sentence(report).startswith("VIOLATION: 1 violation, 1 indeterminate, 1 compliant of 3")


def test_empty_report_is_valid_markdown():
    report = report_samples.report()
    report = report.model_copy(update={"destinations": [],
                                       "summary": report_samples.summary_of([], unknowns_fail=False)})
    text = render_markdown(report)
    assert "No destination was seen" in text and "<table>" not in _html(text)


def test_registered_in_format_help():
    assert "md (report.md" in help_text()
