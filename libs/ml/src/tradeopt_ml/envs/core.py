"""The batched trading simulator behind both :class:`TradingEnv` (one copy) and
:class:`BatchedTradingVecEnv` (``B`` copies): one implementation, array operations over the
copy axis, accounting delegated to :mod:`tradeopt_ml.execution`.

Everything that can be prepared is prepared in ``__init__``: float64 fill and mark price
arrays, a zero-copy sliding-window view of the features, the action-to-weight table. ``step``
does a fixed, small number of numpy operations whatever the number of copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from tradeopt_ml import execution as ex
from tradeopt_ml.data import Panel
from tradeopt_ml.envs import rewards
from tradeopt_ml.envs.config import EnvConfig


class TradingCore:
    """State and dynamics of ``n_copies`` independent trading episodes over one bar range.

    Args:
        panel: aligned prices; fills use ``open``/``close`` (scaled to total-return prices when
            ``config.adjust_prices``), values are marked at the close.
        features: ``(T, N, F)`` float array aligned with ``panel``; leading all-NaN/partly-NaN
            rows are warm-up and episodes start only once a full window is finite.
        config: environment configuration.
        n_copies: number of independent episodes stepped together.
        start: first bar index an episode may *start* at (a window may look further back).
        stop: one past the last bar index used (exclusive), e.g. the end of a split.
    """

    def __init__(
        self,
        panel: Panel,
        features: np.ndarray,
        config: EnvConfig,
        n_copies: int = 1,
        *,
        start: int | None = None,
        stop: int | None = None,
    ) -> None:
        if n_copies < 1:
            raise ValueError("n_copies must be >= 1")
        feats = np.asarray(features)
        if feats.ndim != 3:
            raise ValueError(f"features must be (T, N, F); got shape {feats.shape}")
        n_bars, n_assets = panel.n_bars, panel.n_assets
        if feats.shape[:2] != (n_bars, n_assets):
            raise ValueError(
                f"features {feats.shape[:2]} do not match the panel's (T, N) = {(n_bars, n_assets)}"
            )
        self.config = config
        self.n_copies = n_copies
        self.n_assets = n_assets
        self.symbols = panel.symbols
        self.timestamps = panel.timestamps
        self.costs = ex.CostModel(config.cost_bps, config.slippage_bps)
        window = config.window

        # --- bar range --------------------------------------------------------------------
        start = 0 if start is None else int(start)
        stop = n_bars if stop is None else int(stop)
        if not 0 <= start < stop <= n_bars:
            raise ValueError(f"bad bar range [{start}, {stop}) for {n_bars} bars")
        self._feats = np.ascontiguousarray(feats, dtype=np.float32)
        finite = np.isfinite(self._feats).all(axis=(1, 2))
        bad = np.flatnonzero(~finite[:stop])
        if bad.size and bad[-1] != bad.size - 1:
            raise ValueError(
                f"non-finite features at bar {int(bad[bad != np.arange(bad.size)][0])} after the "
                "warm-up; only leading rows may be NaN"
            )
        self.earliest = max(start, int(bad.size) + window - 1)
        self.last = stop - 1
        if self.earliest >= self.last:
            raise ValueError(
                f"no room for a step: first usable bar {self.earliest} (warm-up "
                f"{bad.size}, window {window}), last bar {self.last}"
            )

        # --- prices (float64, prepared once) ------------------------------------------------
        close = np.asarray(panel.close, dtype=np.float64)
        open_ = np.asarray(panel.open, dtype=np.float64)
        if config.adjust_prices:
            factor = np.asarray(panel.adj_close, dtype=np.float64) / close
            close, open_ = close * factor, open_ * factor
        used = slice(0, stop)
        if not (np.isfinite(close[used]).all() and (close[used] > 0).all()):
            raise ValueError("close prices must be finite and positive")
        if not (np.isfinite(open_[used]).all() and (open_[used] > 0).all()):
            raise ValueError("open prices must be finite and positive")
        self._close = np.ascontiguousarray(close)
        if config.fill == "next_open":
            fill = np.empty_like(close)
            fill[:-1] = open_[1:]
            fill[-1] = close[-1]  # never used: no decision is taken on the last bar
        else:
            fill = close.copy()
        self._fill = fill

        # --- observation: zero-copy sliding windows, one flat row per end bar ---------------
        n_feat = self._feats.shape[2]
        row = n_assets * n_feat
        self._feat_dim = window * row
        self._windows = np.lib.stride_tricks.as_strided(
            self._feats,
            shape=(n_bars - window + 1, self._feat_dim),
            strides=(row * self._feats.itemsize, self._feats.itemsize),
            writeable=False,
        )
        self.obs_dim = self._feat_dim + n_assets * (2 if config.include_unrealised_pnl else 1)
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)

        # --- actions ------------------------------------------------------------------------
        self.discrete = config.action_space == "discrete"
        per_asset = config.max_leverage / n_assets
        if self.discrete:
            levels = [-per_asset, 0.0, per_asset] if config.allow_short else [0.0, per_asset]
            self._levels = np.asarray(levels, dtype=np.float64)
            self._flat = 1 if config.allow_short else 0
            n_levels = len(levels)
            self.action_space: spaces.Space[Any] = (
                spaces.Discrete(n_levels)
                if n_assets == 1
                else spaces.MultiDiscrete(np.full(n_assets, n_levels, dtype=np.int64))
            )
        else:
            self._low = -1.0 if config.allow_short else 0.0
            self.action_space = spaces.Box(self._low, 1.0, (n_assets,), np.float32)

        # --- state (B copies) ---------------------------------------------------------------
        b = n_copies
        self.t = np.full(b, self.earliest, dtype=np.int64)
        self.steps = np.zeros(b, dtype=np.int64)
        self.units = np.zeros((b, n_assets))
        self.cash = np.full(b, config.initial_cash)
        self.value = np.full(b, config.initial_cash)
        self.mark = self._close[self.t]
        self.weights = np.zeros((b, n_assets))
        self.prev_action = np.full((b, n_assets), getattr(self, "_flat", 0), dtype=np.int64)
        self.entry = np.zeros((b, n_assets))
        self.peak = self.value.copy()
        self.dsr_mean = np.zeros(b)
        self.dsr_mean_sq = np.zeros(b)
        self.last_cost = np.zeros(b)
        self.last_notional = np.zeros(b)
        self.last_trade = np.zeros(b, dtype=bool)

    # ---------------------------------------------------------------------------------------
    def sample_start(self, rng: np.random.Generator) -> int:
        """First bar of a new episode: the earliest usable bar, or a seeded uniform draw."""
        if not self.config.random_start:
            return self.earliest
        latest = self.last - (self.config.episode_length or 1)
        if latest <= self.earliest:
            return self.earliest
        return int(rng.integers(self.earliest, latest + 1))

    def check_start(self, start: int) -> int:
        """Validate an explicit start bar (``reset(options={"start": bar})``)."""
        start = int(start)
        if not self.earliest <= start < self.last:
            raise ValueError(f"start bar {start} outside [{self.earliest}, {self.last})")
        return start

    def reset_copies(self, rows: np.ndarray, starts: np.ndarray) -> None:
        """Start fresh episodes for copies ``rows`` at bars ``starts`` (flat, all cash)."""
        cash0 = self.config.initial_cash
        # copy-on-reset: arrays handed out in infos (row views) are never mutated afterwards
        self.units, self.weights, self.entry = (
            self.units.copy(),
            self.weights.copy(),
            self.entry.copy(),
        )
        self.mark = self.mark.copy()
        self.t[rows] = starts
        self.steps[rows] = 0
        self.units[rows] = 0.0
        self.cash[rows] = cash0
        self.value[rows] = cash0
        self.mark[rows] = self._close[self.t[rows]]
        self.weights[rows] = 0.0
        self.prev_action[rows] = getattr(self, "_flat", 0)
        self.entry[rows] = 0.0
        self.peak[rows] = cash0
        self.dsr_mean[rows] = 0.0
        self.dsr_mean_sq[rows] = 0.0
        self.last_cost[rows] = 0.0
        self.last_notional[rows] = 0.0
        self.last_trade[rows] = False

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Fresh ``(len(rows), obs_dim)`` float32 observations (all copies when rows is None)."""
        if rows is None:
            t, weights = self.t, self.weights
        else:
            t, weights = self.t[rows], self.weights[rows]
        k = self._feat_dim
        obs = np.empty((t.shape[0], self.obs_dim), dtype=np.float32)
        obs[:, :k] = self._windows[t - (self.config.window - 1)]
        n = self.n_assets
        obs[:, k : k + n] = weights
        if self.config.include_unrealised_pnl:
            sel = slice(None) if rows is None else rows
            pnl = ex.unrealised_pnl(self.units[sel], self.entry[sel], self.mark[sel])
            obs[:, k + n :] = pnl / self.value[sel, None]
        return obs

    def action_weights(self, actions: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """``(B, N)`` target weights and the trade mask (discrete: only changed assets trade)."""
        if self.discrete:
            idx = np.array(actions, dtype=np.int64).reshape(self.n_copies, self.n_assets)
            mask = idx != self.prev_action
            self.prev_action = idx
            return self._levels[idx], mask
        w = np.asarray(actions, dtype=np.float64).reshape(self.n_copies, self.n_assets)
        w = np.clip(w, self._low, 1.0)
        if self.n_assets > 1:
            w = ex.cap_gross_leverage(w, self.config.max_leverage)
        elif self.config.max_leverage < 1.0:
            w = w * min(1.0, self.config.max_leverage)
        return w, None

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance every copy one bar.

        Returns:
            ``(obs, reward, terminated, truncated)`` with shapes ``(B, D)``, ``(B,)``, ``(B,)``,
            ``(B,)``. Finished copies must be reset by the caller before the next step.
        """
        cfg = self.config
        weights, mask = self.action_weights(actions)
        t = self.t
        price = self._fill[t]
        fill = ex.rebalance(self.units, self.cash, weights, price, self.costs, mask)
        if cfg.include_unrealised_pnl:
            self.entry, _ = ex.update_entry_price(
                self.units, fill.traded, self.entry, fill.fill_price
            )
        t = t + 1
        mark = self._close[t]
        value = ex.portfolio_value(fill.cash, fill.units, mark)
        reward = rewards.log_return(self.value, value)
        if cfg.reward == "drawdown_penalty":
            self.peak = np.maximum(self.peak, value)
            reward = rewards.drawdown_penalised(reward, value, self.peak, cfg.drawdown_penalty)
        elif cfg.reward == "differential_sharpe":
            reward, self.dsr_mean, self.dsr_mean_sq = rewards.differential_sharpe(
                reward, self.dsr_mean, self.dsr_mean_sq, cfg.dsr_eta
            )
        self.steps += 1
        terminated = ex.is_bust(value, cfg.initial_cash, cfg.bust_fraction)
        truncated = t >= self.last
        if cfg.episode_length is not None:
            truncated |= self.steps >= cfg.episode_length
        self.t = t
        self.units = fill.units
        self.cash = fill.cash
        self.value = value
        self.mark = mark
        self.weights = ex.position_weights(fill.units, mark, value)
        self.last_cost = fill.cost.sum(axis=-1)
        self.last_notional = fill.notional.sum(axis=-1)
        self.last_trade = self.last_notional > 0.0
        return self.observe(), reward, terminated, truncated

    def info0(self) -> dict[str, Any]:
        """The info dict of copy 0 (the single-env fast path; same content as ``infos()[0]``)."""
        t = int(self.t[0])
        return {
            "portfolio_value": float(self.value[0]),
            "position": self.weights[0],
            "units": self.units[0],
            "cost": float(self.last_cost[0]),
            "traded_notional": float(self.last_notional[0]),
            "trade": bool(self.last_trade[0]),
            "bar": t,
            "timestamp": self.timestamps[t],
        }

    def infos(self, rows: np.ndarray | None = None) -> list[dict[str, Any]]:
        """One info dict per copy: value, position weights and units, cost, trade flag, bar."""
        sel: Any = slice(None) if rows is None else rows
        t = self.t[sel]
        return [
            {
                "portfolio_value": v,
                "position": w,
                "units": u,
                "cost": c,
                "traded_notional": n,
                "trade": tr,
                "bar": b,
                "timestamp": ts,
            }
            for v, w, u, c, n, tr, b, ts in zip(
                self.value[sel].tolist(),
                self.weights[sel],
                self.units[sel],
                self.last_cost[sel].tolist(),
                self.last_notional[sel].tolist(),
                self.last_trade[sel].tolist(),
                t.tolist(),
                self.timestamps[t],
                strict=True,
            )
        ]
