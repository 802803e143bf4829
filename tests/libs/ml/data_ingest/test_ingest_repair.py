"""apply_repairs: each repair, its report, its order, and validation after repairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data.ingest import BarsInvalid, prepare_upload, read_upload
from tradeopt_ml.data.repair import apply_repairs
from tradeopt_ml.data.validation import validate

pytestmark = pytest.mark.unit

HEADER = "date,open,high,low,close,volume"


def test_nothing_is_repaired_unless_asked(write_csv, rows):
    lines = rows(5)
    lines[1], lines[2] = lines[2], lines[1]
    parsed = read_upload(write_csv([HEADER, *lines]), symbol="X")
    out, report = apply_repairs(parsed.frame, [])
    assert report.applied == []
    assert not report.changed
    pd.testing.assert_frame_equal(out, parsed.frame)
    assert out is not parsed.frame


def test_sort_reports_moved_rows_and_keeps_file_rows(write_csv, rows):
    lines = rows(6)
    lines[1], lines[4] = lines[4], lines[1]
    path = write_csv([HEADER, *lines])
    parsed = read_upload(path, symbol="X")
    assert validate(parsed.frame, min_rows=1).counts == {
        "timestamp earlier than the previous row": 2
    }
    out, report = apply_repairs(parsed.frame, ["sort"])
    action = report.get("sort")
    assert action is not None
    assert action.changed == 2
    assert action.rows == [1, 4]
    assert out["timestamp"].is_monotonic_increasing
    assert out["row"].tolist() == [0, 4, 2, 3, 1, 5]
    assert validate(out, min_rows=1).ok
    prepared = prepare_upload(path, symbol="X", repairs=["sort"], min_rows=1)
    assert prepared.report.to_dict() == {
        "applied": ["sort"],
        "actions": [{"repair": "sort", "changed": 2, "rows": [1, 4], "detail": {}}],
    }
    with pytest.raises(BarsInvalid):
        prepare_upload(path, symbol="X", min_rows=1)


def test_sort_puts_unparseable_timestamps_last_and_they_stay_reported(write_csv, rows):
    lines = rows(4)
    lines[0] = "nope,1,2,0.5,1,10"
    parsed = read_upload(write_csv([HEADER, *lines]), symbol="X")
    out, _ = apply_repairs(parsed.frame, ["sort"])
    assert out["row"].tolist() == [1, 2, 3, 0]
    report = validate(out, parse_errors=parsed.parse_errors, min_rows=1)
    assert [(p["row"], p["line"], p["problem"]) for p in report.problems] == [
        (0, 2, "unparseable timestamp")
    ]


def test_sort_is_by_symbol_then_timestamp(write_csv):
    path = write_csv(
        [
            "symbol,date,open,high,low,close,volume",
            "BBB,2024-01-02,1,2,0.5,1,10",
            "AAA,2024-01-03,1,2,0.5,1,10",
            "AAA,2024-01-02,1,2,0.5,1,10",
        ]
    )
    out, _ = apply_repairs(read_upload(path, symbol=None).frame, ["sort"])
    assert out["row"].tolist() == [2, 1, 0]


def test_drop_duplicates_keeps_the_last_row_in_file_order(write_csv, rows):
    lines = rows(5)
    lines.insert(3, lines[1].replace(",1001", ",9999"))  # row 3 duplicates row 1, later in file
    path = write_csv([HEADER, *lines])
    parsed = read_upload(path, symbol="X")
    out, report = apply_repairs(parsed.frame, ["drop_duplicates"])
    action = report.get("drop_duplicates")
    assert action is not None
    assert (action.changed, action.rows) == (1, [1])
    assert out["row"].tolist() == [0, 2, 3, 4, 5]
    assert out.loc[out["row"] == 3, "volume"].item() == 9999.0
    # Duplicate row 3 is also out of order; sorting first leaves a clean frame.
    prepared = prepare_upload(path, symbol="X", repairs=["drop_duplicates", "sort"], min_rows=1)
    assert prepared.report.applied == ["sort", "drop_duplicates"]
    assert prepared.rows == 5
    assert prepared.frame["volume"].tolist() == [1000.0, 9999.0, 1002.0, 1003.0, 1004.0]


def test_drop_duplicates_is_per_symbol(write_csv):
    path = write_csv(
        [
            "symbol,date,open,high,low,close,volume",
            "AAA,2024-01-02,1,2,0.5,1,10",
            "BBB,2024-01-02,1,2,0.5,1,10",
        ]
    )
    _, report = apply_repairs(read_upload(path, symbol=None).frame, ["drop_duplicates"])
    assert report.get("drop_duplicates").changed == 0


def test_ffill_fills_forward_within_symbol_never_backward(write_csv):
    path = write_csv(
        [
            "symbol,date,open,high,low,close,volume",
            "AAA,2024-01-02,,2,0.5,1,10",  # leading NaN: stays
            "AAA,2024-01-03,1.5,2,0.5,1,10",
            "BBB,2024-01-02,5,6,4,5,20",
            "AAA,2024-01-04,,2,0.5,,",  # filled from AAA row 1, not from BBB
            "BBB,2024-01-03,5,6,4,5,",
        ]
    )
    parsed = read_upload(path, symbol=None)
    out, report = apply_repairs(parsed.frame, ["ffill"])
    action = report.get("ffill")
    assert action is not None
    assert action.changed == 4
    assert action.detail == {"open": 1, "close": 1, "volume": 2}
    assert action.rows == [3, 4]
    assert out["open"].tolist()[1:] == [1.5, 5.0, 1.5, 5.0]
    assert np.isnan(out.loc[0, "open"])
    assert out["close"].tolist()[3] == 1.0
    assert out["volume"].tolist() == [10.0, 10.0, 20.0, 10.0, 20.0]
    report_after = validate(out, parse_errors=parsed.parse_errors, min_rows=1)
    assert [(p["row"], p["column"], p["problem"]) for p in report_after.problems] == [
        (0, "open", "missing value")
    ]


def test_ffill_after_sort_uses_the_sorted_previous_row(write_csv, rows):
    lines = rows(4)
    lines[2] = "2024-01-03,,105,101,103,1002"
    lines[1], lines[2] = lines[2], lines[1]  # the NaN row comes before its predecessor in file
    path = write_csv([HEADER, *lines])
    prepared = prepare_upload(path, symbol="X", repairs=["ffill", "sort"], min_rows=1)
    assert prepared.report.applied == ["sort", "ffill"]
    assert prepared.frame["open"].tolist() == [100.0, 101.0, 101.0, 103.0]


def test_unknown_repair_is_an_error(write_csv, rows):
    parsed = read_upload(write_csv([HEADER, *rows(3)]), symbol="X")
    with pytest.raises(ValueError, match="unknown repair"):
        apply_repairs(parsed.frame, ["interpolate"])  # type: ignore[list-item]
