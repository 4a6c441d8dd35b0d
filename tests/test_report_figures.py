"""The report's figures: the map draws judged places in their verdict's colour and lists what it
cannot place; the timeline's buckets add up to the bytes sent; both escape capture content."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracecheck.report.figures import timeline_svg, world_map_svg
from tracecheck.report.figures.svg import VERDICT_COLOUR
from tracecheck.report.figures.timeline import bucket_bytes
from tracecheck.report.grouping import grouped, short_reason

HOSTILE = '<script>alert(1)</script>"&'


def _data():
    return {
        "site": {"label": "Paris", "latitude": 48.85, "longitude": 2.35},
        "destinations": [
            {"ip": "3.5.0.1", "names": [{"name": HOSTILE, "source": "sni"}], "verdict": "violation",
             "latitude": 39.0, "longitude": -77.5, "basis": "provider", "reasons": ["us-east-1 is outside EU."]},
            {"ip": "3.5.0.2", "names": [], "verdict": "compliant", "latitude": 50.1, "longitude": 8.7, "basis": "provider"},
            {"ip": "1.1.1.1", "names": [{"name": "anycast.example", "source": "sni"}], "verdict": "indeterminate",
             "latitude": None, "longitude": None, "anycast": True},
            {"ip": "5.5.5.5", "names": [], "verdict": "indeterminate", "latitude": float("nan"), "longitude": 3.0},
            {"ip": "10.0.0.9", "names": [], "verdict": "compliant", "basis": "local"},
            {"ip": "8.8.8.8", "names": [], "verdict": "not_assessed", "latitude": 37.4, "longitude": -122.1},
        ],
        "calls": [{"call_id": "c<1>", "first_ts": 1_700_000_010.0, "last_ts": 1_700_000_050.0}],
    }


def test_map_draws_judged_places_in_their_verdicts_colour():
    svg = world_map_svg(_data())
    places = re.findall(r'<circle class="place (\w+)"[^>]* fill="(#\w+)"', svg)
    assert sorted(places) == [("compliant", VERDICT_COLOUR["compliant"]), ("violation", VERDICT_COLOUR["violation"])]
    assert svg.count("<line ") == 2  # one line from the site to each placed destination
    assert 'class="site"' in svg


def test_map_lists_anycast_and_unknown_never_draws_them():
    svg = world_map_svg(_data())
    assert "anycast.example — anycast" in svg
    assert "5.5.5.5 — place unknown" in svg
    assert "Not on the map (2)" in svg
    assert "nan" not in svg.lower().replace("not on", "")


def test_a_country_alone_is_a_ring_at_its_centre_never_a_city_dot():
    data = _data()
    data["destinations"] += [
        {"ip": "6.6.6.1", "names": [], "verdict": "violation", "country": "US"},
        {"ip": "6.6.6.2", "names": [], "verdict": "compliant", "country": "sg"},
        {"ip": "6.6.6.3", "names": [], "verdict": "indeterminate", "country": "XX"},  # no such country
        {"ip": "6.6.6.4", "names": [], "verdict": "indeterminate", "country": "US", "anycast": True},
    ]
    svg = world_map_svg(data)
    rings = re.findall(r'<circle class="place (\w+) country" cx="([\d.]+)" cy="([\d.]+)"[^>]* fill="#fff" '
                       r'stroke="(#\w+)"', svg)
    assert sorted((verdict, stroke) for verdict, _, _, stroke in rings) == [
        ("compliant", VERDICT_COLOUR["compliant"]), ("violation", VERDICT_COLOUR["violation"])]
    us = next((float(x), float(y)) for verdict, x, y, _ in rings if verdict == "violation")
    sg = next((float(x), float(y)) for verdict, x, y, _ in rings if verdict == "compliant")
    assert us[0] < 500 < sg[0] and us[1] < sg[1]  # the US west of Greenwich, Singapore east and south of it
    assert "somewhere in US" in svg
    assert "6.6.6.3 — XX, not on the outline" in svg and "6.6.6.4 — anycast" in svg
    assert svg.count('stroke-dasharray="4 3"') == 2  # dashed lines to the country-only places


def test_map_escapes_hostile_names_and_is_deterministic():
    first, second = world_map_svg(_data()), world_map_svg(_data())
    assert first == second
    assert "<script>" not in first
    assert "&lt;script&gt;" in first


def test_map_of_an_empty_capture_has_only_the_site():
    svg = world_map_svg({"site": {"label": "Paris", "latitude": 48.85, "longitude": 2.35}, "destinations": []})
    assert "<circle" not in svg and 'class="site"' in svg
    assert "No destination was judged." in svg
    assert "not given" in world_map_svg({"destinations": []})


def _flows():
    return {"ts": [1_700_000_000.0, 1_700_000_020.0, 1_700_000_030.0, 1_700_000_001.5],
            "duration": [60.0, 0.0, 5.0, 33.3],
            "id.resp_h": ["3.5.0.1", "3.5.0.2", "9.9.9.9", "1.1.1.1"],
            "orig_ip_bytes": [1001, 500, 7, 12345]}


def test_timeline_buckets_sum_to_the_bytes_sent():
    start, end, series = bucket_bytes(_data(), _flows())
    assert sum(sum(values) for values in series.values()) == 1001 + 500 + 12345  # 9.9.9.9 is no destination
    assert sum(series["3.5.0.1"]) == 1001 and len([v for v in series["3.5.0.1"] if v]) > 30  # spread over its life
    assert end - start == 60.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e5), st.floats(0, 1e4), st.integers(0, 10**12)), min_size=1, max_size=30))
def test_timeline_bucket_sums_hold_for_any_flows(rows):
    flows = {"ts": [r[0] for r in rows], "duration": [r[1] for r in rows],
             "id.resp_h": ["3.5.0.1"] * len(rows), "orig_ip_bytes": [r[2] for r in rows]}
    _, _, series = bucket_bytes(_data(), flows)
    assert sum(series["3.5.0.1"]) == sum(r[2] for r in rows)
    assert min(series["3.5.0.1"]) >= 0


def test_timeline_marks_calls_in_utc_and_escapes():
    svg = timeline_svg(_data(), _flows())
    assert svg == timeline_svg(_data(), _flows())
    assert 'class="call-start"' in svg and 'class="call-end"' in svg
    assert "22:13:20" in svg  # 1_700_000_000 is 2023-11-14 22:13:20 UTC
    assert "<script>" not in svg and "c&lt;1&gt;" in svg
    assert "No bytes sent" in timeline_svg({"destinations": []}, {"ts": []})


def test_timeline_legend_names_then_addresses_once():
    svg = timeline_svg(_data(), _flows())
    assert "3.5.0.2 (3.5.0.2)" not in svg and ">3.5.0.2<" in svg  # an unnamed destination is its address alone


def test_grouping_puts_local_and_not_assessed_apart():
    groups = grouped(_data()["destinations"])
    assert [key for key, _, _ in groups] == ["judged", "local", "not_assessed"]
    assert [d["ip"] for d in groups[1][2]] == ["10.0.0.9"]
    assert [d["ip"] for d in groups[0][2]][:2] == ["3.5.0.1", "3.5.0.2"]


def test_short_reason_is_one_short_sentence():
    long = "The region us-east-1 is in US. " + "word " * 100
    assert short_reason({"reasons": [long]}) == "The region us-east-1 is in US."
    cut = short_reason({"reasons": ["x" * 5 + " " + "word " * 100]}, limit=40)
    assert len(cut) <= 41 and cut.endswith("…")
    assert short_reason({}) == ""


def test_policy_in_force_spells_out_rules_and_exceptions():
    from tracecheck.report.policy_in_force import policy_in_force

    policy = {"authorized": ["EU", "EEA"], "indeterminate": "fail",
              "rules": [{"entry": "categories.transcription", "action": "check", "authorized": ["EU"],
                         "indeterminate": "fail", "reason": ""},
                        {"entry": "categories.telemetry", "action": "ignore", "authorized": [], "indeterminate": "warn",
                         "reason": "no personal data"}],
              "exceptions": [{"id": "scc-1", "expires": "2027-01-31", "active": True, "matched": ["3.5.0.1"],
                              "applied": ["3.5.0.1"], "selector": {"vendor": "AWS", "category": "transcription"},
                              "places": ["us-east-1"], "justification": "SCC module 2", "reference": "DPA 4.2"},
                             {"id": "old", "expires": "2020-01-01", "active": False, "matched": [], "applied": []}]}
    view = policy_in_force({"policy": policy})
    assert view["authorized"] == "EU, EEA" and view["indeterminate"] == "fail"
    assert [r["where"] for r in view["rules"]] == ["may go to EU", "ignored (not assessed)"]
    first, second = view["exceptions"]
    assert first["covers"] == "category transcription, vendor AWS" and first["places"] == "us-east-1"
    assert first["basis"] == "SCC module 2 — DPA 4.2" and first["use"] == "allowed 3.5.0.1"
    assert second["expires"] == "2020-01-01 (expired)" and second["use"] == "matched nothing in this capture"
    assert second["places"] == "anywhere" and second["covers"] == "everything"


# --------------------------------------------------------------------------- the map's places, in one pass


def _places_as_before(destinations):
    """world_map_svg's grouping as it was written before its one-pass form (world_map._places)."""
    from tracecheck.report.figures.world_map import _anycast, _mark, _placed

    judged = [d for d in destinations if d.get("verdict") != "not_assessed" and d.get("basis") != "local"]
    places, unplaced, marks = {}, [], {}
    for destination in judged:
        if _anycast(destination):
            unplaced.append(destination)
            continue
        if _placed(destination):
            point = (destination["latitude"], destination["longitude"], False)
        else:
            point = (str(destination.get("country") or "").upper(), None, True)
        if point not in marks:
            marks[point] = _mark(destination, point[2])
        if marks[point] is None:
            unplaced.append(destination)
        else:
            places.setdefault(marks[point], []).append(destination)
    return places, unplaced


_coordinate = (st.none() | st.floats() | st.integers(-200, 200) | st.booleans() | st.just("12.5")
               | st.sampled_from([90.0, -90.0, 180.0, -180.0, 90.0000001, float("nan"), float("inf"), -0.0]))
_map_destination = st.fixed_dictionaries(
    {"ip": st.sampled_from(["192.0.2.1", "192.0.2.2"]), "verdict": st.sampled_from(["violation", "indeterminate",
                                                                                      "compliant", "not_assessed"])},
    optional={"latitude": _coordinate, "longitude": _coordinate, "basis": st.sampled_from(["local", "geoip", ""]),
              "anycast": st.booleans() | st.none(), "flags": st.lists(st.sampled_from(["anycast", "rtt_implausible"])),
              "country": st.none() | st.sampled_from(["US", "de", "ZZ", ""])})


def _at(latitude, longitude, **more):
    return {"ip": "192.0.2.1", "verdict": "violation", "latitude": latitude, "longitude": longitude, **more}


@settings(max_examples=300, deadline=None)
@given(st.lists(_map_destination, max_size=12))
@example([_at(-90.0, -180.0), _at(90.0, 180.0), _at(90.0000001, 0.0), _at(0.0, -180.0000001), _at(-0.0, -0.0)])
@example([_at(float("nan"), 1.0), _at(1.0, float("inf")), _at(45, 90), _at(True, 1.0), _at("12.5", 1.0),
          _at(None, 1.0, country="de"), _at(1.0, None), _at(10.0, 10.0, anycast=True), _at(10.0, 10.0, flags=["anycast"]),
          _at(10.0, 10.0, basis="local"), _at(10.0, 10.0, verdict="not_assessed"), _at(None, None, country="ZZ")])
def test_map_places_in_one_pass_are_as_before(destinations):
    from tracecheck.report.figures.world_map import _places

    (places, unplaced), (expected, expected_unplaced) = _places(destinations), _places_as_before(destinations)
    assert list(places.items()) == list(expected.items()) and unplaced == expected_unplaced


@given(st.text(alphabet=st.characters(codec="utf-8") | st.characters() | st.sampled_from("<>&\"'\u202e\u200b "),
               max_size=80), st.integers(2, 90))
def test_figure_text_for_printable_text_is_as_character_by_character(value, limit):
    """svg.text skips its walk through the characters when the text is printable: none of the
    categories it shows is."""
    import unicodedata
    from html import escape

    from tracecheck.report.figures.svg import _INVISIBLE, text

    shown = "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) in _INVISIBLE else ch for ch in value)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    assert text(value, limit) == escape(shown, quote=True)


@settings(max_examples=1000)
@given(st.floats() | st.integers(-10 ** 6, 10 ** 6) | st.sampled_from([0.05, -0.05, 0.25, -0.25, 0.35, -0.04, -0.0, 2.0 ** 53 + 1])
       | st.integers(-40000, 40000).map(lambda k: k / 20)
       | st.tuples(st.integers(-4000, 4000), st.sampled_from([1e-13, -1e-13, 5e-17])).map(lambda p: p[0] / 20 + p[1]))
def test_a_figures_number_is_its_value_rounded_to_one_decimal(value):
    """svg.num formats without rounding first: ``.1f`` rounds as ``round(value, 1)`` does, halves included."""
    from tracecheck.report.figures.svg import num

    rounded = round(float(value), 1)
    assert num(value) == f"{rounded + 0.0:.1f}".replace("-0.0", "0.0").removesuffix(".0")


def _short_reason_as_before(destination, limit=110):
    reasons = destination.get("reasons") or []
    if not reasons:
        return ""
    reason = " ".join(str(reasons[0]).split())
    sentence_end = reason.find(". ")
    if 0 < sentence_end < limit:
        reason = reason[: sentence_end + 1]
    if len(reason) > limit:
        reason = reason[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return reason


@settings(max_examples=500)
@given(st.text(alphabet=st.characters() | st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000.,;:"), max_size=150)
       | st.lists(st.sampled_from(["word", "x.", " ", "  ", "\t", "\u3000", "é", "\u202e"]), max_size=60).map("".join),
       st.integers(5, 120))
def test_a_short_reason_is_its_words_single_spaced_for_any_text(reason, limit):
    """short_reason skips splitting a printable reason without doubled or outer spaces: such a
    reason's words are already single-spaced (the space is the one printable whitespace)."""
    assert short_reason({"reasons": [reason]}, limit) == _short_reason_as_before({"reasons": [reason]}, limit)


def test_the_space_is_the_only_printable_whitespace():
    assert [c for c in range(0x110000) if chr(c).isspace() and chr(c).isprintable()] == [0x20]
