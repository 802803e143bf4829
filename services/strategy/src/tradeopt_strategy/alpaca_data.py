"""Alpaca's market-data REST API, the one call the bar feed needs: a symbol's bars
(``GET /v2/stocks/{symbol}/bars``, paginated by ``next_page_token``).

Errors are typed so the feed can act on them: :class:`DataAuthError` (401/403: the session
halts), :class:`DataUnavailable` (connection errors, timeouts, 429 and 5xx: retried with
backoff) and :class:`DataError` (any other refusal, e.g. an unknown symbol). Messages name the
endpoint and the HTTP status, never the keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tradeopt_strategy.config import StrategySettings

#: The length of each bar size of :data:`tradeopt_strategy.schemas.FeedTimeframe`.
TIMEFRAMES: dict[str, timedelta] = {
    "1Min": timedelta(minutes=1),
    "5Min": timedelta(minutes=5),
    "15Min": timedelta(minutes=15),
    "30Min": timedelta(minutes=30),
    "1Hour": timedelta(hours=1),
    "1Day": timedelta(days=1),
}
#: Largest page Alpaca serves.
PAGE_LIMIT = 10_000


class DataError(RuntimeError):
    """The market-data API refused the request; the message says which and why."""


class DataAuthError(DataError):
    """The market-data API refused the credentials (a feed session halts)."""


class DataUnavailable(DataError):
    """The market-data API is down, overloaded or unreachable (retry later)."""


@dataclass(frozen=True, slots=True)
class ProviderBar:
    """One bar as the provider sent it (``t``: the bar's start, UTC)."""

    t: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    def complete(self, timeframe: str, now: datetime) -> bool:
        """Whether the bar's period has ended by ``now`` (a provider also serves the bar still
        being formed: it changes until its period ends).
        """
        return self.t + TIMEFRAMES[timeframe] <= now


def _parse_time(raw: str) -> datetime:
    t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _bar(raw: dict[str, Any]) -> ProviderBar:
    try:
        return ProviderBar(
            t=_parse_time(raw["t"]),
            open=float(raw["o"]),
            high=float(raw["h"]),
            low=float(raw["l"]),
            close=float(raw["c"]),
            volume=float(raw.get("v") or 0.0),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise DataUnavailable(
            f"Alpaca market data sent an unreadable bar: {str(raw)[:200]}"
        ) from None


class AlpacaBars:
    """A client of ``GET /v2/stocks/{symbol}/bars``.

    Args:
        api_key: ``ALPACA_API_KEY``.
        secret_key: ``ALPACA_API_SECRET``.
        base_url: ``ALPACA_DATA_URL`` (default https://data.alpaca.markets; tests point it at a
            local fake).
        data_feed: ``iex`` (free accounts) or ``sip``.
        timeout: seconds per request.
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        base_url: str = "https://data.alpaca.markets",
        *,
        data_feed: str = "iex",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.data_feed = data_feed
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"APCA-API-KEY-ID": api_key, "APCA-API-SECRET-KEY": secret_key},
            timeout=timeout,
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: StrategySettings) -> AlpacaBars:
        """The client of the deployment's Alpaca settings (:class:`DataAuthError` when the keys
        are not configured).
        """
        if settings.alpaca_api_key is None or settings.alpaca_api_secret is None:
            raise DataAuthError(
                "Alpaca credentials are not configured: set ALPACA_API_KEY and ALPACA_API_SECRET"
            )
        return cls(
            settings.alpaca_api_key.get_secret_value(),
            settings.alpaca_api_secret.get_secret_value(),
            settings.alpaca_data_url,
            data_feed=settings.alpaca_data_feed,
            timeout=settings.strategy_feed_timeout_seconds,
        )

    def __repr__(self) -> str:  # never show the keys
        return f"AlpacaBars({self._client.base_url})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def bars(
        self,
        symbol: str,
        timeframe: str,
        *,
        start: datetime | None = None,
        last: int | None = None,
        now: datetime | None = None,
    ) -> list[ProviderBar]:
        """The symbol's bars, oldest first as the provider sends them: from ``start`` (inclusive)
        on, every page; or, with ``last``, the newest ``last`` bars up to ``now`` (one page;
        asked from far enough before ``now`` to hold them, weekends and holidays included).
        """
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {timeframe!r}")
        params: dict[str, Any] = {"timeframe": timeframe, "feed": self.data_feed}
        if last is not None:
            # Without a start Alpaca serves the current day only: look back far enough.
            span = TIMEFRAMES[timeframe] * last * 3 + timedelta(days=10)
            params.update(
                start=_stamp((now or datetime.now(UTC)) - span),
                sort="desc",
                limit=min(last, PAGE_LIMIT),
            )
            page = await self._page(symbol, params)
            return list(reversed([_bar(b) for b in page.get("bars") or []]))
        if start is not None:
            params["start"] = _stamp(start)
        params.update(sort="asc", limit=PAGE_LIMIT)
        out: list[ProviderBar] = []
        while True:
            page = await self._page(symbol, params)
            out += [_bar(b) for b in page.get("bars") or []]
            token = page.get("next_page_token")
            if not token:
                return out
            params["page_token"] = token

    async def _page(self, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
        what = f"GET /v2/stocks/{symbol}/bars"
        try:
            resp = await self._client.get(f"/v2/stocks/{symbol}/bars", params=params)
        except httpx.HTTPError as exc:
            raise DataUnavailable(f"Alpaca market data unreachable on {what}: "
                                  f"{type(exc).__name__}") from None  # fmt: skip
        status = resp.status_code
        if status in (401, 403):
            raise DataAuthError(
                f"Alpaca refused the market-data credentials (HTTP {status}) on {what}: check "
                "ALPACA_API_KEY and ALPACA_API_SECRET (and the data subscription of "
                "ALPACA_DATA_FEED)"
            )
        if status == 429 or status >= 500:
            raise DataUnavailable(f"Alpaca market data unavailable (HTTP {status}) on {what}")
        if status != 200:
            raise DataError(f"Alpaca refused {what} (HTTP {status}): {_message(resp)}")
        try:
            body = resp.json()
            assert isinstance(body, dict)
            return body
        except (ValueError, AssertionError):
            raise DataUnavailable(
                f"Alpaca market data sent an unreadable answer on {what}"
            ) from None


def _stamp(t: datetime) -> str:
    """RFC 3339 UTC, as Alpaca takes it."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _message(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("message", ""))[:200]
    except ValueError:
        return resp.text[:200]
