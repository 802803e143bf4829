"""The single-copy core behind :class:`~tradeopt_ml.envs.TradingEnv`: the ``B = 1`` case of
:class:`~tradeopt_ml.envs.core.TradingCore`, specialised for per-step speed.

The state is unbatched — ``(N,)`` arrays and float cash — and a single asset (without the
unrealised-PnL observation) is held entirely as Python floats, with prices looked up in Python
lists: a numpy call on a one-element array costs ~0.5-1 µs, a float operation ~30 ns. The step
itself is *the same code* as the batched core (:meth:`TradingCore._advance`, which calls the
execution model — :func:`~tradeopt_ml.execution.rebalance_step`, or
:func:`~tradeopt_ml.execution.rebalance_one` built from the same formulas for floats — and
:mod:`~tradeopt_ml.envs.rewards`), so the batched vector env and the single env agree to the
bit; only action parsing, the observation buffer and the info dict are specialised here.

Observations are fresh arrays (SB3 keeps references): a prepared row — window features plus
zeroed position slots, materialised once when the table is small — is copied and the position
written in. Info arrays are fresh per step too (never mutated afterwards).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tradeopt_ml import execution as ex
from tradeopt_ml.data import Panel
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.envs.core import TradingCore
from tradeopt_ml.envs.info import StepInfo

_F32 = np.float32
_clip_weight = ex.clip_weight
#: Info arrays of scalar-state steps are handed out from pools of this many rows.
_POOL = 4096
#: Largest observation table (window rows + position slots) materialised for fast copies.
_PADDED_BYTES = 16 * 2**20


def _first(action: Any) -> Any:
    """The only element of a one-asset action given as a scalar, a 0-d or a ``(1,)`` array."""
    return np.asarray(action).reshape(-1)[0]


class SingleCore(TradingCore):
    """One trading episode at a time (see the module docstring).

    Args:
        panel: aligned prices, as for :class:`~tradeopt_ml.envs.core.TradingCore`.
        features: ``(T, N, F)`` features aligned with ``panel``.
        config: environment configuration.
        start: first bar index an episode may start at.
        stop: one past the last bar index used.
    """

    def __init__(
        self,
        panel: Panel,
        features: np.ndarray,
        config: EnvConfig,
        *,
        start: int | None = None,
        stop: int | None = None,
    ) -> None:
        super().__init__(panel, features, config, 1, start=start, stop=stop)
        if self.scalar:
            self._rebalance = ex.rebalance_one
            self._fill_at = self._fill[:, 0].tolist()
            self._close_at = self._close[:, 0].tolist()
            if self.discrete:
                self._level_list: list[float] = self._levels.tolist()
        else:
            self._fill_at = list(self._fill)  # row views: a list lookup beats array indexing
            self._close_at = list(self._close)
        # observations: copy a prepared row, write the position part. Rows padded with the
        # position slots are materialised when small; else the zero-copy windows are copied.
        self._padded = self._windows.shape[0] * self.obs_dim * 4 <= _PADDED_BYTES
        if self._padded:
            base = np.zeros((self._windows.shape[0], self.obs_dim), dtype=_F32)
            base[:, : self._feat_dim] = self._windows
            self._rows = list(base)
        else:
            self._rows = list(self._windows)
        self._stamps = list(self.timestamps)
        self._k = self._feat_dim
        self._slot = _POOL  # the first info() allocates the pools
        self._off = config.window - 1

    def _init_state(self) -> None:
        """Unbatched state; floats when one asset is traded without the unrealised-PnL part."""
        self.scalar = self.n_assets == 1 and not self.config.include_unrealised_pnl
        self.reset(self.earliest)

    def reset(self, start: int) -> None:
        """Start a fresh episode at bar ``start`` (flat, all cash); state objects are new."""
        cash0 = float(self.config.initial_cash)
        flat = getattr(self, "_flat", 0)
        self.t = int(start)
        self.steps = 0
        self.cash = cash0
        self.value = cash0
        self.peak = cash0
        self.dsr_mean = 0.0
        self.dsr_mean_sq = 0.0
        self.last_cost = 0.0
        self.last_notional = 0.0
        self.last_trade = False
        if self.scalar:
            self.units = 0.0
            self.weights = 0.0
            self.entry = 0.0
            self.mark = float(self._close[self.t, 0])
            self.prev_action = flat
        else:
            n = self.n_assets
            self.units = np.zeros(n)
            self.weights = np.zeros(n)
            self.entry = np.zeros(n)
            self.mark = self._close[self.t]
            self.prev_action = np.full(n, flat, dtype=np.int64)

    def reset_copies(self, rows: np.ndarray, starts: np.ndarray) -> None:
        """Not for the single core: use :meth:`reset`."""
        raise TypeError("SingleCore has one unbatched episode: use reset(start)")

    def infos(self, rows: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Not for the single core: use :meth:`info`."""
        raise TypeError("SingleCore has one unbatched episode: use info()")

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """A fresh ``(obs_dim,)`` float32 observation of the current bar."""
        k = self._k
        if self._padded:
            obs = self._rows[self.t - self._off].copy()
        else:
            obs = np.empty(self.obs_dim, dtype=_F32)
            obs[:k] = self._rows[self.t - self._off]
        if self.scalar:
            obs[k] = self.weights
            return obs
        n = self.n_assets
        obs[k : k + n] = self.weights
        if self.config.include_unrealised_pnl:
            pnl = ex.unrealised_pnl(self.units, self.entry, self.mark)
            obs[k + n :] = pnl / self.value
        return obs

    def step(self, actions: Any) -> tuple[np.ndarray, float, bool, bool]:  # type: ignore[override]
        """Advance one bar: ``(obs, reward, terminated, truncated)`` as Python scalars."""
        if not self.scalar:
            weights, mask = self.action_weights(actions)
        elif self.discrete:
            try:
                idx = operator.index(actions)
            except TypeError:
                idx = int(_first(actions))
            mask = idx != self.prev_action
            self.prev_action = idx
            weights = self._level_list[idx]
        else:
            try:
                w = float(actions[0])
            except (TypeError, IndexError):
                w = float(_first(actions))
            weights, mask = _clip_weight(w, self._low, self._max_leverage), None
        reward, terminated, truncated = self._advance(weights, mask)
        return self.observe(), float(reward), bool(terminated), bool(truncated)

    def _one_element_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Fresh ``(1,)`` arrays for the info of a scalar-state step, taken from a pool of
        preallocated rows (creating two tiny arrays per step costs more than the step).
        """
        i = self._slot
        if i == _POOL:
            self._pos_pool = list(np.empty((_POOL, 1)))
            self._unit_pool = list(np.empty((_POOL, 1)))
            i = 0
        self._slot = i + 1
        position = self._pos_pool[i]
        units = self._unit_pool[i]
        position[0] = self.weights
        units[0] = self.units
        return position, units

    def info(self) -> StepInfo:
        """The step/reset info (same content as a batched core's ``infos()[i]``)."""
        t = self.t
        if self.scalar:  # the state is Python floats already
            position, units = self._one_element_arrays()
            return StepInfo(
                portfolio_value=self.value,
                position=position,
                units=units,
                cost=self.last_cost,
                traded_notional=self.last_notional,
                trade=self.last_trade,
                bar=t,
                timestamp=self._stamps[t],
            )
        return StepInfo(
            portfolio_value=float(self.value),
            position=self.weights,  # fresh arrays each step, never mutated
            units=self.units,
            cost=float(self.last_cost),
            traded_notional=float(self.last_notional),
            trade=bool(self.last_trade),
            bar=t,
            timestamp=self._stamps[t],
        )
