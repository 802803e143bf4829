"""The batched trading simulator behind :class:`BatchedTradingVecEnv` (``B`` copies) and,
specialised for ``B = 1``, :class:`TradingEnv`: array operations over the copy axis,
accounting delegated to :mod:`tradeopt_ml.execution`.

Everything that can be prepared is prepared in ``__init__``: float64 fill and mark price
arrays, a zero-copy sliding-window view of the features, the action-to-weight table. ``step``
does a fixed, small number of calls whatever the number of copies and assets (the per-bar
accounting is one JIT kernel call, :func:`tradeopt_ml.execution.rebalance_step`).

:meth:`TradingCore._advance` (fill, mark, reward, termination) is written on operators, the
execution model and the reward shapes of :mod:`~tradeopt_ml.envs.rewards` only, so the same
code runs on the batched ``(B, N)`` state here, on an unbatched ``(N,)`` portfolio and on a
single asset held as Python floats (:class:`~tradeopt_ml.envs.single.SingleCore`, the fast path
of :class:`~tradeopt_ml.envs.TradingEnv`, which swaps in
:func:`~tradeopt_ml.execution.rebalance_one`). All layouts give bit-identical results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from tradeopt_ml import execution as ex
from tradeopt_ml.data import Panel
from tradeopt_ml.envs import rewards
from tradeopt_ml.envs.config import EnvConfig

_exposure_weights = ex.exposure_weights
_log_return = rewards.log_return


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
        finite = np.asarray(np.isfinite(self._feats).all(axis=(1, 2)))
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
        # price lookups by bar index (arrays here; lists of rows/floats in the single env)
        self._fill_at: Any = fill
        self._close_at: Any = self._close

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

        # --- per-step constants -------------------------------------------------------------
        self._rate = self.costs.total_rate
        self._slip = self.costs.slip_rate
        self._bust_level = ex.bust_level(config.initial_cash, config.bust_fraction)
        self._max_leverage = config.max_leverage
        self._rebalance: Any = ex.rebalance_step
        self._with_pnl = config.include_unrealised_pnl
        self._reward_shape = config.reward
        self._episode_length = config.episode_length
        self._init_state()

    def _init_state(self) -> None:
        """Allocate the ``(B, N)`` / ``(B,)`` state of all copies (flat, all cash)."""
        b, n_assets, config = self.n_copies, self.n_assets, self.config
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
        shape = self.units.shape  # (B, N), or (N,) for an unbatched core
        if self.discrete:
            idx = np.array(actions, dtype=np.int64).reshape(shape)
            mask = idx != self.prev_action
            self.prev_action = idx
            return self._levels[idx], mask
        actions = np.asarray(actions)
        if actions.shape != shape:
            actions = actions.reshape(shape)
        return ex.clip_weights(actions, self._low, self._max_leverage), None

    def _advance(self, weights: Any, mask: Any) -> tuple[Any, Any, Any]:
        """Fill ``weights`` at the current bar's fill price, move to the next bar, mark there.

        Written on operators and the execution model only, for every state layout (batched
        arrays, an unbatched ``(N,)`` portfolio, or Python floats for one asset; ``_rebalance``
        is :func:`~tradeopt_ml.execution.rebalance_step` or, for floats,
        :func:`~tradeopt_ml.execution.rebalance_one`).

        Returns:
            ``(reward, terminated, truncated)`` in the state's batch shape.
        """
        t = self.t
        price = self._fill_at[t]
        t = t + 1
        mark = self._close_at[t]
        units, cash, value, exposure, traded, notional, cost = self._rebalance(
            self.units, self.cash, weights, price, mark, self._rate, mask
        )
        if self._with_pnl:
            self.entry, _ = ex.update_entry_price(
                self.units, traded, self.entry, ex.fill_price(price, traded, self._slip)
            )
        reward = _log_return(self.value, value)
        shape = self._reward_shape
        if shape == "drawdown_penalty":
            self.peak = np.maximum(self.peak, value)
            reward = rewards.drawdown_penalised(
                reward, value, self.peak, self.config.drawdown_penalty
            )
        elif shape == "differential_sharpe":
            reward, self.dsr_mean, self.dsr_mean_sq = rewards.differential_sharpe(
                reward, self.dsr_mean, self.dsr_mean_sq, self.config.dsr_eta
            )
        steps = self.steps + 1
        terminated = value <= self._bust_level  # ex.is_bust, level precomputed
        truncated = t >= self.last
        if self._episode_length is not None:
            truncated = truncated | (steps >= self._episode_length)
        self.t = t
        self.steps = steps
        self.units = units
        self.cash = cash
        self.value = value
        self.mark = mark
        self.weights = _exposure_weights(exposure, value)
        self.last_cost = cost
        self.last_notional = notional
        self.last_trade = notional > 0.0
        return reward, terminated, truncated

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance every copy one bar.

        Returns:
            ``(obs, reward, terminated, truncated)`` with shapes ``(B, D)``, ``(B,)``, ``(B,)``,
            ``(B,)``. Finished copies must be reset by the caller before the next step.
        """
        weights, mask = self.action_weights(actions)
        reward, terminated, truncated = self._advance(weights, mask)
        return self.observe(), reward, terminated, truncated

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
