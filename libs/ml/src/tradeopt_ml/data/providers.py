"""Online market-data providers (optional; never needed by tests).

:func:`fetch_yahoo` downloads bars from Yahoo Finance through the ``yfinance`` package, which is
an optional extra (``pip install 'tradeopt-ml[online]'``) imported lazily inside the function.
Every failure -- package missing, no network, timeout, unknown symbol, empty result -- raises a
:class:`ProviderError` (network and installation problems as its subclass
:class:`ProviderUnavailable`) with a message a user can act on.

The returned frame is canonical (:mod:`tradeopt_ml.data.bars`) but not validated: the caller
(the data service's ingestion) runs :func:`~tradeopt_ml.data.bars.validate_bars` and reports bad
rows like for any upload.
"""

from __future__ import annotations

import socket
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_ml.data.bars import BAR_COLUMNS

__all__ = [
    "YAHOO_HOST",
    "YAHOO_INTERVALS",
    "ProviderError",
    "ProviderUnavailable",
    "fetch_yahoo",
    "yahoo_frame_to_bars",
]

#: Host probed before a download, so a machine without network fails fast and clearly.
YAHOO_HOST = "query1.finance.yahoo.com"
#: Intervals Yahoo Finance serves; those of a day or longer are stamped at midnight UTC.
YAHOO_INTERVALS: tuple[str, ...] = (
    "1m",
    "2m",
    "5m",
    "15m",
    "30m",
    "60m",
    "90m",
    "1h",
    "1d",
    "5d",
    "1wk",
    "1mo",
    "3mo",
)
_DAILY_OR_LONGER = frozenset({"1d", "5d", "1wk", "1mo", "3mo"})
_YAHOO_COLUMNS = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adj_close",
    "adj_close": "adj_close",
    "adjclose": "adj_close",
    "volume": "volume",
}


class ProviderError(RuntimeError):
    """A provider could not deliver the requested bars (unknown symbol, empty result, bad data)."""


class ProviderUnavailable(ProviderError):
    """The provider cannot be reached or used here (package missing, no network, timeout)."""


def yahoo_frame_to_bars(df: pd.DataFrame, symbol: str, interval: str = "1d") -> pd.DataFrame:
    """Map a yfinance history frame to a canonical bar frame.

    Accepts the shape of ``Ticker.history`` (index ``Date``/``Datetime``, columns ``Open High Low
    Close [Adj Close] Volume [Dividends Stock Splits]``) and of ``yf.download`` (two-level
    ``(field, ticker)`` columns). Rows whose prices are all missing (Yahoo pads holidays) are
    dropped; without ``Adj Close`` the close is used. Daily and longer bars are stamped at
    midnight UTC of their exchange-local date; intraday bars are converted to UTC.

    Args:
        df: The frame yfinance returned.
        symbol: Symbol to put in the ``symbol`` column.
        interval: The Yahoo interval the frame was fetched with.

    Returns:
        A canonical frame sorted by timestamp (not validated).

    Raises:
        ProviderError: no rows, or a required column is missing.
    """
    frame = df.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        levels = [frame.columns.get_level_values(i) for i in range(frame.columns.nlevels)]
        ticker_level = next(
            (i for i, values in enumerate(levels) if symbol in set(map(str, values))), None
        )
        if ticker_level is None:
            frame.columns = levels[0]
        else:
            frame = frame.xs(symbol, axis=1, level=ticker_level)
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    frame = frame.rename(columns=_YAHOO_COLUMNS)
    if not isinstance(frame.index, pd.DatetimeIndex):
        stamp_col = next((c for c in ("date", "datetime", "timestamp") if c in frame.columns), None)
        if stamp_col is None:
            raise ProviderError(f"Yahoo Finance data for {symbol} has no date index or column")
        stamps_raw = pd.DatetimeIndex(pd.to_datetime(frame[stamp_col]))
        frame = frame.drop(columns=[stamp_col]).set_index(stamps_raw)
    if "adj_close" not in frame.columns and "close" in frame.columns:
        frame["adj_close"] = frame["close"]
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in frame.columns]
    if missing:
        raise ProviderError(
            f"Yahoo Finance data for {symbol} lacks column(s): {', '.join(missing)}"
        )
    prices = ["open", "high", "low", "close", "adj_close"]
    frame = frame.loc[:, [*prices, "volume"]].astype("float64")
    frame = frame[~frame[prices].isna().all(axis=1)]
    if frame.empty:
        raise ProviderError(f"Yahoo Finance returned no bars for {symbol}")
    index = pd.DatetimeIndex(frame.index)
    if interval in _DAILY_OR_LONGER:
        local = index.tz_localize(None) if index.tz is not None else index
        stamps = local.normalize().tz_localize("UTC")
    else:
        stamps = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
    out = pd.DataFrame(
        {
            "symbol": symbol,
            "timestamp": stamps.as_unit("ns"),
            **{c: frame[c].to_numpy(np.float64) for c in [*prices, "volume"]},
        }
    )
    out["volume"] = out["volume"].fillna(0.0)
    out = out.sort_values("timestamp", kind="stable")
    out = out[~out["timestamp"].duplicated(keep="last")]
    return out.loc[:, list(BAR_COLUMNS)].reset_index(drop=True)


def _probe(host: str, port: int, timeout: float) -> None:
    """Resolve and connect to ``host:port`` (Python sockets), closing at once."""
    with socket.create_connection((host, port), timeout=timeout):
        pass


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError):
        return True
    name = type(exc).__name__.lower()
    module = type(exc).__module__.lower()
    markers = ("timeout", "connection", "dns", "resolve", "network", "ssl", "curl")
    return any(m in name for m in markers) or module.startswith(("curl_cffi", "requests"))


def _as_day(value: str | date | datetime | pd.Timestamp, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ProviderError(f"{name} is not a date: {value!r}") from exc
    if ts is pd.NaT:
        raise ProviderError(f"{name} is not a date: {value!r}")
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def fetch_yahoo(
    symbol: str,
    start: str | date | datetime | pd.Timestamp,
    end: str | date | datetime | pd.Timestamp,
    interval: str = "1d",
    timeout: float = 10,
) -> pd.DataFrame:
    """Download bars for one symbol from Yahoo Finance.

    Args:
        symbol: Yahoo ticker (``SPY``, ``^GSPC``, ``EURUSD=X``).
        start: First date (inclusive).
        end: Last date (inclusive: bars dated ``end`` are included).
        interval: One of :data:`YAHOO_INTERVALS`.
        timeout: Seconds for the connection probe and for the download.

    Returns:
        A canonical bar frame (see :func:`yahoo_frame_to_bars`).

    Raises:
        ProviderUnavailable: yfinance not installed, no network access to Yahoo Finance, timeout.
        ProviderError: bad arguments, unknown symbol or empty result, malformed data.
    """
    if interval not in YAHOO_INTERVALS:
        raise ProviderError(
            f"unsupported Yahoo interval {interval!r}; choose one of {', '.join(YAHOO_INTERVALS)}"
        )
    first = _as_day(start, "start")
    last = _as_day(end, "end")
    if last < first:
        raise ProviderError(f"end ({last.date()}) is before start ({first.date()})")
    try:
        import yfinance as yf  # optional extra, imported only when asked for
    except ImportError as exc:
        raise ProviderUnavailable(
            "the online provider needs the yfinance package: pip install 'tradeopt-ml[online]' "
            f"({exc})"
        ) from exc
    try:
        _probe(YAHOO_HOST, 443, timeout)
    except OSError as exc:
        raise ProviderUnavailable(
            f"no network access to Yahoo Finance: cannot reach {YAHOO_HOST}:443 ({exc})"
        ) from exc
    # Yahoo's ``end`` is exclusive; ours is inclusive.
    end_exclusive = last.normalize() + pd.Timedelta(days=1) if last == last.normalize() else last
    try:
        raw: Any = yf.Ticker(symbol).history(
            start=first.to_pydatetime(),
            end=end_exclusive.to_pydatetime(),
            interval=interval,
            auto_adjust=False,
            actions=False,
            timeout=timeout,
            raise_errors=True,
        )
    except Exception as exc:  # yfinance raises many unrelated types; classify them below
        if _is_network_error(exc):
            raise ProviderUnavailable(
                f"no network access to Yahoo Finance: {type(exc).__name__}: {exc}"
            ) from exc
        raise ProviderError(
            f"Yahoo Finance could not provide {symbol} {interval} bars "
            f"{first.date()}..{last.date()}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(raw, pd.DataFrame) or raw.empty:
        raise ProviderError(
            f"Yahoo Finance returned no bars for {symbol} {interval} {first.date()}..{last.date()}"
            " (unknown symbol, or no trading in that range)"
        )
    return yahoo_frame_to_bars(raw, symbol, interval)
