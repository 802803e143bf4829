"""A CSV upload is read in chunks of rows (issue 16 item 1: uploads were parsed whole, ~8x the
file in memory): whatever the chunk size, the typed frame, the parse errors, the validation
report and every file-level rejection are the same as reading the file in one chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data.buffers import ColumnBuffer
from tradeopt_ml.data.ingest import BarsInvalid, UploadRejected, prepare_upload, read_upload
from tradeopt_ml.data.validation import validate

pytestmark = pytest.mark.unit

CHUNKS = (1, 2, 7)
WHOLE = 1_000_000


def _bars(n: int, *, symbol: str | None = "ABC", start: str = "2020-01-01") -> list[list[str]]:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    days = pd.date_range(start, periods=n, freq="D")
    rows = []
    for i in range(n):
        c = round(float(close[i]), 4)
        row = [str(days[i].date()), str(c), str(round(c + 1, 4)), str(round(c - 1, 4)), str(c)]
        row.append(str(int(rng.integers(1, 10_000))))
        rows.append(([symbol] if symbol else []) + row)
    return rows


def _text(header: str, rows: list[list[str]], sep: str = ",", eol: str = "\n") -> str:
    return eol.join([header, *(sep.join(r) for r in rows)]) + eol


def _messy() -> str:
    """Blank lines, missing tokens, stray text in a numeric column far from the start, integer
    then float volumes, a bad timestamp, a duplicate and an unsorted row, bad prices, and rows
    of another symbol than the upload's."""
    rows = _bars(40)
    rows[3][2] = "NA"
    rows[9][6] = "12.5"
    rows[17][3] = "abc"
    rows[21][1] = "not a date"
    rows[25][1] = rows[24][1]
    rows[30][1], rows[31][1] = rows[31][1], rows[30][1]
    rows[33][4] = "-1"
    rows[35][0] = "XYZ"
    rows[38][6] = "-5"
    lines = _text("symbol,date,open,high,low,close,volume", rows).splitlines()
    lines.insert(12, "")
    lines.insert(20, "   ")
    return "\n\n" + "\n".join(lines) + "\n\n"


def _day_first() -> str:
    """Slash dates ambiguous in the first rows; only later rows show they are day-first (the
    layout is chosen on the whole column, not per chunk)."""
    rows = _bars(40, symbol=None)
    for i, r in enumerate(rows):
        day = pd.Timestamp("2020-01-01") + pd.Timedelta(days=i)
        r[0] = day.strftime("%d/%m/%Y")
    return _text("Date,Open,High,Low,Close,Volume", rows)


def _epochs() -> str:
    rows = _bars(35, symbol=None)
    for r in rows:
        r[0] = str(int(pd.Timestamp(r[0], tz="UTC").timestamp()))
    rows[20][0] = "soon"
    return _text("timestamp,open,high,low,close,volume", rows)


def _mostly_bad_stamps() -> str:
    rows = _bars(35, symbol=None)
    for r in rows[5:]:
        r[0] = "n/a date"
    return _text("date,open,high,low,close,volume", rows)


def _date_and_time() -> str:
    rows = _bars(35, symbol=None)
    rows = [[r[0], f"{9 + i % 7:02d}:30", *r[1:]] for i, r in enumerate(rows)]
    return _text("Date,Time,Open,High,Low,Close,Volume", rows, sep=";")


def _yahoo_crlf_bom() -> str:
    rows = [[r[0], *r[1:5], r[4], r[5]] for r in _bars(35, symbol=None)]
    return "\ufeff" + _text("Date,Open,High,Low,Close,Adj Close,Volume", rows, eol="\r\n")


def _cr_only() -> str:
    return _text("date,open,high,low,close,volume", _bars(33, symbol=None), eol="\r")


def _multi_symbol() -> str:
    rows = _bars(35, symbol="AAA") + _bars(31, symbol=" BBB ") + _bars(3, symbol="")
    return _text("Ticker,Date,Open,High,Low,Close,Volume", rows, sep="|")


FILES = {
    "messy": (_messy, "ABC"),
    "day_first": (_day_first, "ABC"),
    "epochs": (_epochs, "ABC"),
    "mostly_bad_stamps": (_mostly_bad_stamps, "ABC"),
    "date_and_time": (_date_and_time, "ABC"),
    "yahoo_crlf_bom": (_yahoo_crlf_bom, "ABC"),
    "cr_only": (_cr_only, "ABC"),
    "multi_symbol": (_multi_symbol, None),
}


@pytest.mark.parametrize("case", sorted(FILES))
def test_the_result_does_not_depend_on_the_chunk_size(tmp_path: Path, case: str) -> None:
    make, symbol = FILES[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(make().encode("utf-8"))
    whole = read_upload(path, symbol=symbol, chunk_rows=WHOLE)
    report = validate(whole.frame, parse_errors=whole.parse_errors, min_rows=30).to_dict()
    assert whole.rows > 30
    for chunk_rows in CHUNKS:
        parsed = read_upload(path, symbol=symbol, chunk_rows=chunk_rows)
        pd.testing.assert_frame_equal(parsed.frame, whole.frame, check_exact=True)
        pd.testing.assert_frame_equal(parsed.parse_errors, whole.parse_errors, check_exact=True)
        assert parsed.symbols == whole.symbols
        again = validate(parsed.frame, parse_errors=parsed.parse_errors, min_rows=30).to_dict()
        assert again == report, chunk_rows


def test_rows_lines_and_problems_are_numbered_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "messy.csv"
    path.write_text(_messy())
    parsed = read_upload(path, symbol="ABC", chunk_rows=3)
    frame = parsed.frame
    assert frame["row"].tolist() == list(range(40))
    # two leading blank lines, the header on line 3, blank lines after rows 10 and 17
    assert frame["line"].iloc[[0, 10, 11, 17, 18, 39]].tolist() == [4, 14, 16, 22, 24, 45]
    with pytest.raises(BarsInvalid) as info:
        prepare_upload(path, symbol="ABC", min_rows=30)
    by_problem = {(p["row"], p["problem"]): p for p in info.value.report.problems}
    stray = by_problem[(17, "non-numeric value")]
    assert (stray["line"], stray["column"], stray["value"]) == (22, "high", "abc")
    assert by_problem[(21, "unparseable timestamp")]["value"] == "not a date"
    assert by_problem[(35, "symbol differs from the upload symbol")]["value"] == "XYZ"
    assert by_problem[(3, "missing value")]["column"] == "open"


def test_day_first_dates_are_decided_on_the_whole_column(tmp_path: Path) -> None:
    path = tmp_path / "dmy.csv"
    path.write_text(_day_first())
    frame = read_upload(path, symbol="ABC", chunk_rows=2).frame
    assert frame["timestamp"].iloc[1] == pd.Timestamp("2020-01-02", tz="UTC")
    assert frame["timestamp"].is_monotonic_increasing


def test_ragged_row_in_a_late_chunk_is_the_same_format_error(tmp_path: Path) -> None:
    rows = _bars(40)
    rows[33].append("9")
    path = tmp_path / "ragged.csv"
    path.write_text(_text("symbol,date,open,high,low,close,volume", rows))
    messages = set()
    for chunk_rows in (*CHUNKS, WHOLE):
        with pytest.raises(UploadRejected) as info:
            read_upload(path, symbol="ABC", chunk_rows=chunk_rows)
        assert info.value.kind == "format"
        messages.add(info.value.message)
    assert len(messages) == 1, messages


def test_the_row_limit_stops_reading_and_blank_lines_do_not_count(tmp_path: Path) -> None:
    path = tmp_path / "limit.csv"
    path.write_text(_messy())  # 40 data rows, 4 blank lines
    for chunk_rows in (*CHUNKS, WHOLE):
        assert read_upload(path, symbol="ABC", max_rows=40, chunk_rows=chunk_rows).rows == 40
        with pytest.raises(UploadRejected) as info:
            read_upload(path, symbol="ABC", max_rows=39, chunk_rows=chunk_rows)
        assert (info.value.kind, info.value.details) == ("too_many_rows", {"limit": 39})


def test_unreadable_rows_are_reported_before_missing_columns(tmp_path: Path) -> None:
    """As a whole-file read found them: rows are read even when the header lacks a column."""
    rows = [r[:-1] for r in _bars(40)]
    rows[35].append("x")
    rows[35].append("y")
    path = tmp_path / "noval.csv"
    path.write_text(_text("symbol,date,open,high,low,close", rows))
    with pytest.raises(UploadRejected) as info:
        read_upload(path, symbol="ABC", chunk_rows=4)
    assert info.value.kind == "format"
    header_only = tmp_path / "header.csv"
    header_only.write_text("symbol,date,open\n\n")
    with pytest.raises(UploadRejected) as info:
        read_upload(header_only, symbol="ABC", chunk_rows=4)
    assert info.value.kind == "empty"


def test_invalid_utf8_far_into_the_file_names_its_byte(tmp_path: Path) -> None:
    """The file is checked block by block: a character split across blocks is fine, and the
    first invalid byte is named by its offset (after the BOM) as a whole-file decode does."""
    row = "2024-01-01,1,2,0.5,1,10\n"
    head = "date,open,high,low,close,volume\n" + row * ((1 << 20) // len(row))
    head = head[: (1 << 20) - 1] + "\u00e9\n"  # straddles the end of the first 1 MiB block
    good = head.encode() + (row * 10).encode()
    path = tmp_path / "latin.csv"
    path.write_bytes(b"\xef\xbb\xbf" + good + b"2024-01-01,1,2,0.5,1,10 caf\xe9\n")
    with pytest.raises(UploadRejected) as info:
        read_upload(path, symbol="ABC")
    assert info.value.kind == "binary"
    assert f"(byte {len(good) + len('2024-01-01,1,2,0.5,1,10 caf')})" in info.value.message


def test_column_buffer_grows_past_a_short_estimate_and_trims_slack() -> None:
    buffer = ColumnBuffer(2, np.float64)
    for part in ([1.0], [2.0, 3.0], [4.0]):
        buffer.append(part)
    assert len(buffer) == 4
    assert buffer.result().tolist() == [1.0, 2.0, 3.0, 4.0]
    roomy = ColumnBuffer(100, np.int64)
    roomy.append(np.arange(3))
    kept = roomy.result()
    assert kept.tolist() == [0, 1, 2]
    assert kept.base is None  # copied: the spare capacity is not kept alive by a view


# ----------------------------------------------------------------------------- parquet


def _parquet_frame(n: int = 40) -> pd.DataFrame:
    """Text prices with a stray word, a missing token, a bad stamp and a mislabelled row, so
    parse errors must be numbered across row batches; plus columns the mapping ignores."""
    rows = _bars(n)
    rows[4][3] = "abc"
    rows[7][2] = "NA"
    rows[19][1] = "not a date"
    rows[33][0] = "XYZ"
    frame = pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "volume"])
    frame["volume"] = frame["volume"].astype(np.int64)
    frame["notes"] = ["x" * 50] * n  # never decoded: not a mapped column
    return frame


def test_parquet_result_does_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    # small row groups so batches cross row-group boundaries as well
    _parquet_frame().to_parquet(path, index=False, row_group_size=6)
    whole = read_upload(path, symbol="ABC", chunk_rows=WHOLE)
    assert whole.format == "parquet"
    assert whole.rows == 40
    assert sorted(whole.parse_errors["row"].tolist()) == [4, 19, 33]
    report = validate(whole.frame, parse_errors=whole.parse_errors, min_rows=30).to_dict()
    for chunk_rows in CHUNKS:
        parsed = read_upload(path, symbol="ABC", chunk_rows=chunk_rows)
        pd.testing.assert_frame_equal(parsed.frame, whole.frame, check_exact=True)
        pd.testing.assert_frame_equal(parsed.parse_errors, whole.parse_errors, check_exact=True)
        again = validate(parsed.frame, parse_errors=parsed.parse_errors, min_rows=30).to_dict()
        assert again == report, chunk_rows


def test_parquet_epoch_stamps_are_decided_on_the_whole_column(tmp_path: Path) -> None:
    """Non-text stamps make the chunked parser ask for the whole column again; it is re-read
    from the file (the stamp column only)."""
    frame = _parquet_frame().drop(columns=["notes"]).iloc[:28].copy()
    days = pd.date_range("2020-01-01", periods=28, freq="D", tz="UTC")
    frame["date"] = days.as_unit("s").asi8  # epoch seconds
    path = tmp_path / "epochs.parquet"
    frame.to_parquet(path, index=False, row_group_size=5)
    whole = read_upload(path, symbol="ABC", chunk_rows=WHOLE).frame
    chunked = read_upload(path, symbol="ABC", chunk_rows=3).frame
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    assert chunked["timestamp"].iloc[0] == pd.Timestamp("2020-01-01", tz="UTC")


def test_parquet_saved_with_a_named_date_index_keeps_its_dates(tmp_path: Path) -> None:
    """``df.set_index("Date").to_parquet(...)``, the usual way a pandas user saves bars: the
    index is the timestamp column, not something to drop."""
    n = 35
    frame = pd.DataFrame(
        {
            "Open": np.linspace(10, 20, n),
            "High": np.linspace(11, 21, n),
            "Low": np.linspace(9, 19, n),
            "Close": np.linspace(10.5, 20.5, n),
            "Volume": np.arange(1, n + 1, dtype=np.int64),
        },
        index=pd.Index(pd.date_range("2024-01-01", periods=n, freq="D"), name="Date"),
    )
    path = tmp_path / "indexed.parquet"
    frame.to_parquet(path)
    parsed = read_upload(path, symbol="IDX", chunk_rows=4)
    assert parsed.rows == n
    assert parsed.frame["timestamp"].tolist() == list(frame.index.tz_localize("UTC"))
    unnamed = tmp_path / "unnamed.parquet"
    frame.reset_index().set_index(pd.Index(range(100, 100 + n))).to_parquet(unnamed)
    again = read_upload(unnamed, symbol="IDX", chunk_rows=4)
    assert "__index_level_0__" not in again.ignored_columns
    assert again.frame["timestamp"].tolist() == parsed.frame["timestamp"].tolist()


def test_parquet_row_limit_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "limit.parquet"
    _parquet_frame().to_parquet(path, index=False)
    assert read_upload(path, symbol="ABC", max_rows=40, chunk_rows=3).rows == 40
    with pytest.raises(UploadRejected) as info:
        read_upload(path, symbol="ABC", max_rows=39, chunk_rows=3)
    assert info.value.kind == "too_many_rows"
    empty = tmp_path / "empty.parquet"
    _parquet_frame().iloc[:0].to_parquet(empty, index=False)
    with pytest.raises(UploadRejected) as info:
        read_upload(empty, symbol="ABC")
    assert info.value.kind == "empty"
