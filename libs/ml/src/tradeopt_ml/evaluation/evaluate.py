"""Evaluation orchestration: rebuild a trained model's observations from its lineage, backtest it
deterministically (fast path or the per-bar reference), and score a backtest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_ml.data import Panel, SplitSpec, make_splits
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.envs.single import SingleCore
from tradeopt_ml.evaluation.backtest import BacktestResult, Recorder, trade_returns
from tradeopt_ml.evaluation.config import evaluation_config
from tradeopt_ml.evaluation.diagnostics import diagnose_policy
from tradeopt_ml.evaluation.metrics import compute_metrics
from tradeopt_ml.evaluation.policy import fast_policy_backtest
from tradeopt_ml.evaluation.statistics import (
    bootstrap_sharpe_ci,
    deflated_sharpe_ratio,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sharpe_moments,
)
from tradeopt_ml.features import compute_features
from tradeopt_ml.lineage import ModelRecipe

SHARPE_CI_LEVEL = 0.95


@dataclass
class LineageData:
    """Observations rebuilt from a model's lineage on a set of bars (no refitting)."""

    panel: Panel
    observations: np.ndarray  # (T, N, F) float32, normalised with the lineage statistics
    config: EnvConfig
    split_spec: SplitSpec


def rebuild_observations(lineage: ModelRecipe, bars: pd.DataFrame) -> LineageData:
    """Panel, features and normalised observations exactly as training built them.

    Uses the lineage's symbols, feature spec, normalisation statistics (never refitted), env
    config and split spec.
    """
    panel = Panel.from_bars(bars, symbols=list(lineage.symbols))
    features = compute_features(panel, lineage.features)
    normalizer = lineage.normalizer.normalizer()
    observations = np.ascontiguousarray(normalizer.transform(features), dtype=np.float32)
    return LineageData(
        panel=panel, observations=observations, config=lineage.env, split_spec=lineage.split_spec
    )


def _as_ns(when: datetime | str | np.datetime64) -> np.datetime64:
    ts = pd.Timestamp(when)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.as_unit("ns").to_datetime64(), "ns")


def bar_range(
    panel: Panel,
    split_spec: SplitSpec | None,
    *,
    part: str | None = "test",
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[int, int]:
    """``(start, stop)`` bar indices of a split part, or of the bars in ``[start, end]`` (dates
    inclusive; either may be None for the panel's first/last bar). Dates win over ``part``.
    """
    ts = panel.timestamps
    if start is not None or end is not None or part is None:
        lo = 0 if start is None else int(np.searchsorted(ts, _as_ns(start), side="left"))
        hi = ts.size if end is None else int(np.searchsorted(ts, _as_ns(end), side="right"))
    else:
        splits = make_splits(ts, split_spec, min_bars=2)
        try:
            seg = splits.get(part)
        except KeyError as exc:
            raise ValueError(f"the split has no {part} part") from exc
        lo, hi = seg.start, seg.stop
    if hi - lo < 2:
        raise ValueError(f"the range has {max(hi - lo, 0)} bar(s); need at least 2")
    return lo, hi


def reference_backtest(model: Any, core: SingleCore) -> BacktestResult:
    """The reference: step the env core from its first bar with ``model.predict`` per bar."""
    rec = Recorder(core)
    obs = core.observe()
    actions = []
    while not rec.done and rec.k < rec.n_max:
        action, _ = model.predict(obs, deterministic=True)
        actions.append(action)
        obs = rec.step(action)
    return rec.result(np.asarray(actions))


def step_with_predict(model: Any, env: Any) -> tuple[np.ndarray, np.ndarray]:
    """The reference written out: a gymnasium trading env stepped from ``reset`` to its end with
    ``model.predict`` per bar; the actions and the portfolio values (the fast paths are checked,
    and benchmarked, against it).
    """
    obs, info = env.reset()
    values, actions, done = [info["portfolio_value"]], [], False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        actions.append(action)
        values.append(info["portfolio_value"])
        done = terminated or truncated
    return np.asarray(actions), np.asarray(values)


def backtest_model(
    model_path: Path,
    lineage: ModelRecipe,
    bars: pd.DataFrame,
    *,
    part: str | None = "test",
    start: datetime | None = None,
    end: datetime | None = None,
    cost_bps: float | None = None,
    slippage_bps: float | None = None,
    fast: bool = True,
    model: Any = None,
) -> tuple[BacktestResult, Panel, tuple[int, int]]:
    """Backtest a trained model deterministically over a split part or a date range.

    Observations are rebuilt from ``lineage`` (feature spec, normalisation statistics, env
    config, symbols, split spec applied to ``bars``) as training built them. The policy runs
    from the range's first usable bar (after the features' warm-up and the window) to its end,
    no random start, no episode limit. ``fast=True`` uses
    :func:`~tradeopt_ml.evaluation.policy.fast_policy_backtest` (same actions and equity as the
    reference), ``fast=False`` steps the env with ``model.predict`` per bar.

    Args:
        model_path: the saved model (``model.zip``).
        lineage: the model's lineage (``model.json``) or its recipe.
        bars: canonical bars holding the lineage's symbols.
        part: split part (``train``/``validation``/``test``) when no dates are given.
        start: first date of the range (inclusive), overrides ``part``.
        end: last date of the range (inclusive), overrides ``part``.
        cost_bps: commission override (cost sensitivity), else the lineage env's.
        slippage_bps: slippage override, else the lineage env's.
        fast: fast path or per-bar reference.
        model: an already loaded model (skips loading ``model_path``).

    Returns:
        ``(result, panel, (start, stop))``: the backtest, the panel it ran on and the bar
        range of the part or dates.
    """
    data = rebuild_observations(lineage, bars)
    rng = bar_range(data.panel, data.split_spec, part=part, start=start, end=end)
    config = evaluation_config(data.config, cost_bps=cost_bps, slippage_bps=slippage_bps)
    if model is None:
        from tradeopt_ml.agents import load_model

        model = load_model(lineage.algorithm, model_path, device="cpu")
    core = SingleCore(data.panel, data.observations, config, start=rng[0], stop=rng[1])
    if fast:
        result, _ = fast_policy_backtest(model, core)
    else:
        result = reference_backtest(model, core)
    return result, data.panel, rng


# ----------------------------------------------------------------------------------------------
# scoring
# ----------------------------------------------------------------------------------------------
def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def evaluate_result(
    result: BacktestResult,
    *,
    bars_per_year: float,
    benchmark: BacktestResult | None,
    n_trials: int | None = None,
    trials_sharpe_variance: float | None = None,
    seed: int = 0,
    n_resamples: int = 2000,
) -> dict[str, Any]:
    """Metrics, Sharpe statistics and policy diagnostics of a backtest.

    The benchmark (e.g. buy-and-hold on the same bars and costs) must start at the same bar; it
    is cut to the result's length when the result stopped early (bust).

    Returns:
        ``{"metrics", "sharpe_ci": [lo, hi], "sharpe_ci_level", "probabilistic_sharpe",
        "deflated_sharpe" (None unless ``n_trials`` and ``trials_sharpe_variance``),
        "min_track_record" (bars; None when infinite), "diagnostics"}``. ``metrics`` gets
        ``n_trades`` as the number of closed round-trip trades (with ``trade_hit_rate`` and
        ``trade_payoff_ratio``) and ``n_orders`` as the number of (bar, asset) position changes.
    """
    n = result.equity.shape[0]
    bench_eq = None
    if benchmark is not None:
        if benchmark.timestamps[0] != result.timestamps[0]:
            raise ValueError("the benchmark must start at the result's first bar")
        bench_eq = benchmark.equity[:n]
        if bench_eq.shape[0] < n:  # the benchmark went bust first: it stays where it ended
            bench_eq = np.concatenate([bench_eq, np.full(n - bench_eq.shape[0], bench_eq[-1])])
    # orders are counted on units: weights also drift with prices between orders
    metrics = compute_metrics(
        result.equity, bars_per_year=bars_per_year, positions=result.positions,
        units=result.units, trades=trade_returns(result.trades), benchmark=bench_eq,
        costs=result.costs,
    )  # fmt: skip
    returns = result.equity[1:] / result.equity[:-1] - 1.0
    out: dict[str, Any] = {
        "metrics": metrics,
        "sharpe_ci": [None, None],
        "sharpe_ci_level": SHARPE_CI_LEVEL,
        "probabilistic_sharpe": None,
        "deflated_sharpe": None,
        "min_track_record": None,
    }
    if returns.size >= 3:
        ci = bootstrap_sharpe_ci(
            returns,
            bars_per_year=bars_per_year,
            level=SHARPE_CI_LEVEL,
            seed=seed,
            n_resamples=n_resamples,
        )
        out["sharpe_ci"] = [_finite(ci.low), _finite(ci.high)]
        try:
            out["probabilistic_sharpe"] = _finite(probabilistic_sharpe_ratio(returns))
            sr, skew, kurt, _ = sharpe_moments(returns)
            out["min_track_record"] = _finite(min_track_record_length(sr, skew, kurt))
            if n_trials is not None and trials_sharpe_variance is not None:
                out["deflated_sharpe"] = _finite(
                    deflated_sharpe_ratio(
                        returns,
                        n_trials=n_trials,
                        trials_sharpe_variance=trials_sharpe_variance,
                        bars_per_year=bars_per_year,
                    )
                )
        except ValueError:  # degenerate moments (e.g. constant returns)
            pass
    prices = result.prices
    asset_returns = None
    if prices.shape[0] == n:
        asset_returns = np.vstack([np.zeros((1, prices.shape[1])), prices[1:] / prices[:-1] - 1])
    out["diagnostics"] = diagnose_policy(
        result.positions, actions=result.actions, asset_returns=asset_returns, units=result.units
    ).to_dict()
    return out
