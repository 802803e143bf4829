"""Yahoo Finance connector, fully offline: blocked sockets, fake yfinance, column mapping."""

from __future__ import annotations

import socket
import sys
import types
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data import BAR_COLUMNS, providers, validate_bars
from tradeopt_ml.data.providers import (
    ProviderError,
    ProviderUnavailable,
    fetch_yahoo,
    yahoo_frame_to_bars,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(5)]


def yahoo_like(tz: str = "America/New_York", intraday: bool = False) -> pd.DataFrame:
    """A frame shaped like ``yf.Ticker(...).history(auto_adjust=False)``."""
    if intraday:
        index = pd.date_range("2024-01-02 09:30", periods=4, freq="h", tz=tz, name="Datetime")
    else:
        index = pd.DatetimeIndex(
            ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], name="Date"
        ).tz_localize(tz)
    return pd.DataFrame(
        {
            "Open": [470.0, 468.0, np.nan, 467.0],
            "High": [472.0, 469.5, np.nan, 470.0],
            "Low": [468.5, 466.0, np.nan, 466.5],
            "Close": [471.0, 467.0, np.nan, 469.0],
            "Adj Close": [465.0, 461.0, np.nan, 463.0],
            "Volume": [1_000_000, 1_200_000, 0, 900_000],
            "Dividends": [0.0, 0.0, 0.0, 0.0],
            "Stock Splits": [0.0, 0.0, 0.0, 0.0],
        },
        index=index,
    )


@pytest.fixture
def blocked_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DNS, no connections (like this sandbox, but instantly)."""

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (blocked in tests)")

    def no_connect(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("network blocked in tests")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket.socket, "connect", no_connect)


@pytest.fixture
def fake_yfinance(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A stand-in ``yfinance`` module whose ``Ticker.history`` is scripted by the test."""
    state = types.SimpleNamespace(result=None, calls=[])

    class Ticker:
        def __init__(self, symbol: str) -> None:
            self.symbol = symbol

        def history(self, **kwargs: Any) -> Any:
            state.calls.append((self.symbol, kwargs))
            if isinstance(state.result, BaseException):
                raise state.result
            return state.result

    module = types.ModuleType("yfinance")
    module.Ticker = Ticker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "yfinance", module)
    monkeypatch.setattr(providers, "_probe", lambda host, port, timeout: None)
    return state


class TestMapping:
    def test_daily_history_frame(self) -> None:
        bars = yahoo_frame_to_bars(yahoo_like(), "SPY")
        assert tuple(bars.columns) == BAR_COLUMNS
        assert len(bars) == 3  # the all-NaN holiday row is dropped
        assert bars["timestamp"].tolist() == [
            pd.Timestamp("2024-01-02", tz="UTC"),
            pd.Timestamp("2024-01-03", tz="UTC"),
            pd.Timestamp("2024-01-05", tz="UTC"),
        ]
        assert (bars["symbol"] == "SPY").all()
        assert bars["adj_close"].tolist() == [465.0, 461.0, 463.0]
        assert bars["close"].tolist() == [471.0, 467.0, 469.0]
        assert bars["volume"].dtype == np.float64
        validate_bars(bars)

    def test_intraday_is_converted_to_utc(self) -> None:
        bars = yahoo_frame_to_bars(yahoo_like(intraday=True), "SPY", interval="1h")
        assert bars["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")

    def test_download_multiindex_without_adj_close(self) -> None:
        frame = yahoo_like().drop(columns=["Adj Close", "Dividends", "Stock Splits"])
        frame.columns = pd.MultiIndex.from_product(
            [frame.columns, ["QQQ"]], names=["Price", "Ticker"]
        )
        bars = yahoo_frame_to_bars(frame, "QQQ")
        assert (bars["adj_close"] == bars["close"]).all()
        assert len(bars) == 3

    def test_date_column_instead_of_index(self) -> None:
        frame = yahoo_like(tz="UTC").reset_index()
        bars = yahoo_frame_to_bars(frame, "GLD")
        assert bars["timestamp"].iloc[-1] == pd.Timestamp("2024-01-05", tz="UTC")

    def test_errors(self) -> None:
        with pytest.raises(ProviderError, match="lacks column"):
            yahoo_frame_to_bars(yahoo_like().drop(columns=["Volume"]), "SPY")
        with pytest.raises(ProviderError, match="no bars"):
            yahoo_frame_to_bars(yahoo_like().iloc[2:3], "SPY")


class TestFetch:
    def test_blocked_network_gives_clear_error(
        self, blocked_network: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        class Ticker:
            def __init__(self, symbol: str) -> None:
                raise AssertionError("the download must not start without network")

        module = types.ModuleType("yfinance")
        module.Ticker = Ticker  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "yfinance", module)
        with pytest.raises(ProviderUnavailable, match="no network access to Yahoo Finance"):
            fetch_yahoo("SPY", "2024-01-01", "2024-02-01", timeout=1)

    def test_blocked_network_with_real_yfinance(self, blocked_network: None) -> None:
        pytest.importorskip("yfinance")
        with pytest.raises(ProviderUnavailable, match="no network access to Yahoo Finance"):
            fetch_yahoo("SPY", "2024-01-01", "2024-02-01", timeout=1)

    def test_probe_itself_honours_blocked_sockets(self, blocked_network: None) -> None:
        with pytest.raises(OSError, match="blocked in tests"):
            providers._probe(providers.YAHOO_HOST, 443, 1)

    def test_missing_package(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "yfinance", None)
        with pytest.raises(ProviderUnavailable, match=r"tradeopt-ml\[online\]"):
            fetch_yahoo("SPY", "2024-01-01", "2024-02-01")

    def test_success_maps_and_passes_inclusive_end(self, fake_yfinance: Any) -> None:
        fake_yfinance.result = yahoo_like()
        bars = fetch_yahoo("SPY", "2024-01-02", "2024-01-05", timeout=3)
        assert len(bars) == 3
        symbol, kwargs = fake_yfinance.calls[0]
        assert symbol == "SPY"
        assert kwargs["end"] == pd.Timestamp("2024-01-06").to_pydatetime()  # exclusive for Yahoo
        assert kwargs["auto_adjust"] is False
        assert kwargs["timeout"] == 3

    def test_empty_result_is_unknown_symbol(self, fake_yfinance: Any) -> None:
        fake_yfinance.result = pd.DataFrame()
        with pytest.raises(ProviderError, match="no bars for NOPE") as info:
            fetch_yahoo("NOPE", "2024-01-01", "2024-02-01")
        assert not isinstance(info.value, ProviderUnavailable)

    def test_network_failure_inside_yfinance(self, fake_yfinance: Any) -> None:
        fake_yfinance.result = TimeoutError("read timed out")
        with pytest.raises(ProviderUnavailable, match=r"no network access.*timed out"):
            fetch_yahoo("SPY", "2024-01-01", "2024-02-01")

    def test_other_yfinance_failure(self, fake_yfinance: Any) -> None:
        class YFTickerMissingError(Exception):
            pass

        fake_yfinance.result = YFTickerMissingError("$NOPE: possibly delisted")
        with pytest.raises(ProviderError, match=r"could not provide NOPE.*delisted") as info:
            fetch_yahoo("NOPE", "2024-01-01", "2024-02-01")
        assert not isinstance(info.value, ProviderUnavailable)

    def test_argument_errors(self) -> None:
        with pytest.raises(ProviderError, match="unsupported Yahoo interval"):
            fetch_yahoo("SPY", "2024-01-01", "2024-02-01", interval="7d")
        with pytest.raises(ProviderError, match="before start"):
            fetch_yahoo("SPY", "2024-02-01", "2024-01-01")
