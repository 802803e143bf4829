"""The one execution model: fills, costs, slippage, positions, cash, value and bust detection.

Every consumer (the training environment's ``step``, the batched vector env, the vectorised
backtest engine, paper trading) calls these functions, so fills and cost accounting exist once.

Conventions
-----------
* Arrays are **batch-first**: positions are ``(B, N)`` (``B`` independent portfolios — env copies
  or parameter sets — of ``N`` assets), cash and values are ``(B,)``. A single portfolio is
  ``B = 1``. Functions never loop over ``B`` or ``N`` in Python.
* **Positions are held in units** (shares, fractional allowed; negative = short). Agents and
  strategies express *target weights* (signed fraction of portfolio value per asset);
  :func:`target_units` converts them at the fill price.
* **Cash** is signed: buying on margin makes it negative, shorting credits the sale proceeds.
  No financing or borrow fees are charged (a later issue may add a rate per bar).
* **Portfolio value** ``V = cash + sum(units * mark_price)``.
* **Costs** are proportional: a commission of ``cost_bps`` and a slippage of ``slippage_bps``,
  both on traded notional ``|Δunits| * reference_price``. Slippage moves the fill price against
  the trader: buys fill at ``price * (1 + slip)``, sells at ``price * (1 - slip)``. The target
  size is computed from the pre-trade value, so costs make the realised weight a hair smaller
  than the target (the usual approximation; exact for zero costs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BPS = 1e-4
_TINY = 1e-12


@dataclass(frozen=True, slots=True)
class CostModel:
    """Proportional trading costs.

    Args:
        cost_bps: commission/fees in basis points of traded notional.
        slippage_bps: price impact in basis points; buys pay more, sells receive less.
    """

    cost_bps: float = 0.0
    slippage_bps: float = 0.0

    def __post_init__(self) -> None:
        if self.cost_bps < 0 or self.slippage_bps < 0:
            raise ValueError("cost_bps and slippage_bps must be >= 0")

    @property
    def cost_rate(self) -> float:
        """Commission as a fraction of notional."""
        return self.cost_bps * BPS

    @property
    def slip_rate(self) -> float:
        """Slippage as a fraction of notional."""
        return self.slippage_bps * BPS

    @property
    def total_rate(self) -> float:
        """Commission plus slippage as a fraction of notional."""
        return (self.cost_bps + self.slippage_bps) * BPS


@dataclass(slots=True)
class Fill:
    """The result of executing orders for a batch of portfolios (all arrays batch-first).

    Attributes:
        units: ``(B, N)`` positions after the fill.
        cash: ``(B,)`` cash after paying for the trades and their costs.
        traded: ``(B, N)`` signed units traded (``> 0`` bought, ``< 0`` sold).
        notional: ``(B, N)`` traded notional at the reference price, ``|traded| * price``.
        cost: ``(B, N)`` commission plus slippage paid.
        price: ``(B, N)`` reference price (before slippage).
        slip_rate: slippage fraction used.
    """

    units: np.ndarray
    cash: np.ndarray
    traded: np.ndarray
    notional: np.ndarray
    cost: np.ndarray
    price: np.ndarray
    slip_rate: float

    @property
    def fill_price(self) -> np.ndarray:
        """``(B, N)`` effective execution price including slippage (reference where no trade)."""
        return self.price * (1.0 + self.slip_rate * np.sign(self.traded))

    @property
    def slippage(self) -> np.ndarray:
        """``(B, N)`` slippage part of :attr:`cost`."""
        return self.notional * self.slip_rate

    @property
    def commission(self) -> np.ndarray:
        """``(B, N)`` commission part of :attr:`cost`."""
        return self.cost - self.slippage

    @property
    def traded_any(self) -> np.ndarray:
        """``(B,)`` whether any asset traded."""
        return (self.traded != 0.0).any(axis=-1)


def portfolio_value(cash: np.ndarray, units: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """``(B,)`` value ``cash + sum(units * prices)`` of ``(B, N)`` positions."""
    return cash + (units * prices).sum(axis=-1)


def position_weights(units: np.ndarray, prices: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``(B, N)`` signed weights ``units * price / value`` (value floored at a tiny positive)."""
    return units * prices / np.maximum(value, _TINY)[..., None]


def cap_gross_leverage(weights: np.ndarray, max_leverage: float) -> np.ndarray:
    """Scale each row of ``(B, N)`` weights down so that ``sum(|w|) <= max_leverage``."""
    gross = np.abs(weights).sum(axis=-1, keepdims=True)
    scale = np.minimum(1.0, max_leverage / np.maximum(gross, _TINY))
    return weights * scale


def target_units(weights: np.ndarray, value: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """``(B, N)`` units that hold ``weights`` of ``value`` at ``prices`` (no costs deducted)."""
    return weights * (value[..., None] / prices)


def execute(
    units: np.ndarray,
    cash: np.ndarray,
    target: np.ndarray,
    price: np.ndarray,
    costs: CostModel,
    trade_mask: np.ndarray | None = None,
) -> Fill:
    """Trade ``units`` to ``target`` units at ``price`` with proportional costs and slippage.

    Args:
        units: ``(B, N)`` current positions.
        cash: ``(B,)`` current cash.
        target: ``(B, N)`` target positions in units.
        price: ``(B, N)`` reference fill price (e.g. next open, or this close).
        costs: commission and slippage rates.
        trade_mask: optional ``(B, N)`` bool; where False the asset is left untouched.

    Returns:
        The :class:`Fill` with the new positions, cash and per-asset trade details.
    """
    traded = target - units
    if trade_mask is not None:
        traded = traded * trade_mask
    notional = np.abs(traded) * price
    cost = notional * costs.total_rate
    new_cash = cash - (traded * price + cost).sum(axis=-1)
    return Fill(
        units=units + traded,
        cash=new_cash,
        traded=traded,
        notional=notional,
        cost=cost,
        price=price,
        slip_rate=costs.slip_rate,
    )


def rebalance(
    units: np.ndarray,
    cash: np.ndarray,
    weights: np.ndarray,
    price: np.ndarray,
    costs: CostModel,
    trade_mask: np.ndarray | None = None,
) -> Fill:
    """Rebalance to target ``weights`` of the pre-trade value marked at ``price``.

    The weights are not capped here; call :func:`cap_gross_leverage` first if needed.
    """
    value = portfolio_value(cash, units, price)
    return execute(units, cash, target_units(weights, value, price), price, costs, trade_mask)


def update_entry_price(
    units: np.ndarray, traded: np.ndarray, entry: np.ndarray, fill_price: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Average entry price bookkeeping, vectorised.

    Adding to a position averages the entry price; reducing keeps it and realises PnL on the
    closed units; flipping closes the old position and opens the rest at ``fill_price``.

    Args:
        units: ``(B, N)`` positions *before* the trade.
        traded: ``(B, N)`` signed units traded.
        entry: ``(B, N)`` average entry price of the current positions (0 when flat).
        fill_price: ``(B, N)`` execution price of the trade.

    Returns:
        ``(new_entry, realised_pnl)``, both ``(B, N)``; the PnL excludes costs.
    """
    new_units = units + traded
    opening = units * traded >= 0.0  # flat, or adding in the same direction
    closed = np.where(opening, 0.0, np.minimum(np.abs(traded), np.abs(units)) * np.sign(units))
    realised = closed * (fill_price - entry)
    flipped = ~opening & (new_units * units < 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        averaged = (units * entry + traded * fill_price) / new_units
    new_entry = np.where(opening, averaged, np.where(flipped, fill_price, entry))
    new_entry = np.where(new_units == 0.0, 0.0, new_entry)
    return new_entry, realised


def unrealised_pnl(units: np.ndarray, entry: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """``(B, N)`` mark-to-market PnL of open positions versus their entry price."""
    return units * (prices - entry)


def is_bust(value: np.ndarray, initial_value: float, bust_fraction: float) -> np.ndarray:
    """``(B,)`` True where the value fell to ``bust_fraction * initial_value`` or below."""
    return value <= max(bust_fraction * initial_value, 0.0)
