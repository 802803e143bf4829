"""The one execution model: fills, costs, slippage, positions, cash, value and bust detection.

Every consumer (the training environment's ``step``, the batched vector env, the vectorised
backtest engine, paper trading) calls these functions, so fills and cost accounting exist once.

Conventions
-----------
* Arrays are **batch-first**: positions are ``(B, N)`` (``B`` independent portfolios — env copies
  or parameter sets — of ``N`` assets), cash and values are ``(B,)``. Functions never loop over
  ``B`` or ``N`` in Python.
* Per-bar accounting (:func:`rebalance_step`, :func:`execute`, :func:`clip_weights`,
  :func:`portfolio_value`) runs in small JIT-compiled kernels (numba, cached on disk): one
  call per bar whatever ``B`` and ``N``, sums over assets accumulated left to right. The
  kernels take a batch ``(B, N)`` or one ``(N,)`` portfolio. Their per-asset formulas are
  plain Python functions (``_trade``, ``_cash_after``, ``_clip``, ``_leverage_scale``)
  compiled into the kernels *and* called directly by :func:`rebalance_one` /
  :func:`clip_weight`, the single-asset fast path on Python floats (a numpy call on a
  1-element array costs more than the arithmetic). Same formulas, same order of operations,
  IEEE arithmetic either way: every path gives bit-identical results.
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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

BPS = 1e-4
_TINY = 1e-12
_NO_MASK = np.zeros((1, 1), dtype=np.bool_)


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
        return fill_price(self.price, self.traded, self.slip_rate)

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


def _trade(weight: float, value0: float, price: float, units: float) -> float:
    """Units one asset trades to hold ``weight`` of ``value0`` at ``price`` (scalar formula)."""
    return weight * (value0 / price) - units


def _cash_after(
    cash: float, flow_total: float, notional_total: float, rate: float
) -> tuple[float, float]:
    """Cash after paying ``flow_total`` plus ``rate`` on ``notional_total``; and that cost."""
    cost = notional_total * rate
    return cash - (flow_total + cost), cost


def _clip(w: float, low: float) -> float:
    """``w`` clipped to ``[low, 1]``; NaN passes through (as ``np.clip``)."""
    return 1.0 if w > 1.0 else (low if w < low else w)


def _leverage_scale(gross: float, max_leverage: float, n_assets: int) -> float:
    """Factor applied to clipped target weights: several assets are scaled down to a gross
    ``max_leverage``; a single asset's weight in ``[-1, 1]`` is scaled by a cap below 1.
    """
    if n_assets > 1:
        return max_leverage / gross if gross > max_leverage else 1.0
    return max_leverage if max_leverage < 1.0 else 1.0


def _jit(fn: Callable[..., Any]) -> Any:
    """``numba.njit`` with an on-disk cache; without one where no cache folder is writable
    (numba refuses to decorate then), so a read-only install still works, compiling per process.
    """
    try:
        return njit(cache=True)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(fn)


# the kernels call the very same scalar formulas the float fast path calls
_trade_jit = _jit(_trade)
_cash_after_jit = _jit(_cash_after)
_clip_jit = _jit(_clip)
_leverage_scale_jit = _jit(_leverage_scale)


@_jit
def _value_row(cash: float, units: np.ndarray, prices: np.ndarray, exposure: np.ndarray) -> float:
    """``cash + sum(units * prices)`` summed left to right; writes ``exposure = units * prices``."""
    s = 0.0
    for i in range(units.shape[0]):
        e = units[i] * prices[i]
        exposure[i] = e
        s += e
    return cash + s


@_jit
def _settle_row(
    units: np.ndarray,
    cash: float,
    traded: np.ndarray,
    price: np.ndarray,
    rate: float,
    new_units: np.ndarray,
    notional: np.ndarray,
) -> tuple[float, float, float]:
    """Trade ``traded`` at ``price``: writes ``new_units`` and ``notional``; returns
    ``(cash, notional_total, cost_total)``.
    """
    flow_t = 0.0
    notional_t = 0.0
    for i in range(units.shape[0]):
        tr = traded[i]
        flow = tr * price[i]
        a = abs(flow)
        notional[i] = a
        flow_t += flow
        notional_t += a
        new_units[i] = units[i] + tr
    new_cash, cost = _cash_after_jit(cash, flow_t, notional_t, rate)
    return new_cash, notional_t, cost


@_jit
def _rebalance_row(
    units: np.ndarray,
    cash: float,
    weights: np.ndarray,
    price: np.ndarray,
    mark: np.ndarray,
    rate: float,
    use_mask: bool,
    mask: np.ndarray,
    new_units: np.ndarray,
    traded: np.ndarray,
    exposure: np.ndarray,
) -> tuple[float, float, float, float]:
    """One portfolio's bar (see :func:`rebalance_step`); ``exposure`` doubles as scratch."""
    value0 = _value_row(cash, units, price, exposure)
    for i in range(units.shape[0]):
        tr = _trade_jit(weights[i], value0, price[i], units[i])
        if use_mask and not mask[i]:
            tr = tr * 0.0
        traded[i] = tr
    new_cash, notional_t, cost = _settle_row(units, cash, traded, price, rate, new_units, exposure)
    value = _value_row(new_cash, new_units, mark, exposure)
    return new_cash, value, notional_t, cost


@_jit
def _rebalance_rows(
    units: np.ndarray,
    cash: np.ndarray,
    weights: np.ndarray,
    price: np.ndarray,
    mark: np.ndarray,
    rate: float,
    use_mask: bool,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_rows, n_assets = units.shape
    new_units = np.empty((n_rows, n_assets))
    traded = np.empty((n_rows, n_assets))
    exposure = np.empty((n_rows, n_assets))
    totals = np.empty((4, n_rows))  # cash, value, notional total, cost total (contiguous rows)
    for b in range(n_rows):
        c, v, n, k = _rebalance_row(
            units[b], cash[b], weights[b], price[b], mark[b], rate, use_mask,
            mask[b] if use_mask else mask[0], new_units[b], traded[b], exposure[b],
        )  # fmt: skip
        totals[0, b] = c
        totals[1, b] = v
        totals[2, b] = n
        totals[3, b] = k
    return new_units, traded, exposure, totals


@_jit
def _settle_rows(
    units: np.ndarray, cash: np.ndarray, traded: np.ndarray, price: np.ndarray, rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    new_units = np.empty(units.shape)
    notional = np.empty(units.shape)
    new_cash = np.empty(units.shape[0])
    for b in range(units.shape[0]):
        new_cash[b], _, _ = _settle_row(
            units[b], cash[b], traded[b], price[b], rate, new_units[b], notional[b]
        )
    return new_units, new_cash, notional


@_jit
def _value_rows(cash: np.ndarray, units: np.ndarray, prices: np.ndarray) -> np.ndarray:
    out = np.empty(units.shape[0])
    scratch = np.empty(units.shape[1])
    for b in range(units.shape[0]):
        out[b] = _value_row(cash[b], units[b], prices[b], scratch)
    return out


@_jit
def _clip_cap_row(actions: np.ndarray, low: float, max_leverage: float, out: np.ndarray) -> None:
    n_assets = actions.shape[0]
    gross = 0.0
    for i in range(n_assets):
        w = _clip_jit(float(actions[i]), low)
        out[i] = w
        gross += abs(w)
    scale = _leverage_scale_jit(gross, max_leverage, n_assets)
    if scale != 1.0:
        for i in range(n_assets):
            out[i] = out[i] * scale


@_jit
def _clip_cap_rows(actions: np.ndarray, low: float, max_leverage: float) -> np.ndarray:
    out = np.empty(actions.shape)
    for b in range(actions.shape[0]):
        _clip_cap_row(actions[b], low, max_leverage, out[b])
    return out


def _rows(x: Any) -> np.ndarray:
    """``(B, N)`` float64 C-contiguous view (or copy) of a batch or of one ``(N,)`` portfolio."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    return x if x.ndim == 2 else x.reshape(1, -1)


def portfolio_value(cash: Any, units: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """``(B,)`` value ``cash + sum(units * prices)`` of ``(B, N)`` positions."""
    units = np.asarray(units)
    value = _value_rows(
        np.atleast_1d(np.asarray(cash, dtype=np.float64)),
        _rows(units),
        _rows(np.broadcast_to(prices, units.shape)),
    )
    return value if units.ndim == 2 else value[0]


def exposure_weights(exposure: Any, value: Any) -> Any:
    """Signed weights ``exposure / value`` of marked positions ``exposure = units * prices``;
    the value is floored at a tiny positive. Arrays ``(B, N)`` with ``(B,)`` values, ``(N,)``
    with a scalar value, or floats.
    """
    if isinstance(value, np.ndarray):
        return exposure / np.maximum(value, _TINY)[..., None]
    return exposure / (_TINY if value < _TINY else value)


def position_weights(units: np.ndarray, prices: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``(B, N)`` signed weights ``units * price / value`` (value floored at a tiny positive)."""
    return exposure_weights(units * prices, value)


def clip_weights(actions: Any, low: float, max_leverage: float) -> np.ndarray:
    """Target weights from raw ``(B, N)`` (or ``(N,)``) actions: each clipped to ``[low, 1]``,
    then rows of several assets scaled down to a gross leverage ``sum(|w|) <= max_leverage``
    (a single asset is scaled by ``max_leverage`` when that is below 1).
    """
    a = np.asarray(actions)
    if a.dtype != np.float32:
        a = a.astype(np.float64)
    if a.ndim == 1:
        out = np.empty(a.shape[0])
        _clip_cap_row(a, low, max_leverage, out)
        return out
    return _clip_cap_rows(a, low, max_leverage)


def clip_weight(action: float, low: float, max_leverage: float) -> float:
    """:func:`clip_weights` for one asset held as a float (the same formulas)."""
    w = _clip(action, low)
    scale = _leverage_scale(abs(w), max_leverage, 1)
    return w * scale if scale != 1.0 else w


def cap_gross_leverage(weights: np.ndarray, max_leverage: float) -> np.ndarray:
    """Scale each row of ``(B, N)`` weights down so that ``sum(|w|) <= max_leverage``."""
    gross = np.abs(weights).sum(axis=-1, keepdims=True)
    scale = np.minimum(1.0, max_leverage / np.maximum(gross, _TINY))
    return weights * scale


def target_units(weights: np.ndarray, value: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """``(B, N)`` units that hold ``weights`` of ``value`` at ``prices`` (no costs deducted)."""
    return weights * (np.asarray(value)[..., None] / prices)


def rebalance_step(
    units: np.ndarray,
    cash: Any,
    weights: np.ndarray,
    price: np.ndarray,
    mark: np.ndarray,
    rate: float,
    mask: np.ndarray | None = None,
) -> tuple[Any, Any, Any, Any, Any, Any, Any]:
    """One bar: rebalance to target ``weights`` of the pre-trade value at ``price``, then mark.

    This is what the environments and the backtest engine run per bar. The pre-trade value is
    marked at the fill ``price``; where ``mask`` is False the asset is not traded. Shapes are
    ``(B, N)`` float64 arrays with ``(B,)`` cash, or one ``(N,)`` portfolio with float cash.

    Returns:
        ``(units, cash, value, exposure, traded, notional_total, cost_total)`` where ``value``
        is marked at ``mark`` and ``exposure = units * mark``.
    """
    use_mask = mask is not None
    if units.ndim == 1:
        n = units.shape[0]
        new_units, traded, exposure = np.empty(n), np.empty(n), np.empty(n)
        c, v, notional, cost = _rebalance_row(
            units, cash, weights, price, mark, rate, use_mask,
            mask if use_mask else _NO_MASK[0], new_units, traded, exposure,
        )  # fmt: skip
        return new_units, c, v, exposure, traded, notional, cost
    new_units, traded, exposure, totals = _rebalance_rows(
        units, cash, weights, price, mark, rate, use_mask, mask if use_mask else _NO_MASK
    )
    cash, value, notional, cost = totals
    return new_units, cash, value, exposure, traded, notional, cost


def rebalance_one(
    units: float,
    cash: float,
    weight: float,
    price: float,
    mark: float,
    rate: float,
    mask: bool | None = None,
) -> tuple[float, float, float, float, float, float, float]:
    """:func:`rebalance_step` for one portfolio of one asset held as Python floats.

    The single-env fast path: the same formulas and order of operations as the kernel with
    ``N = 1`` (sums start from ``0.0``), hence bit-identical results.
    """
    value0 = cash + (0.0 + units * price)
    traded = _trade(weight, value0, price, units)
    if mask is not None and not mask:
        traded = traded * 0.0
    flow = traded * price
    notional = 0.0 + abs(flow)
    new_units = units + traded
    new_cash, cost = _cash_after(cash, 0.0 + flow, notional, rate)
    exposure = new_units * mark
    return new_units, new_cash, new_cash + (0.0 + exposure), exposure, traded, notional, cost


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
    traded = np.asarray(target, dtype=np.float64) - units
    if trade_mask is not None:
        traded = traded * trade_mask
    price = np.broadcast_to(np.asarray(price, dtype=np.float64), traded.shape)
    new_units, new_cash, notional = _settle_rows(
        _rows(units), np.atleast_1d(np.asarray(cash, dtype=np.float64)), _rows(traded),
        _rows(price), costs.total_rate,
    )  # fmt: skip
    return Fill(
        units=new_units,
        cash=new_cash,
        traded=traded,
        notional=notional,
        cost=notional * costs.total_rate,
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


def fill_price(price: np.ndarray, traded: np.ndarray, slip_rate: float) -> np.ndarray:
    """Execution price including slippage: buys pay ``price * (1 + slip)``, sells receive less."""
    return price * (1.0 + slip_rate * np.sign(traded))


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


def bust_level(initial_value: float, bust_fraction: float) -> float:
    """The value at or below which a portfolio is bust: ``bust_fraction * initial_value``."""
    return max(bust_fraction * initial_value, 0.0)


def is_bust(value: Any, initial_value: float, bust_fraction: float) -> Any:
    """True where the value fell to ``bust_fraction * initial_value`` or below (``(B,)``)."""
    return value <= bust_level(initial_value, bust_fraction)
