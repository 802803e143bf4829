"""The paper-trading engine: a strategy's policy stepped bar by bar through the training env's
own core, with risk limits before every order.

There is no second accounting implementation: every bar is one call of
:class:`~tradeopt_ml.envs.single.SingleCore` (which calls :mod:`tradeopt_ml.execution` —
the fills, costs and slippage of training and of the evaluation backtest). The engine is the
*simulated broker* of :mod:`tradeopt_ml.paper.broker`; what it adds is the decision loop of a
live strategy — observe the bar's close, ask the policy (deterministic), check the risk limits,
send the order, record the fill — and a per-bar record the service persists.

Crash safety lives in :meth:`PaperEngine.restore`: given the applied decisions recorded so far,
the engine re-steps them without asking the policy and lands in the exact state (same floats)
it had; the next bar continues from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from tradeopt_ml import execution as ex
from tradeopt_ml.envs.single import SingleCore
from tradeopt_ml.evaluation.config import evaluation_config
from tradeopt_ml.evaluation.evaluate import bar_range, rebuild_observations
from tradeopt_ml.lineage import ModelRecipe
from tradeopt_ml.paper.risk import RiskLimits, RiskState, breach, check_order

Kind = Literal["trade", "hold", "rejected", "reduced", "flatten"]


class Policy(Protocol):
    """What the engine asks for an action (a stable-baselines3 model qualifies)."""

    def predict(self, observation: Any, deterministic: bool = ...) -> tuple[Any, Any]:
        """``(action, state)`` for one observation."""
        ...


@dataclass(frozen=True, slots=True)
class Applied:
    """What was sent to the core for one decision (enough to re-step it exactly).

    Attributes:
        action: the policy's raw action (JSON-able: an int, or a list of ints or floats).
        weights: target weights sent instead of the action when the risk check reduced the
            order (continuous policies), else None.
        hold: True when the order was rejected (nothing trades this bar).
        kind: ``trade`` (the policy's order), ``hold`` (same target as held: no order),
            ``rejected``, ``reduced`` or ``flatten`` (risk halt / kill switch).
        reason: why an order was rejected, reduced or flattened.
    """

    action: Any
    weights: list[float] | None = None
    hold: bool = False
    kind: Kind = "trade"
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stored per bar)."""
        return {
            "action": self.action,
            "weights": self.weights,
            "hold": self.hold,
            "kind": self.kind,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Applied:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass(slots=True)
class BarRecord:
    """One processed decision bar: the order, its fill and the book after it.

    ``t`` is the decision bar (its close was observed); ``fill_t`` the bar whose open
    (``fill="next_open"``) or close (``fill="close"``) filled the order; the book is marked at
    ``mark_t``'s close (the bar after the decision).
    """

    seq: int
    t: np.datetime64
    fill_t: np.datetime64
    mark_t: np.datetime64
    applied: Applied
    target: list[float]
    traded: list[float]
    price: list[float]
    fill_price: list[float]
    commission: list[float]
    slippage: list[float]
    cost: float
    units: list[float]
    cash: float
    value: float
    weights: list[float]
    drawdown: float
    realised_pnl: float
    unrealised_pnl: float
    halted: str | None = None
    done: bool = False
    symbols: tuple[str, ...] = field(default=())

    @property
    def ordered(self) -> bool:
        """Whether an order was sent (and filled) this bar."""
        return any(u != 0.0 for u in self.traded)


def _entry_one(units: float, traded: float, entry: float, fill: float) -> tuple[float, float]:
    """:func:`tradeopt_ml.execution.update_entry_price` for one asset on floats (same steps):
    the new average entry price and the PnL realised by the trade (costs excluded).
    """
    new_units = units + traded
    opening = units * traded >= 0.0
    sign = 1.0 if units > 0 else (-1.0 if units < 0 else 0.0)
    closed = 0.0 if opening else min(abs(traded), abs(units)) * sign
    realised = closed * (fill - entry)
    if new_units == 0.0:
        return 0.0, realised
    if opening:
        return (units * entry + traded * fill) / new_units, realised
    return (fill if new_units * units < 0.0 else entry), realised


def _json_action(action: Any) -> Any:
    a = np.asarray(action)
    if a.ndim == 0:
        return a.item()
    return a.reshape(-1).tolist()


class PaperEngine:
    """A strategy's decisions over a range of bars (see the module docstring).

    Args:
        core: the env core over the range (built by :meth:`for_range` as the backtest does).
        policy: the loaded model.
        limits: the strategy's risk limits.
    """

    def __init__(self, core: SingleCore, policy: Policy | None, limits: RiskLimits) -> None:
        self.core = core
        self.policy = policy
        self.limits = limits
        core.reset(core.earliest)
        self.k = 0
        self.n_decisions = core.last - core.earliest
        self.halted: str | None = None
        self._halt_request: str | None = None
        self.risk = RiskState(peak=float(core.value))
        n = core.n_assets
        self.entry = np.zeros(n)
        self.realised = 0.0
        self.peak = float(core.value)
        self.done = self.n_decisions <= 0
        #: The policy's actions for every decision, precomputed (see :meth:`plan`); dropped as
        #: soon as a risk decision departs from them (later observations then differ).
        self._plan: list[Any] | None = None
        #: Bar timestamps as ``datetime64[ns]`` (converted once, not per bar).
        self._stamps: Any = np.asarray(core.timestamps, dtype="datetime64[ns]")
        #: Their UTC day numbers (the risk state's day boundaries), as Python ints.
        self._days: list[int] = self._stamps.astype("datetime64[D]").astype(np.int64).tolist()
        self._symbols = tuple(core.symbols)
        #: Per-bar constants of the execution model (same values as ``core.costs``' properties).
        self._slip = core.costs.slip_rate
        self._commission = core.costs.cost_rate
        self._fill_offset = 1 if core.config.fill == "next_open" else 0
        #: One asset, discrete levels, no order limits: a decision is its level index and
        #: whether it holds, so the few distinct (immutable) :class:`Applied` are shared.
        self._levels_only = bool(
            core.scalar and core.discrete and not self._order_limits_of(limits)
        )
        self._applied: dict[tuple[Any, bool], Applied] = {}
        self._order_limits = self._order_limits_of(limits)
        #: What builds a twin of the core (set by :meth:`for_range`).
        self._twin: tuple[Any, ...] | None = None

    @classmethod
    def for_range(
        cls,
        lineage: ModelRecipe,
        bars: pd.DataFrame,
        policy: Policy | None,
        limits: RiskLimits,
        *,
        part: str | None = "test",
        start: datetime | None = None,
        end: datetime | None = None,
        cost_bps: float | None = None,
        slippage_bps: float | None = None,
    ) -> PaperEngine:
        """The engine over a split part or a date range, built exactly as
        :func:`~tradeopt_ml.evaluation.backtest_model` builds its core (observations rebuilt
        from the lineage, the evaluation config, the same bar range).
        """
        data = rebuild_observations(lineage, bars)
        lo, hi = bar_range(data.panel, data.split_spec, part=part, start=start, end=end)
        config = evaluation_config(data.config, cost_bps=cost_bps, slippage_bps=slippage_bps)
        core = SingleCore(data.panel, data.observations, config, start=lo, stop=hi)
        engine = cls(core, policy, limits)
        engine._twin = (data.panel, data.observations, config, lo, hi)
        return engine

    def plan(self) -> int:
        """Precompute the policy's actions for every decision of the range with the evaluation's
        exact fast path (:func:`~tradeopt_ml.evaluation.policy.fast_policy_backtest`: batched
        forward passes and a fix-point scan, identical actions to ``model.predict`` per bar) on
        a twin of the core. While no risk decision departs from them, :meth:`decide` takes them
        instead of one ``predict`` per bar (the replay's ``speed: max`` path). Returns the
        number of planned decisions (0 when there is nothing to plan with).
        """
        from tradeopt_ml.evaluation.policy import fast_policy_backtest

        twin = self._twin
        if twin is None or self.policy is None or not hasattr(self.policy, "policy"):
            return 0
        panel, observations, config, lo, hi = twin
        result, _ = fast_policy_backtest(
            self.policy, SingleCore(panel, observations, config, start=lo, stop=hi), trades=False
        )
        if result.actions is None:
            self._plan = None
            return 0
        # the actions as the engine records them (JSON-able), converted once for all bars
        actions = np.asarray(result.actions)
        self._plan = actions.tolist() if actions.ndim == 1 else [_json_action(a) for a in actions]
        return len(self._plan)

    @classmethod
    def for_live(
        cls,
        lineage: ModelRecipe,
        bars: pd.DataFrame,
        policy: Policy | None,
        limits: RiskLimits,
        *,
        cost_bps: float | None = None,
        slippage_bps: float | None = None,
    ) -> PaperEngine | None:
        """The engine over live bars received so far (canonical frame, oldest first), able to
        decide at the last bar's close: a placeholder bar (the last one repeated one second
        later; never traded or marked before it is replaced by the real next bar) gives the
        core its room for a step. Features at a bar depend only on bars up to it, so the
        placeholder changes nothing observed. ``None`` while the features' warm-up and the
        window are not filled yet.
        """
        last = bars.iloc[[-1]].copy()
        last["timestamp"] = last["timestamp"] + pd.Timedelta(seconds=1)
        frame = pd.concat([bars, last], ignore_index=True)
        data = rebuild_observations(lineage, frame)
        config = evaluation_config(data.config, cost_bps=cost_bps, slippage_bps=slippage_bps)
        try:
            core = SingleCore(data.panel, data.observations, config)
        except ValueError as exc:
            if str(exc).startswith("no room for a step"):
                return None
            raise
        return cls(core, policy, limits)

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _order_limits_of(limits: RiskLimits) -> bool:
        return bool(limits.max_position or limits.max_order_size or limits.allowed_hours)

    @property
    def planned(self) -> bool:
        """Whether decisions still come from the precomputed plan (:meth:`plan`)."""
        return self._plan is not None

    @property
    def timestamps(self) -> np.ndarray:
        """``(K,)`` decision bar timestamps (``datetime64[ns]``, UTC)."""
        core = self.core
        return np.asarray(core.timestamps[core.earliest : core.last])

    @property
    def bar_time(self) -> np.datetime64:
        """Timestamp of the next decision bar."""
        return self._stamps[self.core.t]

    @property
    def weights(self) -> np.ndarray:
        """``(N,)`` weights held now."""
        return np.atleast_1d(np.asarray(self.core.weights, dtype=np.float64))

    @property
    def units(self) -> np.ndarray:
        """``(N,)`` units held now."""
        return np.atleast_1d(np.asarray(self.core.units, dtype=np.float64))

    def request_halt(self, reason: str) -> None:
        """Flatten at the next decision bar and halt after it (the kill switch)."""
        self._halt_request = self._halt_request or reason

    def _flat_action(self) -> Any:
        core = self.core
        if core.discrete:
            return core._flat if core.n_assets == 1 else [core._flat] * core.n_assets
        return [0.0] * core.n_assets

    def _target_of(self, action: Any) -> np.ndarray:
        core = self.core
        if core.discrete:
            idx = np.asarray(action, dtype=np.int64).reshape(core.n_assets)
            return np.asarray(core._levels[idx], dtype=np.float64)
        a = np.asarray(action).reshape(core.n_assets)
        return np.asarray(ex.clip_weights(a, core._low, core._max_leverage), dtype=np.float64)

    def _held_target(self) -> np.ndarray | None:
        """The target held now for discrete policies (the level of the previous action)."""
        core = self.core
        if not core.discrete:
            return None
        idx = np.asarray(core.prev_action, dtype=np.int64).reshape(core.n_assets)
        return np.asarray(core._levels[idx], dtype=np.float64)

    def decide(self) -> Applied:
        """The next decision: risk breach or kill switch → flatten; else the policy's action
        checked against the limits.
        """
        if self.done or self.halted:
            raise RuntimeError("the session has ended")
        core = self.core
        value, when, day = float(core.value), self._stamps[core.t], self._days[core.t]
        reason = self._halt_request or breach(self.limits, self.risk, value, when, day)
        self.risk.observe(value, when, day)
        if reason is not None:
            return Applied(self._flat_action(), kind="flatten", reason=reason)
        plan = self._plan
        if plan is not None and self.k < len(plan):
            raw = action = plan[self.k]
        elif self.policy is None:
            raise RuntimeError("no policy to decide with")
        else:
            action, _ = self.policy.predict(core.observe(), deterministic=True)
            raw = _json_action(action)
        if self._levels_only:
            # one asset, fixed levels, nothing to check: compare level indices
            hold = raw == core.prev_action
            try:
                return self._applied[raw, hold]
            except KeyError:
                applied = Applied(raw, kind="hold" if hold else "trade")
                if isinstance(raw, int):
                    self._applied[raw, hold] = applied
                return applied
            except TypeError:  # not hashable
                return Applied(raw, kind="hold" if hold else "trade")
        target = self._target_of(action)
        held = self._held_target()
        current = held if held is not None else self.weights
        if held is not None and np.array_equal(target, held):
            return Applied(raw, kind="hold")
        if not self._order_limits:
            return Applied(raw)
        verdict = check_order(self.limits, current, target, when, can_reduce=not core.discrete)
        if not verdict.allowed:
            return Applied(raw, hold=True, kind="rejected", reason=verdict.reason)
        if verdict.reason is not None:
            reduced = verdict.target.tolist()
            return Applied(raw, weights=reduced, kind="reduced", reason=verdict.reason)
        return Applied(raw)

    def apply(self, applied: Applied) -> BarRecord:
        """Send the decision to the core (the simulated broker) and record the bar."""
        core = self.core
        t0 = core.t
        units0: Any = None if core.scalar else self.units
        u0 = float(core.units) if core.scalar else 0.0
        if applied.hold or applied.weights is not None:
            n = core.n_assets
            if applied.hold:
                w: Any = core.weights if core.scalar else np.asarray(core.weights, dtype=float)
                mask: Any = False if core.scalar else np.zeros(n, dtype=bool)
            else:
                w = applied.weights[0] if core.scalar else np.asarray(applied.weights)  # type: ignore[index]
                mask = None
            _, terminated, truncated = core._advance(w, mask)
        elif self._levels_only and type(applied.action) is int:
            # SingleCore.step's one-asset discrete branch without the observation it builds
            idx = applied.action
            mask1 = idx != core.prev_action
            core.prev_action = idx  # type: ignore[assignment]  # scalar state: an int
            _, terminated, truncated = core._advance(core._level_list[idx], mask1)
        else:
            _, _, terminated, truncated = core.step(applied.action)
        self.k += 1
        slip = self._slip
        if core.scalar:  # one asset held as floats: the same formulas on Python floats
            u1 = float(core.units)
            tr = u1 - u0
            p = float(core._fill_at[t0])
            fp = p * (1.0 + slip * (1.0 if tr > 0 else (-1.0 if tr < 0 else 0.0)))
            entry, realised = _entry_one(u0, tr, float(self.entry[0]), fp)
            self.entry[0] = entry
            self.realised += realised
            notional1 = abs(tr) * p
            units_l, traded_l, price_l, fill_l = [u1], [tr], [p], [fp]
            commission_l = [notional1 * self._commission]
            slippage_l = [notional1 * slip]
            unrealised = u1 * (float(core._close_at[core.t]) - entry)
            weights_l = [float(core.weights)]
        else:
            units = self.units
            traded = units - units0
            price = np.atleast_1d(np.asarray(core._fill[t0], dtype=np.float64))
            mark = np.atleast_1d(np.asarray(core._close[core.t], dtype=np.float64))
            fill_price = ex.fill_price(price, traded, slip)
            notional = np.abs(traded) * price
            new_entry, realised_a = ex.update_entry_price(
                units0[None],
                traded[None],
                self.entry[None],
                fill_price[None],
            )
            self.entry = new_entry[0]
            self.realised += float(realised_a.sum())
            units_l, traded_l = units.tolist(), traded.tolist()
            price_l, fill_l = price.tolist(), fill_price.tolist()
            commission_l = (notional * self._commission).tolist()
            slippage_l = (notional * slip).tolist()
            unrealised = float(ex.unrealised_pnl(units, self.entry, mark).sum())
            weights_l = self.weights.tolist()
        value = float(core.value)
        self.peak = max(self.peak, value)
        if applied.kind not in ("trade", "hold"):
            self._plan = None  # the policy now observes a book its plan did not hold
        elif (
            self._plan is not None
            and self.k - 1 < len(self._plan)
            and self._plan[self.k - 1] != applied.action
        ):
            self._plan = None  # restored decisions of another run
        if applied.kind == "flatten":
            self.halted = applied.reason
        self.done = bool(terminated or truncated) or self.halted is not None
        if applied.hold:
            target = weights_l
        elif applied.weights is not None:
            target = list(applied.weights)
        elif core.scalar and core.discrete:
            target = [core._level_list[int(applied.action)]]
        else:
            target = self._target_of(applied.action).tolist()
        fill_bar = t0 + self._fill_offset
        stamps = self._stamps
        return BarRecord(
            seq=self.k - 1,
            t=stamps[t0],
            fill_t=stamps[fill_bar],
            mark_t=stamps[core.t],
            applied=applied,
            target=[float(x) for x in target],
            traded=traded_l,
            price=price_l,
            fill_price=fill_l,
            commission=commission_l,
            slippage=slippage_l,
            cost=float(core.last_cost),
            units=units_l,
            cash=float(core.cash),
            value=value,
            weights=weights_l,
            drawdown=value / self.peak - 1.0,
            realised_pnl=self.realised,
            unrealised_pnl=unrealised,
            halted=self.halted,
            done=self.done,
            symbols=self._symbols,
        )

    def step(self) -> BarRecord:
        """Decide and apply the next bar."""
        return self.apply(self.decide())

    def restore(self, applied: list[Applied]) -> list[BarRecord]:
        """Re-step decisions recorded by an earlier run (no policy calls): the engine lands in
        the exact state it had after them. Returns their records (to verify against storage).
        """
        records = []
        for item in applied:
            t = self.core.t
            self.risk.observe(float(self.core.value), self._stamps[t], self._days[t])
            records.append(self.apply(item))
        return records
