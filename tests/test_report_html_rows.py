"""report.html's destination rows, written in Python (formats/html.py ``destination_rows``) for
speed, are the rows the template's loop wrote: the same markup, the same ``visible`` and escaping
of everything a capture gave, for any text at all."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracecheck.report.formats.html import _environment, destination_rows, host_name, place, utc, visible
from tracecheck.report.grouping import short_reason
from tracecheck.vocabulary import BASIS_LABEL

# The loop report.html.j2 had before its rows moved to destination_rows, as it was: the oracle.
TEMPLATE_ROWS = """\
{% for d in rows %}
<tr class="{{ d.verdict }}">
<td data-value="{{ loop.index0 }}"><span class="badge {{ d.verdict }}">{{ d.verdict | replace("_", " ") }}</span>
{% if d.get("anycast") %}<br><span class="muted">anycast</span>{% endif %}
{% if d.get("exception") %}<br><span class="muted">exception {{ d.exception }}</span>{% endif %}
{% for flag in d.get("flags", []) %}<br><span class="muted">{{ flag | replace("_", " ") }}</span>{% endfor %}</td>
<td class="ip"><code>{{ d.ip }}</code>{% if d.get("via") %}<br><span class="muted via">via {% for relay in d.via %}<code>{{ relay }}</code>{% if not loop.last %}, {% endif %}{% endfor %} (TURN)</span>{% endif %}</td>
<td class="name">{% if d.names %}<code>{{ d.names[0].name | host_name }}</code> <span class="muted">({{ d.names[0].source }})</span>{% if d.names | length > 1 %}<br><span class="muted">+{{ d.names | length - 1 }} more</span>{% endif %}{% else %}<span class="muted">no name seen</span>{% endif %}</td>
<td>{{ d.vendor or "unknown vendor" }}<br><span class="muted">{{ d.category or "uncategorised" }}</span></td>
<td>{{ place(d) }}{% if d.jurisdictions %}<br><span class="muted jurisdictions">{{ d.jurisdictions | join(", ") | wrap_after("_") }}</span>{% endif %}</td>
<td class="num" data-value="{{ d.orig_bytes }}">{{ d.orig_bytes | bytes }} B</td>
<td><span class="reason">{{ short_reason(d) | wrap_after(":") }}</span>
<details><summary>full evidence{% if d.evidence %} ({{ d.evidence | length }}){% endif %}</summary>
{% if d.reasons %}<ul class="tight">{% for reason in d.reasons %}<li>{{ reason }}</li>{% endfor %}</ul>{% endif %}
{% if d.names | length > 1 %}<p>Names: {% for n in d.names %}<code>{{ n.name }}</code> <span class="muted">({{ n.source }})</span>{% if not loop.last %}, {% endif %}{% endfor %}</p>{% endif %}
<p>{{ d.flows }} flow{{ "" if d.flows == 1 else "s" }}, sent {{ d.orig_bytes | bytes }} B, received {{ d.resp_bytes | bytes }} B, {{ d.first_ts | utc }} to {{ d.last_ts | utc }}{% if d.verdict != "not_assessed" %}; basis: {{ basis.get(d.get("basis", ""), d.get("basis", "")) }}{% endif %}{% if d.get("rule") %}; rule {{ d.rule }}{% endif %}</p>
{% if d.evidence %}<table><thead><tr><th>source</th><th>claim</th><th>detail</th></tr></thead><tbody>
{% for e in d.evidence %}<tr><td>{{ e.source }}</td><td>{{ e.claim }}</td><td>{{ e.detail }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
</details></td>
</tr>
{% endfor %}
"""

HOSTILE = ["<script>alert(1)</script>", "\u202egnp.exe", '"><img src=x onerror=alert(2)>', "it's & <b>",
           "a\u200bb", "\x00\x1b[31m", "line\nbreak", "\u2028", "{{ 7*7 }}", "x.y-z", "é·—…"]


def _template_rows(rows: list[dict]) -> str:
    return _environment().from_string(TEMPLATE_ROWS).render(
        rows=rows, place=place, short_reason=short_reason, basis=BASIS_LABEL)


def _fast_rows(rows: list[dict]) -> str:
    return str(destination_rows(rows, BASIS_LABEL)) + "\n"  # the template's line ends the last row


text = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE),
                 st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("<>&'\"._-\u202e\u200b"),
                         max_size=30))
maybe_text = st.none() | text
count = st.none() | st.integers(min_value=0, max_value=10**12)
moment = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
name = st.fixed_dictionaries({"name": text, "source": text})
evidence = st.fixed_dictionaries({"source": text, "claim": text, "detail": text})
destination = st.fixed_dictionaries(
    {
        "ip": text,
        "verdict": st.sampled_from(["violation", "indeterminate", "compliant", "not_assessed"]) | text,
        "names": st.lists(name, max_size=3),
        "vendor": maybe_text,
        "category": maybe_text,
        "provider": maybe_text,
        "service": maybe_text,
        "region": maybe_text,
        "country": maybe_text,
        "jurisdictions": st.lists(text, max_size=3),
        "orig_bytes": count,
        "resp_bytes": count,
        "flows": st.integers(min_value=0, max_value=10**6) | st.none(),
        "first_ts": moment,
        "last_ts": moment,
        "reasons": st.lists(text, max_size=3),
        "evidence": st.lists(evidence, max_size=3),
    },
    optional={
        "anycast": st.booleans(),
        "exception": maybe_text,
        "flags": st.lists(st.sampled_from(["stale_source", "geoip_only"]) | text, max_size=3),
        "via": st.lists(text, max_size=2),
        "basis": st.sampled_from(sorted(BASIS_LABEL)) | text,
        "rule": maybe_text,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(destination, min_size=1, max_size=4))
def test_rows_are_the_templates_rows_for_any_text(rows):
    assert _fast_rows(rows) == _template_rows(rows)


def _row(**fields) -> dict:
    row = {"ip": "198.51.100.7", "verdict": "violation", "names": [], "vendor": None, "category": None,
           "provider": None, "service": None, "region": None, "country": "US", "jurisdictions": [],
           "orig_bytes": 1234, "resp_bytes": None, "flows": 1, "first_ts": 1.5, "last_ts": None,
           "reasons": [], "evidence": []}
    row.update(fields)
    return row


def test_hostile_text_is_escaped_and_invisible_characters_shown():
    rows = [_row(ip="<script>alert(1)</script>", names=[{"name": "\u202eevil.com", "source": '"sni"'},
                                                         {"name": "<b>x</b>", "source": "dns"}],
                 vendor="Tom's <i>", category="\u200b", reasons=["quote \" and ' and & here"],
                 evidence=[{"source": "<s>", "claim": "\u2066", "detail": "&amp;"}], rule="<rule>",
                 flags=["<flag_x>"], via=["<relay>"], exception="<exc>")]
    page = _fast_rows(rows)
    assert page == _template_rows(rows)
    for raw in ("<script>", "<b>", "<i>", "<s>", "<rule>", "<flag", "<relay>", "<exc>", "\u202e", "\u200b", "\u2066"):
        assert raw not in page
    for shown in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;U+202E&gt;evil.<wbr>com", "&#34;sni&#34;",
                  "Tom&#39;s &lt;i&gt;", "&lt;U+200B&gt;", "quote &#34; and &#39; and &amp; here",
                  "&lt;U+2066&gt;", "&amp;amp;", "&lt;flag x&gt;", "&lt;relay&gt;", "exception &lt;exc&gt;"):
        assert shown in page


def test_rows_are_numbered_within_their_group():
    rows = [_row(ip=f"198.51.100.{i}") for i in range(3)]
    page = _fast_rows(rows)
    assert [f'data-value="{i}"' in page for i in range(3)] == [True] * 3
    assert page.count("<tr class=") == 3 and page.endswith("</tr>\n")


@given(st.text(alphabet=st.characters(codec="utf-8") | st.characters(), max_size=40))
def test_visible_shortcut_for_printable_text_changes_nothing(value):
    """``visible`` returns printable text as is: none of the categories it shows is printable."""
    by_character = "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) in {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}
                           else ch for ch in value)
    assert visible(value) == by_character


def test_host_name_breaks_after_dots_and_dashes_only_outside_entities():
    assert str(host_name('a-b.<c>"d')) == 'a-<wbr>b.<wbr>&lt;c&gt;&#34;d'


@settings(max_examples=500)
@given(st.floats(min_value=-62135596800 + 86400, max_value=253402300799 - 86400, allow_nan=False)
       | st.integers(min_value=-62135596800 + 86400, max_value=253402300799 - 86400)
       | st.sampled_from([0, 0.0, 1.5, 1e-7, 0.9999995, -0.5, -30610224000.5, -30610224001, -30610223999.25,
                          1710234046.796585, 4102444800.000001]))
def test_utc_is_strftime_for_any_moment(ts):
    """``utc`` writes with isoformat from the year 1000 on: the text strftime wrote, for any moment."""
    moment = datetime.fromtimestamp(ts, UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{moment.microsecond:06d}" if moment.microsecond else "")
    assert utc(ts) == text + " UTC"


@settings(max_examples=500)
@given(text | st.none() | st.integers() | st.booleans() | st.floats(allow_nan=False))
def test_a_cell_is_markupsafes_escape_of_the_visible_text(value):
    """``_cell`` escapes a str itself (markupsafe's five characters, in its order): what the
    template's autoescape wrote, ``visible`` first."""
    from markupsafe import escape

    from tracecheck.report.formats.html import _cell

    assert _cell(value) == str(escape(visible(value)))


@settings(max_examples=500)
@given(st.lists(st.sampled_from(["<style>", "</style>", "<script>", "</script>", "<style", "</", ">", "x", "\n", "é",
                                 "<style></style>"]), max_size=25).map("".join), st.sampled_from(["style", "script"]))
def test_the_csp_hashes_bodies_are_the_regexs(page, tag):
    """The page's inline style and script, found by str.find, are what the regex found."""
    import re

    from tracecheck.report.formats.html import _bodies

    assert _bodies(page, tag) == re.findall(f"<{tag}>(.*?)</{tag}>", page, re.DOTALL)


@given(text)
def test_a_host_name_only_gains_places_to_wrap(value):
    """``<wbr>`` is put between characters and entities, never inside one, and adds nothing else."""
    from markupsafe import escape

    assert str(host_name(value)).replace("<wbr>", "") == str(escape(visible(value)))


def test_a_long_label_may_wrap_inside_and_a_short_one_only_after_its_dots():
    assert str(host_name("8a755a3fef0b189d8ab5b0d10758f68a.safeframe.example")) == \
        "8a755a3fef0b189d8ab5<wbr>b0d10758f68a.<wbr>safeframe.<wbr>example"
    assert str(host_name("api.mypurecloud.ie")) == "api.<wbr>mypurecloud.<wbr>ie"
    assert str(host_name("<" * 21)) == "&lt;" * 20 + "<wbr>&lt;"  # twenty characters, each one entity
