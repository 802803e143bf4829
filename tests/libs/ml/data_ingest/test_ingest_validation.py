"""validate(): every row-level problem with the right row and line, counts, cap, file order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data.ingest import BarsInvalid, prepare_upload, read_upload
from tradeopt_ml.data.validation import validate

pytestmark = pytest.mark.unit

HEADER = "date,open,high,low,close,volume"


def _report(path, min_rows: int = 1, symbol: str | None = "ABC", **kwargs):
    parsed = read_upload(path, symbol=symbol)
    return validate(parsed.frame, parse_errors=parsed.parse_errors, min_rows=min_rows, **kwargs)


def _only(report) -> dict:
    assert report.total == 1, report.problems
    return report.problems[0]


# A broken line replaces data row 3 (line 5: header is line 1) of six good rows.
@pytest.mark.parametrize(
    ("bad_line", "column", "value", "problem"),
    [
        ("not-a-date,103,105,102,104,1003", "timestamp", "not-a-date", "unparseable timestamp"),
        (
            "2024-01-03,103,105,102,104,1003",
            "timestamp",
            "2024-01-03T00:00:00+00:00",
            "duplicate timestamp",
        ),
        ("2024-01-04,103,105,102,abc,1003", "close", "abc", "non-numeric value"),
        ("2024-01-04,103,105,102,,1003", "close", None, "missing value"),
        ("2024-01-04,103,105,102,NaN,1003", "close", None, "missing value"),
        ("2024-01-04,103,103.5,102,104,1003", "high", 103.5, "high below max(open, close)"),
        ("2024-01-04,103,105,103.5,104,1003", "low", 103.5, "low above min(open, close)"),
        ("2024-01-04,103,105,102,104,-1", "volume", -1.0, "negative volume"),
    ],
)
def test_each_problem_with_row_and_line(write_csv, rows, bad_line, column, value, problem):
    lines = rows(6)
    lines[3] = bad_line
    report = _report(write_csv([HEADER, *lines]))
    assert not report.ok
    assert _only(report) == {
        "row": 3,
        "line": 5,
        "symbol": "ABC",
        "column": column,
        "value": value,
        "problem": problem,
    }
    assert report.counts == {problem: 1}
    assert report.rows_failed == 1


def test_unsorted_row_is_flagged_against_the_previous_row(write_csv, rows):
    lines = rows(6)
    lines[2], lines[3] = lines[3], lines[2]  # rows 2 and 3 swapped: row 3 is earlier than row 2
    problem = _only(_report(write_csv([HEADER, *lines])))
    assert (problem["row"], problem["line"], problem["problem"]) == (
        3,
        5,
        "timestamp earlier than the previous row",
    )


def test_non_positive_prices(write_csv, rows):
    lines = rows(4)
    lines[2] = "2024-01-03,0,105,0,104,1003"
    report = _report(write_csv([HEADER, *lines]))
    assert [
        (p["row"], p["line"], p["column"], p["value"], p["problem"]) for p in report.problems
    ] == [
        (2, 4, "open", 0.0, "non-positive price"),
        (2, 4, "low", 0.0, "non-positive price"),
    ]
    assert report.counts == {"non-positive price": 2}
    assert report.rows_failed == 1


def test_high_below_low(write_csv, rows):
    lines = rows(4)
    lines[1] = "2024-01-02,5,4,6,5,10"  # high 4 < low 6; also high<max(o,c) and low>min(o,c)
    report = _report(write_csv([HEADER, *lines]))
    assert {p["problem"] for p in report.problems} == {
        "high below low",
        "high below max(open, close)",
        "low above min(open, close)",
    }
    assert {p["row"] for p in report.problems} == {1}
    assert report.rows_failed == 1
    assert report.total == 3


def test_too_few_rows_per_symbol(write_csv, rows):
    report = _report(write_csv([HEADER, *rows(5)]), min_rows=30)
    assert report.counts == {"too few rows": 1}
    assert report.problems == [
        {
            "row": None,
            "line": None,
            "symbol": "ABC",
            "column": None,
            "value": 5,
            "problem": "too few rows",
        }
    ]
    assert _report(write_csv([HEADER, *rows(30)]), min_rows=30).ok


def test_default_minimum_is_30_rows(write_csv, rows):
    with pytest.raises(BarsInvalid) as info:
        prepare_upload(write_csv([HEADER, *rows(29)]), symbol="ABC")
    assert info.value.report.counts == {"too few rows": 1}
    assert prepare_upload(write_csv([HEADER, *rows(30)]), symbol="ABC").rows == 30


def test_blank_lines_shift_line_numbers_but_not_rows(write_csv, rows):
    lines = rows(4)
    lines[2] = "2024-01-03,103,105,102,104,-7"
    problem = _only(_report(write_csv([HEADER, "", *lines[:2], "", *lines[2:]])))
    assert (problem["row"], problem["line"]) == (2, 6)


def test_cap_and_counts_over_all_rows(write_csv, rows):
    lines = rows(200)
    for i in range(0, 200, 2):  # 100 rows with negative volume
        lines[i] = lines[i].rsplit(",", 1)[0] + ",-1"
    lines[199] = "bad," + lines[199].split(",", 1)[1]
    report = _report(write_csv([HEADER, *lines]), max_problems=50)
    assert report.counts == {"negative volume": 100, "unparseable timestamp": 1}
    assert report.total == 101
    assert report.rows_failed == 101
    assert report.truncated
    assert len(report.problems) == 50
    assert [p["row"] for p in report.problems] == list(range(0, 100, 2))
    assert [p["line"] for p in report.problems] == list(range(2, 102, 2))


def test_problems_are_listed_in_file_order_across_checks(write_csv, rows):
    lines = rows(6)
    lines[4] = "2024-01-05,103,105,102,104,-1"
    lines[1] = "2024-01-02,103,105,102,-104,1001"
    lines[3] = "zzz,103,105,102,104,1003"
    report = _report(write_csv([HEADER, *lines]))
    assert [(p["row"], p["problem"]) for p in report.problems] == [
        (1, "non-positive price"),
        (1, "low above min(open, close)"),
        (3, "unparseable timestamp"),
        (4, "negative volume"),
    ]


def test_message_and_bars_invalid(write_csv, rows):
    lines = rows(40)
    lines[5] = "2024-01-06,103,103.5,102,104,1003"
    lines[6] = "2024-01-07,103,103.5,102,104,1003"
    lines[9] = lines[8]
    with pytest.raises(BarsInvalid) as info:
        prepare_upload(write_csv([HEADER, *lines]), symbol="ABC")
    err = info.value
    assert str(err) == (
        "3 rows failed validation: 2 \u00d7 high below max(open, close), "
        "1 \u00d7 duplicate timestamp"
    )
    assert err.report.to_dict()["counts"] == {
        "high below max(open, close)": 2,
        "duplicate timestamp": 1,
    }
    assert [p["row"] for p in err.problems] == [5, 6, 9]


def test_symbol_mismatch_and_invalid_symbols(write_csv):
    path = write_csv(
        [
            "symbol,date,open,high,low,close,volume",
            "AAA,2024-01-02,1,2,0.5,1,10",
            "BAD SYM,2024-01-03,1,2,0.5,1,10",
            ",2024-01-04,1,2,0.5,1,10",
        ]
    )
    report = _report(path, symbol=None)
    assert [(p["row"], p["value"], p["problem"]) for p in report.problems] == [
        (1, "BAD SYM", "invalid symbol"),
        (2, "", "invalid symbol"),
    ]
    report = _report(path, symbol="AAA")
    assert report.counts == {"symbol differs from the upload symbol": 2}


def test_duplicates_are_per_symbol(write_csv):
    path = write_csv(
        [
            "symbol,date,open,high,low,close,volume",
            "AAA,2024-01-02,1,2,0.5,1,10",
            "BBB,2024-01-02,1,2,0.5,1,10",
            "AAA,2024-01-02,1,2,0.5,1,10",
        ]
    )
    report = _report(path, symbol=None)
    assert [(p["row"], p["symbol"], p["problem"]) for p in report.problems] == [
        (2, "AAA", "duplicate timestamp")
    ]


def test_plain_frame_without_row_columns():
    frame = pd.DataFrame(
        {
            "symbol": ["X"] * 3,
            "timestamp": pd.date_range("2024-01-01", periods=3, tz="UTC"),
            "open": [1.0, 1.0, 1.0],
            "high": [2.0, 2.0, 2.0],
            "low": [0.5, -0.5, 0.5],
            "close": [1.0, 1.0, 1.0],
            "adj_close": [1.0, 1.0, np.nan],
            "volume": [1.0, 1.0, 1.0],
        }
    )
    report = validate(frame, min_rows=1)
    assert [(p["row"], p["line"], p["column"], p["problem"]) for p in report.problems] == [
        (1, None, "low", "non-positive price"),
        (2, None, "adj_close", "missing value"),
    ]


def test_large_frame_is_counted_exactly():
    n = 200_000
    rng = np.random.default_rng(0)
    close = 100 + rng.standard_normal(n).cumsum() * 0.01
    frame = pd.DataFrame(
        {
            "symbol": np.where(np.arange(n) % 2 == 0, "A", "B"),
            "timestamp": pd.DatetimeIndex(
                np.repeat(
                    np.datetime64("2000-01-01", "ns") + np.arange(n // 2).astype("timedelta64[m]"),
                    2,
                )
            ).tz_localize("UTC"),
            "open": close,
            "high": close + 0.1,
            "low": close - 0.1,
            "close": close,
            "volume": np.ones(n),
        }
    )
    bad = rng.choice(n, size=1234, replace=False)
    frame.loc[bad, "volume"] = -1.0
    report = validate(frame)
    assert report.counts == {"negative volume": 1234}
    assert [p["row"] for p in report.problems] == sorted(bad.tolist())[:50]
