"""The backtest engine: runs target weights or a policy through the training env's own core.

There is no second accounting implementation here. Every bar is one call of the environment's
step (:class:`~tradeopt_ml.envs.single.SingleCore`, which calls
:func:`tradeopt_ml.execution.rebalance_step` / :func:`~tradeopt_ml.execution.rebalance_one`),
so fills, costs, slippage, position accounting, timing (``config.fill``), the leverage cap and
bust termination are the env's by construction. This module only records the trajectory and
derives the trade list from it.

Timing (the env's, DESIGN §5): a decision taken at bar ``t``'s close is filled at bar ``t+1``'s
open (``fill="next_open"``) or at bar ``t``'s close (``fill="close"``), and the portfolio is
marked at bar ``t+1``'s close. ``equity[0]`` is the initial cash at the first decision bar;
``equity[k]`` is the value after ``k`` decisions. Prices are total-return adjusted
(``open``/``close`` scaled by ``adj_close / close``) when ``config.adjust_prices`` (the default),
raw otherwise — the same prices the env trades and marks at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tradeopt_ml import execution as ex
from tradeopt_ml.data import Panel
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.envs.single import SingleCore

#: Core state attributes saved/restored to resume a simulation (all are rebound, never mutated
#: in place, by :meth:`TradingCore._advance`, so a shallow copy is a snapshot).
_STATE = (
    "t",
    "steps",
    "units",
    "cash",
    "value",
    "peak",
    "dsr_mean",
    "dsr_mean_sq",
    "last_cost",
    "last_notional",
    "last_trade",
    "weights",
    "entry",
    "mark",
    "prev_action",
)
_SNAPSHOT_EVERY = 256


@dataclass
class BacktestResult:
    """A backtest's trajectory (``K`` decisions over ``K + 1`` bars).

    Attributes:
        timestamps: ``(K+1,)`` datetime64[ns]: the first decision bar .. the last bar.
        equity: ``(K+1,)`` portfolio value marked at each close (``equity[0]`` = initial cash).
        drawdown: ``(K+1,)`` ``equity / running max - 1``.
        positions: ``(K+1, N)`` weights held after each bar's fill, marked at its close.
        actions: ``(K, ...)`` raw actions taken (policy actions or target weights), or None.
        costs: ``(K+1,)`` commission + slippage paid in the step ending at each bar.
        trades: trade dicts (see :func:`extract_trades`), ordered by entry time.
        symbols: the panel's symbols.
        units: ``(K+1, N)`` units held after each bar's fill.
        prices: ``(K+1, N)`` mark prices (closes; adjusted when the config says so).
        fill_prices: ``(K, N)`` reference fill price of each decision (before slippage).
        bars: ``(K+1,)`` panel bar index of each row.
        fill: the config's fill mode.
        terminated: True when the run stopped early on the env's bust rule.
    """

    timestamps: np.ndarray
    equity: np.ndarray
    drawdown: np.ndarray
    positions: np.ndarray
    actions: np.ndarray | None
    costs: np.ndarray
    trades: list[dict[str, Any]]
    symbols: tuple[str, ...]
    units: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))
    prices: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))
    fill_prices: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))
    bars: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, dtype=np.int64))
    fill: str = "next_open"
    terminated: bool = False

    @property
    def n_steps(self) -> int:
        """Number of decisions ``K``."""
        return int(self.equity.shape[0]) - 1

    def to_series(self) -> list[dict[str, Any]]:
        """``[{"t", "equity", "drawdown", "position"}]`` per bar; ``t`` is ISO 8601 UTC and the
        position a float for one asset, else a list of weights.
        """
        stamps = np.datetime_as_string(self.timestamps, unit="s", timezone="UTC").tolist()
        eq, dd = self.equity.tolist(), self.drawdown.tolist()
        pos: list[Any] = (
            self.positions[:, 0].tolist()
            if self.positions.shape[1] == 1
            else self.positions.tolist()
        )
        return [
            {"t": t, "equity": e, "drawdown": d, "position": p}
            for t, e, d, p in zip(stamps, eq, dd, pos, strict=True)
        ]


# ----------------------------------------------------------------------------------------------
# recording a run of the core
# ----------------------------------------------------------------------------------------------
class Recorder:
    """Drives a :class:`SingleCore` episode from its first bar and records every step.

    The core is reset to ``core.earliest``; :meth:`step` calls the core's own step, so the
    accounting is the env's. Snapshots every few hundred steps let :meth:`rewind` resume from
    an earlier step (used by the fast policy path).

    Args:
        core: the single-episode env core (its config decides timing and costs).
    """

    def __init__(self, core: SingleCore) -> None:
        self.core = core
        core.reset(core.earliest)
        self.n_max = core.last - core.earliest
        n = core.n_assets
        self.values = np.empty(self.n_max + 1)
        self.weights = np.zeros((self.n_max + 1, n))
        self.units = np.zeros((self.n_max + 1, n))
        self.costs = np.zeros(self.n_max + 1)
        self.values[0] = core.value
        self.k = 0  # decisions taken
        self.done = False
        self.terminated = False
        self._snaps: dict[int, dict[str, Any]] = {}
        self.snapshot()

    def snapshot(self) -> None:
        """Remember the core state after ``k`` decisions."""
        core = self.core
        self._snaps[self.k] = {name: getattr(core, name) for name in _STATE}

    def rewind(self, k: int) -> None:
        """Go back to the latest snapshot at or before ``k`` decisions (``k >= 0``)."""
        best = max(s for s in self._snaps if s <= k)
        for name, value in self._snaps[best].items():
            setattr(self.core, name, value)
        self.k = best
        self.done = self.terminated = False

    def step(self, action: Any) -> np.ndarray:
        """Take decision ``k`` with ``action`` (anything the env's ``step`` accepts); returns
        the next observation. Sets :attr:`done` at the end of the range or on bust.
        """
        if self.k % _SNAPSHOT_EVERY == 0:
            self.snapshot()
        core = self.core
        obs, _, terminated, truncated = core.step(action)
        k = self.k = self.k + 1
        self.values[k] = core.value
        self.weights[k] = core.weights
        self.units[k] = core.units
        self.costs[k] = core.last_cost
        if terminated or truncated:
            self.done = True
            self.terminated = bool(terminated)
        return obs

    def run_levels(self, actions: list[int], stop: int) -> None:
        """Take decisions ``k .. stop-1`` with discrete action indices on a one-asset core with
        float state (``core.scalar and core.discrete``) without building observations.

        The same state changes as :meth:`step` (the core's discrete action parsing, then its
        own ``_advance``); the position the next observation would hold is recorded in
        :attr:`weights`. Stops early on the end of the range or bust, like :meth:`step`.
        """
        core = self.core
        if not (core.scalar and core.discrete):
            raise TypeError("run_levels needs a one-asset discrete core with float state")
        advance, levels = core._advance, core._level_list
        k0 = k = self.k
        prev = core.prev_action
        values: list[float] = []
        weights: list[float] = []
        units: list[float] = []
        costs: list[float] = []
        add_value, add_weight = values.append, weights.append
        add_units, add_cost = units.append, costs.append
        while k < stop:
            if k % _SNAPSHOT_EVERY == 0:
                core.prev_action, self.k = prev, k
                self.snapshot()
            idx = actions[k]
            _, terminated, truncated = advance(levels[idx], idx != prev)
            prev = idx
            k += 1
            add_value(core.value)
            add_weight(core.weights)
            add_units(core.units)
            add_cost(core.last_cost)
            if terminated or truncated:
                self.done = True
                self.terminated = bool(terminated)
                break
        core.prev_action, self.k = prev, k
        self.values[k0 + 1 : k + 1] = values
        self.weights[k0 + 1 : k + 1, 0] = weights
        self.units[k0 + 1 : k + 1, 0] = units
        self.costs[k0 + 1 : k + 1] = costs

    def result(self, actions: np.ndarray | None, *, trades: bool = True) -> BacktestResult:
        """The recorded trajectory as a :class:`BacktestResult` (``trades=False``: its trade
        list left empty, for callers that only want the actions or the equity).
        """
        core, k = self.core, self.k
        bars = np.arange(core.earliest, core.earliest + k + 1)
        equity = self.values[: k + 1].copy()
        units = self.units[: k + 1].copy()
        prices = np.asarray(core._close)[bars]
        fill_prices = np.asarray(core._fill)[bars[:-1]]
        fill_bar = bars[:-1] + (1 if core.config.fill == "next_open" else 0)
        rate = core.costs.total_rate
        trade_list = (
            extract_trades(
                units, fill_prices, prices[-1], rate, core.timestamps[fill_bar], fill_bar,
                int(bars[-1]), core.symbols,
            )
            if trades
            else []
        )  # fmt: skip
        return BacktestResult(
            timestamps=np.asarray(core.timestamps[bars]),
            equity=equity,
            drawdown=equity / np.maximum.accumulate(equity) - 1.0,
            positions=self.weights[: k + 1].copy(),
            actions=None if actions is None else np.asarray(actions)[:k].copy(),
            costs=self.costs[: k + 1].copy(),
            trades=trade_list,
            symbols=tuple(core.symbols),
            units=units,
            prices=prices,
            fill_prices=fill_prices,
            bars=bars,
            fill=core.config.fill,
            terminated=self.terminated,
        )


# ----------------------------------------------------------------------------------------------
# trades
# ----------------------------------------------------------------------------------------------
def extract_trades(
    units: np.ndarray,
    fill_prices: np.ndarray,
    last_prices: np.ndarray,
    rate: float,
    fill_times: np.ndarray,
    fill_bars: np.ndarray,
    last_bar: int,
    symbols: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Round-trip trades of a units trajectory (vectorised per asset).

    A trade is a run of bars holding a non-zero position of one sign in one asset: it opens
    when the position leaves zero (or flips sign) and closes when it returns to zero (or flips;
    a flip closes one trade and opens the next at the same fill). Prices are the reference fill
    prices (before slippage); slippage and commission are in ``costs`` (each fill's cost is
    ``|traded| * price * rate``, split pro rata between the two trades of a flip).

    ``size`` is the largest absolute number of units held during the trade, ``entry_price`` the
    volume-weighted price of the fills that opened or added to it, ``exit_price`` that of the
    fills that reduced or closed it (None while open). ``pnl`` is net of costs: the trade's
    cash flows plus, for a trade still open at the end, its units marked at the last price —
    so the trades' PnL sums to the equity change. ``bars_held`` counts bars from the entry fill
    to the exit fill (to the last bar while open). ``open`` flags the trade still open at the end
    (``exit_time``/``exit_price`` None); JSON answers write the times as ISO 8601 UTC.

    Args:
        units: ``(K+1, N)`` units held after each step (row 0 flat).
        fill_prices: ``(K, N)`` reference fill price of step ``k`` (row ``k-1`` fills step k).
        last_prices: ``(N,)`` mark prices at the last bar.
        rate: commission + slippage fraction of traded notional.
        fill_times: ``(K,)`` timestamp of each step's fill.
        fill_bars: ``(K,)`` bar index of each step's fill.
        last_bar: bar index of the last row.
        symbols: asset names.
    """
    out: list[dict[str, Any]] = []
    keys: list[tuple[Any, str]] = []  # (entry time, symbol) sort keys
    stamps = np.asarray(fill_times)
    time_keys = stamps.tolist()
    for j, symbol in enumerate(symbols):  # loops over assets only
        u = units[:, j]
        prev, cur = u[:-1], u[1:]
        traded = cur - prev
        price = fill_prices[:, j]
        cost = np.abs(traded * price) * rate
        s_prev, s_cur = np.sign(prev), np.sign(cur)
        change = s_cur != s_prev
        opens = change & (s_cur != 0)
        closes = change & (s_prev != 0)
        if not opens.any():
            continue
        trade_cur = np.cumsum(opens) - 1  # trade held after each step (-1: none yet)
        trade_prev = np.concatenate(([-1], trade_cur[:-1]))
        n_tr = int(opens.sum())
        close_part = np.where(closes, -prev, 0.0)
        open_part = np.where(opens, cur, 0.0)
        same = ~change & (s_cur != 0)
        adj = np.where(same, traded, 0.0)
        abs_tr = np.abs(traded)
        with np.errstate(invalid="ignore", divide="ignore"):
            share_close = np.where(closes & opens, np.abs(close_part) / abs_tr, 1.0)
        cost_close = np.where(closes, cost * share_close, 0.0)
        cost_open = np.where(opens, cost - np.where(closes, cost_close, 0.0), 0.0)
        cost_same = np.where(same, cost, 0.0)
        adding = same & (adj * s_cur > 0)
        reducing = same & (adj * s_cur < 0)

        def per_trade(ids: np.ndarray, w: np.ndarray, n_tr: int = n_tr) -> np.ndarray:
            keep = ids >= 0
            return np.bincount(ids[keep], weights=w[keep], minlength=n_tr)

        flow = (
            per_trade(trade_prev, -close_part * price)
            + per_trade(trade_cur, -open_part * price)
            + per_trade(trade_cur, -adj * price)
        )
        costs = (
            per_trade(trade_prev, cost_close)
            + per_trade(trade_cur, cost_open)
            + per_trade(trade_cur, cost_same)
        )
        in_qty = per_trade(trade_cur, np.abs(open_part)) + per_trade(
            trade_cur, np.where(adding, np.abs(adj), 0.0)
        )
        in_val = per_trade(trade_cur, np.abs(open_part) * price) + per_trade(
            trade_cur, np.where(adding, np.abs(adj) * price, 0.0)
        )
        out_qty = per_trade(trade_prev, np.abs(close_part)) + per_trade(
            trade_cur, np.where(reducing, np.abs(adj), 0.0)
        )
        out_val = per_trade(trade_prev, np.abs(close_part) * price) + per_trade(
            trade_cur, np.where(reducing, np.abs(adj) * price, 0.0)
        )
        size = np.zeros(n_tr)
        held = trade_cur >= 0
        np.maximum.at(size, trade_cur[held], np.abs(cur[held]))
        open_steps = np.flatnonzero(opens)
        close_steps = np.flatnonzero(closes)
        # the i-th close belongs to trade i (trades close in the order they open)
        exit_step = np.full(n_tr, -1)
        exit_step[: close_steps.size] = close_steps
        mark = np.zeros(n_tr)
        if u[-1] != 0.0:
            mark[-1] = u[-1] * last_prices[j]
        pnl = flow + mark - costs
        # per-trade fields as Python lists: one dict per trade, no numpy scalar indexing
        entries = open_steps.tolist()
        exits = exit_step.tolist()
        sides = (s_cur[open_steps] > 0).tolist()
        entry_price = (in_val / in_qty).tolist()
        with np.errstate(invalid="ignore", divide="ignore"):
            exit_price = (out_val / out_qty).tolist()
        bars_list = np.asarray(fill_bars).tolist()
        size_list, pnl_list, costs_list = size.tolist(), pnl.tolist(), costs.tolist()
        for i, (e, x) in enumerate(zip(entries, exits, strict=True)):
            closed = x >= 0
            out.append(
                {
                    "symbol": symbol,
                    "side": "long" if sides[i] else "short",
                    "entry_time": stamps[e],
                    "exit_time": stamps[x] if closed else None,
                    "entry_price": entry_price[i],
                    "exit_price": exit_price[i] if closed else None,
                    "size": size_list[i],
                    "pnl": pnl_list[i],
                    "costs": costs_list[i],
                    "bars_held": int((bars_list[x] if closed else last_bar) - bars_list[e]),
                    "open": not closed,
                }
            )
            keys.append((time_keys[e], symbol))
    order = sorted(range(len(out)), key=keys.__getitem__)
    return [out[i] for i in order]


#: How the report's notes name each price basis (see :func:`price_basis`).
PRICE_BASIS_TEXT = {
    "adjusted": "adjusted prices (open/close x adj_close/close: total return)",
    "raw": "raw prices (as traded; splits and dividends not adjusted)",
}


def price_basis(config: EnvConfig) -> str:
    """The prices fills and marks used, as every answer states them: ``"adjusted"`` (open and
    close scaled by ``adj_close / close``: total-return accounting) or ``"raw"``.
    """
    return "adjusted" if config.adjust_prices else "raw"


def trade_returns(trades: list[dict[str, Any]], *, closed_only: bool = True) -> np.ndarray:
    """Net return of each trade: ``pnl / (size * entry_price)``."""
    rows = [t for t in trades if not closed_only or t["exit_time"] is not None]
    return np.asarray(
        [t["pnl"] / (t["size"] * t["entry_price"]) for t in rows if t["size"] > 0], dtype=float
    )


# ----------------------------------------------------------------------------------------------
# target weights
# ----------------------------------------------------------------------------------------------
def targets_config(config: EnvConfig) -> EnvConfig:
    """The env config a target-weight backtest runs with: continuous actions (target weights),
    the whole range from its first bar, a 1-bar window (no features are observed).
    """
    return config.model_copy(
        update={
            "action_space": "continuous",
            "window": 1,
            "random_start": False,
            "episode_length": None,
            "include_unrealised_pnl": False,
        }
    )


def backtest_targets(
    panel: Panel,
    targets: np.ndarray,
    config: EnvConfig,
    *,
    start: int,
    stop: int,
    rebalance: Literal["on_change", "every_bar"] = "on_change",
) -> BacktestResult:
    """Execute target weights decided at each bar's close with the env's rules and code.

    Row ``t`` of ``targets`` is decided at bar ``t``'s close (e.g. the output of
    :mod:`tradeopt_ml.evaluation.baselines`) and filled per ``config.fill`` with the config's
    costs and slippage. Targets are read like the env's continuous actions: clipped to
    ``[-1, 1]`` (``[0, 1]`` without shorts) and capped at ``config.max_leverage`` gross
    (:func:`tradeopt_ml.execution.clip_weights`). With ``rebalance="on_change"`` (default) an
    asset trades only when its target changes — buy-and-hold buys once and holds its units, like
    the env's discrete actions; ``"every_bar"`` rebalances every bar to the target weight, like
    the env's continuous actions.

    Args:
        panel: prices.
        targets: ``(T, N)`` (or ``(T,)`` for one asset) target weights aligned with ``panel``.
        config: env config (fill, costs, leverage, adjust_prices, bust rule, initial cash).
        start: first decision bar.
        stop: one past the last bar used (the last decision is at ``stop - 2``).
        rebalance: ``"on_change"`` or ``"every_bar"``.
    """
    tg = np.asarray(targets, dtype=np.float64)
    if tg.ndim == 1:
        tg = tg[:, None]
    if tg.shape != (panel.n_bars, panel.n_assets):
        shape = (panel.n_bars, panel.n_assets)
        raise ValueError(f"targets {tg.shape} do not match the panel's (T, N) = {shape}")
    if not np.isfinite(tg[start:stop]).all():
        raise ValueError("targets must be finite over the backtest range")
    if rebalance not in ("on_change", "every_bar"):
        raise ValueError("rebalance must be 'on_change' or 'every_bar'")
    cfg = targets_config(config)
    dummy = np.zeros((panel.n_bars, panel.n_assets, 1), dtype=np.float32)
    core = SingleCore(panel, dummy, cfg, start=start, stop=stop)
    rec = Recorder(core)
    first, k_max = core.earliest, rec.n_max
    low = -1.0 if cfg.allow_short else 0.0
    weights = ex.clip_weights(tg[first : first + k_max], low, cfg.max_leverage)
    prev = np.vstack([np.zeros((1, panel.n_assets)), weights[:-1]])
    masks = weights != prev if rebalance == "on_change" else None
    advance: Callable[[Any, Any], Any] = core._advance
    scalar = core.scalar
    w_list = weights[:, 0].tolist() if scalar else list(weights)
    m_list: list[Any] | None = None
    if masks is not None:
        m_list = masks[:, 0].tolist() if scalar else list(masks)
    # drive the core's own fill/mark step with ready-made target weights and trade masks
    for k in range(k_max):
        if k % _SNAPSHOT_EVERY == 0:
            rec.snapshot()
        _, terminated, truncated = advance(w_list[k], None if m_list is None else m_list[k])
        rec.k = k + 1
        rec.values[k + 1] = core.value
        rec.weights[k + 1] = core.weights
        rec.units[k + 1] = core.units
        rec.costs[k + 1] = core.last_cost
        if terminated or truncated:
            rec.terminated = bool(terminated)
            break
    return rec.result(weights)
