"""Broker adapters: one interface, the simulated broker (the execution model of
:mod:`tradeopt_ml.execution`) and the Alpaca paper-trading adapter (``alpaca-py``).

Every implementation passes the same contract suite (``tests/services/strategy/test_brokers.py``):
market orders submitted with a client order id (a retry with the same id returns the first
order), fills, cancels of open orders, positions, and a clear :class:`BrokerAuthError` for bad
credentials. Credentials come from settings/secrets (``ALPACA_API_KEY``, ``ALPACA_API_SECRET``,
``ALPACA_BASE_URL``) and never appear in an error or a log line.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np

from tradeopt_ml import execution as ex
from tradeopt_strategy.config import StrategySettings

Side = Literal["buy", "sell"]


class BrokerError(RuntimeError):
    """The broker refused or failed a request; the message says which and why."""


class BrokerAuthError(BrokerError):
    """The broker refused the credentials (a session using it halts)."""


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker reports it."""

    id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    filled_qty: float
    filled_avg_price: float | None
    status: str


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """Cash and equity of the account."""

    cash: float
    equity: float
    status: str


class Broker(Protocol):
    """What a paper session needs from a broker."""

    name: str

    def account(self) -> BrokerAccount:
        """Cash and equity (:class:`BrokerAuthError` for bad credentials)."""
        ...

    def submit_order(
        self, symbol: str, qty: float, side: Side, client_order_id: str
    ) -> BrokerOrder:
        """A market order for ``qty`` units (> 0); idempotent per ``client_order_id``."""
        ...

    def get_order(self, order_id: str) -> BrokerOrder:
        """The order's current state."""
        ...

    def cancel_order(self, order_id: str) -> None:
        """Cancel an open order (:class:`BrokerError` once it is filled)."""
        ...

    def positions(self) -> dict[str, float]:
        """Signed units held per symbol."""
        ...


class SimulatedBroker:
    """Fills market orders at the current reference price with the env's execution model
    (:func:`tradeopt_ml.execution.execute`: proportional costs, slippage against the trader).

    Args:
        cash: starting cash.
        costs: commission and slippage.
        hold_orders: leave orders open until :meth:`fill_open` (to exercise cancels).
    """

    name = "simulated"

    def __init__(
        self, cash: float, costs: ex.CostModel | None = None, *, hold_orders: bool = False
    ) -> None:
        self.cash = float(cash)
        self.costs = costs or ex.CostModel()
        self.hold_orders = hold_orders
        self.prices: dict[str, float] = {}
        self.units: dict[str, float] = {}
        self.orders: dict[str, BrokerOrder] = {}

    def set_price(self, symbol: str, price: float) -> None:
        """The reference price the next fills of ``symbol`` use (e.g. the next bar's open)."""
        self.prices[symbol] = float(price)

    def account(self) -> BrokerAccount:
        """Cash and equity marked at the reference prices."""
        held = sum(u * self.prices.get(s, 0.0) for s, u in self.units.items())
        return BrokerAccount(cash=self.cash, equity=self.cash + held, status="ACTIVE")

    def submit_order(
        self, symbol: str, qty: float, side: Side, client_order_id: str
    ) -> BrokerOrder:
        """Fill at the reference price now (or leave open with ``hold_orders``)."""
        for order in self.orders.values():
            if order.client_order_id == client_order_id:
                return order
        if qty <= 0:
            raise BrokerError(f"qty must be > 0, got {qty}")
        if symbol not in self.prices:
            raise BrokerError(f"no price for {symbol}")
        order = BrokerOrder(str(uuid.uuid4()), client_order_id, symbol, side, float(qty), 0.0,
                            None, "new")  # fmt: skip
        self.orders[order.id] = order
        if not self.hold_orders:
            self._fill(order.id)
        return self.orders[order.id]

    def fill_open(self) -> None:
        """Fill every open order at the current reference prices."""
        for order_id, order in list(self.orders.items()):
            if order.status == "new":
                self._fill(order_id)

    def _fill(self, order_id: str) -> None:
        order = self.orders[order_id]
        signed = order.qty if order.side == "buy" else -order.qty
        units = np.asarray([[self.units.get(order.symbol, 0.0)]])
        fill = ex.execute(units, np.asarray([self.cash]), units + signed,
                          np.asarray([[self.prices[order.symbol]]]), self.costs)  # fmt: skip
        self.units[order.symbol] = float(fill.units[0, 0])
        self.cash = float(fill.cash[0])
        price = float(fill.fill_price[0, 0])
        self.orders[order_id] = replace(order, filled_qty=order.qty, filled_avg_price=price,
                                        status="filled")  # fmt: skip

    def get_order(self, order_id: str) -> BrokerOrder:
        """The order (:class:`BrokerError` when unknown)."""
        try:
            return self.orders[order_id]
        except KeyError:
            raise BrokerError(f"order {order_id} not found") from None

    def cancel_order(self, order_id: str) -> None:
        """Cancel an open order."""
        order = self.get_order(order_id)
        if order.status != "new":
            raise BrokerError(f"order {order_id} is {order.status}; it cannot be canceled")
        self.orders[order_id] = replace(order, status="canceled")

    def positions(self) -> dict[str, float]:
        """Non-zero positions."""
        return {s: u for s, u in self.units.items() if u != 0.0}


class AlpacaPaperBroker:
    """Alpaca's paper-trading API through ``alpaca-py``'s ``TradingClient``.

    Args:
        api_key: ``ALPACA_API_KEY``.
        secret_key: ``ALPACA_API_SECRET``.
        base_url: ``ALPACA_BASE_URL`` (default: Alpaca's paper endpoint; tests point it at a
            local fake of the REST API).
    """

    name = "alpaca"

    def __init__(self, api_key: str, secret_key: str, base_url: str | None = None) -> None:
        from alpaca.trading.client import TradingClient

        self._client = TradingClient(
            api_key, secret_key, paper=True, url_override=base_url.rstrip("/") if base_url else None
        )

    @classmethod
    def from_settings(cls, settings: StrategySettings) -> AlpacaPaperBroker:
        """The adapter of the deployment's Alpaca settings (:class:`BrokerAuthError` when the
        keys are not configured).
        """
        if settings.alpaca_api_key is None or settings.alpaca_api_secret is None:
            raise BrokerAuthError("Alpaca credentials are not configured: set ALPACA_API_KEY "
                                  "and ALPACA_API_SECRET")  # fmt: skip
        return cls(
            settings.alpaca_api_key.get_secret_value(),
            settings.alpaca_api_secret.get_secret_value(),
            settings.alpaca_base_url,
        )

    def __repr__(self) -> str:  # never show the keys
        return "AlpacaPaperBroker()"

    def _call(self, what: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        from alpaca.common.exceptions import APIError

        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            status = exc.status_code
            if status in (401, 403):
                raise BrokerAuthError(
                    f"Alpaca refused the credentials (HTTP {status}) on {what}: check "
                    "ALPACA_API_KEY and ALPACA_API_SECRET"
                ) from None
            raise BrokerError(f"Alpaca refused {what} (HTTP {status}): {exc.message}") from None
        except Exception as exc:  # connection errors (requests)
            raise BrokerError(f"Alpaca unreachable on {what}: {type(exc).__name__}") from None

    @staticmethod
    def _order(raw) -> BrokerOrder:  # type: ignore[no-untyped-def]
        side = raw.side.value if hasattr(raw.side, "value") else str(raw.side)
        status = raw.status.value if hasattr(raw.status, "value") else str(raw.status)
        return BrokerOrder(
            id=str(raw.id),
            client_order_id=raw.client_order_id,
            symbol=raw.symbol,
            side=side,
            qty=float(raw.qty or 0),
            filled_qty=float(raw.filled_qty or 0),
            filled_avg_price=None if raw.filled_avg_price is None else float(raw.filled_avg_price),
            status=status,
        )

    def account(self) -> BrokerAccount:
        """Cash and equity."""
        acct = self._call("GET /v2/account", self._client.get_account)
        status = acct.status.value if hasattr(acct.status, "value") else str(acct.status)
        return BrokerAccount(cash=float(acct.cash or 0), equity=float(acct.equity or 0),
                             status=status)  # fmt: skip

    def submit_order(
        self, symbol: str, qty: float, side: Side, client_order_id: str
    ) -> BrokerOrder:
        """A day market order; a retry with the same client order id returns the first one."""
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import MarketOrderRequest

        with contextlib.suppress(Exception):  # not found (or refused: the submit reports it)
            return self._order(self._client.get_order_by_client_id(client_order_id))
        request = MarketOrderRequest(
            symbol=symbol, qty=qty, client_order_id=client_order_id,
            side=OrderSide.BUY if side == "buy" else OrderSide.SELL, time_in_force=TimeInForce.DAY,
        )  # fmt: skip
        return self._order(self._call("POST /v2/orders", self._client.submit_order, request))

    def get_order(self, order_id: str) -> BrokerOrder:
        """The order's state."""
        return self._order(self._call("GET /v2/orders", self._client.get_order_by_id, order_id))

    def cancel_order(self, order_id: str) -> None:
        """Cancel an open order."""
        self._call("DELETE /v2/orders", self._client.cancel_order_by_id, order_id)

    def positions(self) -> dict[str, float]:
        """Signed units per symbol."""
        rows = self._call("GET /v2/positions", self._client.get_all_positions)
        out = {}
        for p in rows:
            side = p.side.value if hasattr(p.side, "value") else str(p.side)
            qty = float(p.qty)
            out[p.symbol] = -abs(qty) if side == "short" else qty
        return out
