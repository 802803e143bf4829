"""read_upload: file-level rejections, format sniffing, column aliases, symbols, timestamps."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tradeopt_ml.data.ingest import UploadRejected, prepare_upload, read_upload

pytestmark = pytest.mark.unit

HEADER = "date,open,high,low,close,volume"


def _reject(path: Path, **kwargs: object) -> UploadRejected:
    with pytest.raises(UploadRejected) as info:
        read_upload(path, **{"symbol": "ABC", **kwargs})  # type: ignore[arg-type]
    return info.value


# ----------------------------------------------------------------------------- rejections


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b"")
    assert _reject(path).kind == "empty"


def test_whitespace_only_and_header_only_files_are_empty(tmp_path: Path) -> None:
    blank = tmp_path / "blank.csv"
    blank.write_text("\n  \n\n")
    assert _reject(blank).kind == "empty"
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER + "\n")
    err = _reject(header_only)
    assert err.kind == "empty"
    assert "no data rows" in err.message


def test_nul_bytes_are_binary(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(HEADER.encode() + b"\n2024-01-01,1,2\x00,0.5,1,10\n")
    err = _reject(path)
    assert err.kind == "binary"
    assert "NUL" in err.message


def test_invalid_utf8_is_binary(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(HEADER.encode() + b"\n2024-01-01,1,2,0.5,1,10 \xe9\xff\n")
    assert _reject(path).kind == "binary"


def test_png_bytes_named_csv_are_binary(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    err = _reject(path, filename="prices.csv", content_type="text/csv")
    assert err.kind == "binary"
    assert "PNG" in err.message
    assert "prices.csv" in err.message


def test_zip_and_xlsx_are_binary(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "hello")
    err = _reject(path)
    assert err.kind == "binary"
    assert "ZIP" in err.message


@pytest.mark.parametrize("media", ["image/png", "application/json", "text/html; charset=utf-8"])
def test_wrong_media_type_is_rejected(write_csv, rows, media: str) -> None:
    path = write_csv([HEADER, *rows(3)])
    err = _reject(path, content_type=media)
    assert err.kind == "media_type"
    assert err.details["media_type"] == media.split(";")[0]


@pytest.mark.parametrize(
    "media",
    [
        None,
        "text/csv",
        "text/csv; charset=utf-8",
        "text/plain",
        "application/octet-stream",
        "application/vnd.ms-excel",
        "application/vnd.apache.parquet",
    ],
)
def test_accepted_media_types(write_csv, rows, media: str | None) -> None:
    path = write_csv([HEADER, *rows(3)])
    assert read_upload(path, content_type=media, symbol="ABC", filename=None).rows == 3


def test_missing_column_names_what_is_missing_and_what_the_file_has(write_csv, rows) -> None:
    lines = [line.rsplit(",", 1)[0] for line in rows(3)]
    path = write_csv(["Date,Open,High,Low,Close", *lines])
    err = _reject(path)
    assert err.kind == "columns"
    assert err.details["missing"] == ["volume"]
    assert err.details["found"] == ["Date", "Open", "High", "Low", "Close"]
    assert "volume" in err.message
    assert "Date, Open, High, Low, Close" in err.message


def test_symbol_required_without_symbol_column(write_csv, rows) -> None:
    path = write_csv([HEADER, *rows(3)])
    with pytest.raises(UploadRejected) as info:
        read_upload(path, symbol=None)
    assert info.value.kind == "columns"
    assert info.value.details["missing"] == ["symbol"]


@pytest.mark.parametrize("bad", ["", "A B", "x" * 33, "SPY;DROP", "ÄPFEL"])
def test_invalid_symbol_argument(write_csv, rows, bad: str) -> None:
    path = write_csv([HEADER, *rows(3)])
    assert _reject(path, symbol=bad).kind == "symbol"


def test_ambiguous_columns_are_rejected(write_csv) -> None:
    path = write_csv(["date,open,o,high,low,close,volume", "2024-01-01,1,1,2,0.5,1,10"])
    err = _reject(path)
    assert err.kind == "columns"
    assert "open" in err.message


def test_too_many_rows_csv_and_parquet(write_csv, rows, tmp_path: Path) -> None:
    path = write_csv([HEADER, *rows(10)])
    assert _reject(path, max_rows=9).kind == "too_many_rows"
    assert read_upload(path, symbol="ABC", max_rows=10).rows == 10
    frame = pd.read_csv(path)
    pq_path = tmp_path / "b.parquet"
    frame.to_parquet(pq_path)
    err = _reject(pq_path, max_rows=9)
    assert err.kind == "too_many_rows"
    assert err.details["rows"] == 10


def test_blank_lines_do_not_count_towards_the_row_limit(write_csv, rows) -> None:
    path = write_csv([HEADER, "", "", *rows(3)])
    parsed = read_upload(path, symbol="ABC", max_rows=3)
    assert parsed.rows == 3
    assert parsed.frame["line"].tolist() == [4, 5, 6]


def test_corrupt_parquet_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"garbage" * 10)
    assert _reject(path).kind == "format"


def test_ragged_csv_is_a_format_error(write_csv) -> None:
    path = write_csv([HEADER, "2024-01-01,1,2,0.5,1,10", "2024-01-02,1,2,0.5,1,10,7,8"])
    err = _reject(path)
    assert err.kind == "format"


# ----------------------------------------------------------------------------- aliases / formats


def test_yahoo_style_header(write_csv) -> None:
    path = write_csv(
        [
            "Date,Open,High,Low,Close,Adj Close,Volume",
            "2024-01-02,10,11,9,10.5,10.25,100",
            "2024-01-03,10.5,12,10,11,10.75,200",
        ]
    )
    parsed = read_upload(path, symbol="SPY")
    assert parsed.has_adjusted
    assert parsed.columns["adj_close"] == "Adj Close"
    assert parsed.columns["timestamp"] == "Date"
    assert parsed.frame["adj_close"].tolist() == [10.25, 10.75]
    assert parsed.frame["timestamp"].tolist() == [
        pd.Timestamp("2024-01-02", tz="UTC"),
        pd.Timestamp("2024-01-03", tz="UTC"),
    ]
    assert parsed.symbols == ("SPY",)


@pytest.mark.parametrize(
    ("header", "adjusted"),
    [
        ("timestamp,open,high,low,close,volume", False),
        ("DateTime,O,H,L,C,V", False),
        (" Time , OPEN , High , low , Close , Vol ", False),
        ("date,open,high,low,close,adjusted_close,volume", True),
        ("date,open,high,low,close,adjclose,volume", True),
    ],
)
def test_header_aliases(write_csv, header: str, adjusted: bool) -> None:
    n = len(header.split(","))
    row = ["2024-01-02", "10", "11", "9", "10.5", "100"]
    if n == 7:
        row.insert(5, "10.4")
    path = write_csv([header, ",".join(row)])
    parsed = read_upload(path, symbol="X")
    assert parsed.has_adjusted is adjusted
    assert parsed.frame.loc[0, "high"] == 11.0
    assert parsed.frame.loc[0, "volume"] == 100.0
    assert parsed.frame.loc[0, "timestamp"] == pd.Timestamp("2024-01-02", tz="UTC")


def test_unknown_columns_are_ignored_and_listed(write_csv) -> None:
    path = write_csv(["date,open,high,low,close,volume,dividends", "2024-01-02,1,2,0.5,1,10,0"])
    parsed = read_upload(path, symbol="X")
    assert parsed.ignored_columns == ["dividends"]
    assert "dividends" not in parsed.frame.columns


@pytest.mark.parametrize(("scale", "unit"), [(1, "s"), (1000, "ms")])
def test_epoch_timestamps(write_csv, scale: int, unit: str) -> None:
    t0 = int(pd.Timestamp("2024-01-02 14:30", tz="UTC").timestamp())
    path = write_csv(
        [
            "timestamp,open,high,low,close,volume",
            f"{t0 * scale},1,2,0.5,1,10",
            f"{(t0 + 60) * scale},1,2,0.5,1,10",
        ]
    )
    stamps = read_upload(path, symbol="X").frame["timestamp"]
    assert stamps.tolist() == [
        pd.Timestamp("2024-01-02 14:30", tz="UTC"),
        pd.Timestamp("2024-01-02 14:31", tz="UTC"),
    ], unit


def test_timezones_convert_to_utc_and_dates_are_midnight(write_csv) -> None:
    path = write_csv(
        [
            HEADER,
            "2024-01-02T09:30:00-05:00,1,2,0.5,1,10",
            "2024-01-02 16:00:00+01:00,1,2,0.5,1,10",
            "2024-01-03T12:00:00Z,1,2,0.5,1,10",
            "2024-01-04,1,2,0.5,1,10",
        ]
    )
    stamps = read_upload(path, symbol="X").frame["timestamp"]
    assert str(stamps.dtype) == "datetime64[ns, UTC]"
    assert stamps.tolist() == [
        pd.Timestamp("2024-01-02 14:30", tz="UTC"),
        pd.Timestamp("2024-01-02 15:00", tz="UTC"),
        pd.Timestamp("2024-01-03 12:00", tz="UTC"),
        pd.Timestamp("2024-01-04 00:00", tz="UTC"),
    ]


def test_us_dates_and_yyyymmdd(write_csv) -> None:
    us = write_csv([HEADER, "01/31/2024,1,2,0.5,1,10", "02/01/2024,1,2,0.5,1,10"], "us.csv")
    assert read_upload(us, symbol="X").frame["timestamp"].dt.strftime("%F").tolist() == [
        "2024-01-31",
        "2024-02-01",
    ]
    compact = write_csv([HEADER, "20240131,1,2,0.5,1,10", "20240201,1,2,0.5,1,10"], "c.csv")
    assert read_upload(compact, symbol="X").frame["timestamp"].dt.strftime("%F").tolist() == [
        "2024-01-31",
        "2024-02-01",
    ]


def test_date_and_time_columns_are_combined(write_csv) -> None:
    path = write_csv(["Date,Time,Open,High,Low,Close,Volume", "2024-01-02,09:30,1,2,0.5,1,10"])
    parsed = read_upload(path, symbol="X")
    assert parsed.frame.loc[0, "timestamp"] == pd.Timestamp("2024-01-02 09:30", tz="UTC")


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_delimiter_is_sniffed(write_csv, rows, sep: str) -> None:
    lines = [HEADER.replace(",", sep), *(r.replace(",", sep) for r in rows(4))]
    parsed = read_upload(write_csv(lines), symbol="X")
    assert parsed.delimiter == sep
    assert parsed.frame["close"].tolist() == [101.0, 102.0, 103.0, 104.0]


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfDate,Open,High,Low,Close,Volume\r\n2024-01-02,1,2,0.5,1,10\r\n")
    parsed = read_upload(path, symbol="X")
    assert parsed.columns["timestamp"] == "Date"
    assert parsed.frame.loc[0, "volume"] == 10.0


# ----------------------------------------------------------------------------- symbols


def test_multi_symbol_file(write_csv) -> None:
    path = write_csv(
        [
            "ticker,date,open,high,low,close,volume",
            "AAA,2024-01-02,1,2,0.5,1,10",
            "BBB,2024-01-02,5,6,4,5,20",
            "AAA,2024-01-03,1,2,0.5,1.5,11",
            "BBB,2024-01-03,5,6,4,5.5,21",
        ]
    )
    parsed = read_upload(path, symbol=None)
    assert parsed.symbols == ("AAA", "BBB")
    prepared = prepare_upload(path, symbol=None, min_rows=2)
    assert prepared.symbols == ("AAA", "BBB")
    assert prepared.frame["symbol"].tolist() == ["AAA", "AAA", "BBB", "BBB"]
    assert prepared.frame["close"].tolist() == [1.0, 1.5, 5.0, 5.5]
    assert not prepared.has_adjusted
    assert prepared.frame["adj_close"].tolist() == prepared.frame["close"].tolist()


def test_symbol_argument_wins_and_other_rows_are_problems(write_csv) -> None:
    path = write_csv(
        [
            "symbol,date,open,high,low,close,volume",
            "AAA,2024-01-02,1,2,0.5,1,10",
            "BBB,2024-01-03,1,2,0.5,1,10",
        ]
    )
    parsed = read_upload(path, symbol="AAA")
    assert parsed.frame["symbol"].tolist() == ["AAA", "AAA"]
    errors = parsed.parse_errors
    assert errors[["row", "column", "value"]].values.tolist() == [[1, "symbol", "BBB"]]
    assert errors["problem"].tolist() == ["symbol differs from the upload symbol"]


# ----------------------------------------------------------------------------- parquet


def test_parquet_round_trip(tmp_path: Path, rows) -> None:
    n = 40
    frame = pd.DataFrame(
        {
            "Date": pd.date_range("2024-01-01", periods=n, freq="D"),
            "Open": np.linspace(10, 20, n),
            "High": np.linspace(11, 21, n),
            "Low": np.linspace(9, 19, n),
            "Close": np.linspace(10.5, 20.5, n),
            "Adj Close": np.linspace(10.4, 20.4, n),
            "Volume": np.arange(n, dtype=np.int64) * 10,
        }
    )
    path = tmp_path / "upload.bin"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    parsed = read_upload(path, symbol="PQ", content_type="application/octet-stream")
    assert parsed.format == "parquet"
    assert parsed.delimiter is None
    assert "line" not in parsed.frame.columns
    prepared = prepare_upload(path, symbol="PQ")
    out = prepared.frame
    assert prepared.has_adjusted
    assert out["timestamp"].tolist() == list(frame["Date"].dt.tz_localize("UTC"))
    np.testing.assert_array_equal(out["adj_close"].to_numpy(), frame["Adj Close"].to_numpy())
    np.testing.assert_array_equal(out["volume"].to_numpy(), frame["Volume"].to_numpy(float))


def test_parquet_string_columns_and_tz_aware_timestamps(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-02 09:30", periods=3, freq="min", tz="US/Eastern"),
            "open": ["1", "x", "1"],
            "high": [2.0, 2.0, 2.0],
            "low": [0.5, 0.5, 0.5],
            "close": [1.0, 1.0, 1.0],
            "volume": [1, 2, 3],
            "symbol": ["Q", "Q", "Q"],
        }
    )
    path = tmp_path / "x.parquet"
    frame.to_parquet(path)
    parsed = read_upload(path, symbol=None)
    assert parsed.frame.loc[0, "timestamp"] == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert parsed.parse_errors[["row", "column", "value", "problem"]].values.tolist() == [
        [1, "open", "x", "non-numeric value"]
    ]


def test_missing_tokens_versus_text_and_symbols_named_like_tokens(write_csv) -> None:
    path = write_csv(
        [
            "symbol,date,open,high,low,close,volume",
            "NA,2024-01-02,N/A,2,0.5,1,10",
            "NA,2024-01-03,1,2,0.5,1,-",
            "NA,2024-01-04,1,2,0.5,1,n.a.",
        ]
    )
    parsed = read_upload(path, symbol=None)
    assert parsed.symbols == ("NA",)
    assert parsed.parse_errors[["row", "column", "value"]].values.tolist() == [
        [2, "volume", "n.a."]
    ]
    from tradeopt_ml.data.validation import validate

    report = validate(parsed.frame, parse_errors=parsed.parse_errors, min_rows=1)
    assert [(p["row"], p["column"], p["problem"]) for p in report.problems] == [
        (0, "open", "missing value"),
        (1, "volume", "missing value"),
        (2, "volume", "non-numeric value"),
    ]


def test_epoch_column_with_a_bad_cell(write_csv) -> None:
    t0 = int(pd.Timestamp("2024-01-02", tz="UTC").timestamp())
    path = write_csv(
        [
            "timestamp,open,high,low,close,volume",
            f"{t0},1,2,0.5,1,10",
            "soon,1,2,0.5,1,10",
            f"{t0 + 86400},1,2,0.5,1,10",
        ]
    )
    parsed = read_upload(path, symbol="X")
    assert parsed.frame["timestamp"].dt.strftime("%F").tolist()[::2] == [
        "2024-01-02",
        "2024-01-03",
    ]
    assert parsed.parse_errors[["row", "column", "value", "problem"]].values.tolist() == [
        [1, "timestamp", "soon", "unparseable timestamp"]
    ]


def test_leading_blank_lines_before_header(write_csv, rows) -> None:
    parsed = read_upload(write_csv(["", "", HEADER, *rows(2)]), symbol="X")
    assert parsed.frame["line"].tolist() == [4, 5]
    assert parsed.frame["row"].tolist() == [0, 1]
