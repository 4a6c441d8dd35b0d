"""Impossible dates (and other values that cannot be read) in hand-written YAML (policies,
--catalog files): one line naming the file, the line and the field, exit 2 -- never the
ValueError PyYAML's timestamp constructor raises."""

from __future__ import annotations

from pathlib import Path

import fake_geo
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cli_runner import one_line, run
from tracecheck.errors import UserError
from tracecheck.policy.model import Policy, parse_policy
from tracecheck.yamlfile import parse_yaml

DEMO = Path(__file__).resolve().parents[1] / "captures" / "demo-call.pcapng"
POLICY = """\
name: dated
authorized:
  jurisdictions: [EU]
exceptions:
  - id: EXC-1
    vendor: Deepgram
    justification: qualifying the EU endpoint
    reference: SCC 2021/914 module 2
    expires: {expires}
"""


@pytest.fixture(autouse=True)
def geo(monkeypatch):
    return fake_geo.install(monkeypatch)


@pytest.mark.parametrize("value, reason", [
    ("2026-13-45", "month must be in 1..12"),
    ("2026-02-30", "day is out of range for month"),
    ("0000-01-01", "year 0 is out of range"),
    ("2026-01-01T25:00:00Z", "hour must be in 0..23"),
])
def test_policy_check_names_the_line_of_an_impossible_date(monkeypatch, capsys, tmp_path, value, reason):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(expires=value))
    code, out, err = run(monkeypatch, capsys, "policy", "check", str(path))
    line = one_line(err)
    assert code == 2 and out == ""
    assert line.startswith(f"tracecheck: {path}:9: exceptions[0].expires: '{value}' is not a date that exists")
    assert reason in line and "write a date like 2026-12-31" in line


def test_analyze_with_such_a_policy_is_the_same_one_line(monkeypatch, capsys, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(expires="2026-13-45"))
    code, out, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "analyze", str(DEMO),
                         "--policy", str(path), "--out", str(tmp_path / "report"))
    assert code == 2 and f"{path}:9: exceptions[0].expires: '2026-13-45' is not a date that exists" in one_line(err)
    assert not (tmp_path / "report" / "report.json").exists()


def test_an_impossible_date_in_a_catalog_file(monkeypatch, capsys, tmp_path):
    catalog = tmp_path / "services.yaml"
    catalog.write_text("version: 1\nservices:\n  - vendor: Acme\n    name: Notes\n    category: other\n"
                       "    source: https://acme.example/hosts\n    patterns: ['*.acme.example']\n"
                       "    notes: 2026-02-30\n")
    code, out, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "analyze", str(DEMO),
                         "--catalog", str(catalog), "--out", str(tmp_path / "report"))
    assert code == 2
    assert f"{catalog}:8: services[0].notes: '2026-02-30' is not a date that exists" in one_line(err)


def test_anywhere_in_the_file_even_where_no_date_is_expected():
    with pytest.raises(UserError) as err:
        parse_yaml("a:\n  - [x, 2026-02-29]\n", "f.yaml")
    assert str(err.value).startswith("f.yaml:2: a[0][1]: '2026-02-29' is not a date that exists")
    with pytest.raises(UserError, match=r"^f.yaml:3: '2026-02-29' is not a date that exists"):
        parse_yaml("a: 1\n\n2026-02-29: key\n", "f.yaml")  # a key has no path of its own: the line says where


def test_other_scalars_that_cannot_be_built_are_one_line_too():
    for text, what in (("n: !!int ten\n", "'ten' is not a valid int"), ("b: !!bool maybe\n", "'maybe' is not a valid bool"),
                       ("f: !!float x1\n", "'x1' is not a valid float"), ("t: !!timestamp soon\n", "'soon' is not a date")):
        with pytest.raises(UserError, match=rf"^f.yaml:1: {text[0]}: {what}"):
            parse_yaml(text, "f.yaml")


def test_a_file_nested_hundreds_deep_is_one_line(monkeypatch, capsys, tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\nauthorized: " + "[" * 3000 + "]" * 3000 + "\n")
    code, _, err = run(monkeypatch, capsys, "policy", "check", str(path))
    assert code == 2 and one_line(err) == f"tracecheck: {path}: nested too deeply to read; a policy or catalog " \
                                          "needs a few levels, not hundreds"


def test_real_dates_are_still_dates():
    doc = parse_yaml("d: 2028-02-29\nt: 2026-05-04T09:00:00Z\n", "f.yaml")
    assert doc.data["d"].isoformat() == "2028-02-29" and doc.data["t"].isoformat() == "2026-05-04T09:00:00+00:00"


# --------------------------------------------------------------------------- fuzz

def _digits(low: int, high: int, widths: tuple[int, ...]) -> st.SearchStrategy[str]:
    return st.builds(lambda n, w: str(n).zfill(w), st.integers(low, high), st.sampled_from(widths))


_zone = st.one_of(st.just(""), st.sampled_from(["Z", "z"]),
                  st.builds(lambda sign, h, m: f"{sign}{h}{m}", st.sampled_from("+-"), _digits(0, 99, (1, 2)),
                            st.sampled_from(["", ":00", ":30", ":99"])))
_time = st.builds(lambda sep, h, m, s, frac, zone: f"{sep}{h}:{m}:{s}{frac}{zone}",
                  st.sampled_from(["T", "t", " ", "  "]), _digits(0, 99, (1, 2)), _digits(0, 99, (2,)),
                  _digits(0, 99, (2,)), st.sampled_from(["", ".5", ".123456", ".1234567890"]), _zone)
DATE_LIKE = st.one_of(
    st.builds(lambda y, m, d, t: f"{y}-{m}-{d}{t}", _digits(0, 9999, (4,)), _digits(0, 99, (1, 2)),
              _digits(0, 99, (1, 2)), st.one_of(st.just(""), _time)),
    st.text(alphabet="0123456789-:Tt .Zz+", min_size=1, max_size=30),
)
PLACES = [
    POLICY.replace("{expires}", "{v}"),
    "name: x\nauthorized:\n  jurisdictions: [EU]\nscope:\n  start: {v}\n  end: 2026-05-04T09:30:00Z\n",
    "name: x\nauthorized:\n  jurisdictions: [EU]\nscope:\n  end: {v}\n",
    "name: {v}\nauthorized:\n  countries: [IE]\n",
    "name: x\ndescription: {v}\nauthorized:\n  countries: [IE]\n",
    "name: x\nauthorized:\n  countries: [{v}]\n",
    "name: x\nauthorized:\n  countries: [IE]\nvendors:\n  {v}: ignore\n",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=DATE_LIKE, place=st.sampled_from(PLACES))
@example(value="2026-13-45", place=PLACES[0])
@example(value="9999-12-31T23:59:59-01:00", place=PLACES[1])
@example(value="0001-01-01T00:00:00+14:00", place=PLACES[2])
def test_date_like_scalars_make_a_policy_or_a_user_error(value, place):
    try:
        parsed = parse_policy(place.replace("{v}", value), "p.yaml")
    except UserError as err:
        assert str(err).startswith("p.yaml:") and "\n" not in str(err)
    else:
        assert isinstance(parsed, Policy)


def test_libyaml_reads_the_shipped_files_exactly_as_pure_python_does():
    import yaml

    from tracecheck.resources import geo_db_dir
    from tracecheck.yamlfile import SAFE_LOADER

    assert SAFE_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the fast one wherever it exists
    shipped = sorted(geo_db_dir().glob("*.yaml")) + sorted(
        (Path(__file__).resolve().parents[1] / "tracecheck" / "policy" / "templates").glob("*.yaml"))
    assert len(shipped) >= 6
    for path in shipped:
        text = path.read_text(encoding="utf-8")
        fast = parse_yaml(text, path.name)
        assert fast.data == yaml.load(text, Loader=yaml.SafeLoader), path.name  # noqa: S506
        assert len(fast.lines) > 1  # every value kept its line
