"""Walk-forward evaluation as pure computation: each fold's model backtested on its own test
window (out of sample, same costs), the test windows stitched into one out-of-sample equity curve,
per-fold and overall metrics against buy-and-hold, and the report (the same
:class:`~tradeopt_ml.evaluation.run.EvaluationReport` as a single evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_ml.data import Panel
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.evaluation.backtest import (
    PRICE_BASIS_TEXT,
    backtest_targets,
    price_basis,
    trade_returns,
)
from tradeopt_ml.evaluation.baselines import baseline_positions
from tradeopt_ml.evaluation.config import evaluation_config
from tradeopt_ml.evaluation.evaluate import backtest_model
from tradeopt_ml.evaluation.metrics import compute_metrics
from tradeopt_ml.evaluation.report import render_report
from tradeopt_ml.evaluation.run import EvaluationError, EvaluationReport, ModelSubject, json_safe
from tradeopt_ml.evaluation.statistics import (
    bootstrap_sharpe_ci,
    probabilistic_sharpe_ratio,
)
from tradeopt_ml.instants import iso_utc


@dataclass(frozen=True)
class FoldModel:
    """One walk-forward fold's trained model and the bars it is tested on.

    Attributes:
        index: the fold's number.
        train: the fold's training window (JSON form, e.g. :meth:`Segment.as_dict`).
        test: the fold's test window (JSON form); ``start``/``stop`` index the dataset's
            panel of the evaluated symbols.
        test_start: first bar of the test window.
        test_end: last bar of the test window (inclusive).
        model: the fold's model.
        run_id: the training run that produced it.
    """

    index: int
    train: dict[str, Any]
    test: dict[str, Any]
    test_start: datetime
    test_end: datetime
    model: ModelSubject
    run_id: str


def stitch(parts: Sequence[np.ndarray], initial: float) -> np.ndarray:
    """Chain each part's returns into one curve starting at ``initial``."""
    returns = np.concatenate([p[1:] / p[:-1] for p in parts])
    return initial * np.concatenate([[1.0], np.cumprod(returns)])


def equity_points(
    timestamps: np.ndarray, values: np.ndarray, positions: np.ndarray | None
) -> list[dict[str, Any]]:
    """``[{"t", "equity", "drawdown"[, "position"]}]`` of a curve; ``t`` is ISO 8601 UTC."""
    drawdown = values / np.maximum.accumulate(values) - 1.0
    out = []
    for i, t in enumerate(pd.DatetimeIndex(timestamps).strftime("%Y-%m-%dT%H:%M:%SZ")):
        point: dict[str, Any] = {"t": t, "equity": float(values[i]), "drawdown": float(drawdown[i])}
        if positions is not None:
            row = positions[i]
            point["position"] = float(row[0]) if row.shape[0] == 1 else row.tolist()
        out.append(point)
    return out


def walk_forward_report(
    bars: pd.DataFrame,
    panel: Panel,
    folds: Sequence[FoldModel],
    *,
    cost_bps: float | None = None,
    slippage_bps: float | None = None,
    title: str = "Walk-forward evaluation",
) -> EvaluationReport:
    """Backtest each fold's model on its own test window (out of sample, same costs), stitch the
    test windows into one curve and report per-fold and overall metrics against buy-and-hold.

    Args:
        bars: canonical bars of the dataset.
        panel: the panel of the evaluated symbols (folds index its bars).
        folds: the folds, in time order, each with its trained model.
        cost_bps: commission override, else each model's trained costs.
        slippage_bps: slippage override, else each model's.
        title: the tear sheet's title.

    Returns:
        The report: ``values["comparison"]`` holds one row per fold.
    """
    if not folds:
        raise EvaluationError("no folds to evaluate")
    strategy: list[np.ndarray] = []
    benchmark: list[np.ndarray] = []
    stamps: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    units: list[np.ndarray] = []
    trades: list[dict[str, Any]] = []
    per_fold: list[dict[str, Any]] = []
    bpy = panel.bars_per_year()
    config: EnvConfig | None = None
    for fold in folds:
        lineage = fold.model.lineage
        config = evaluation_config(lineage.env, cost_bps=cost_bps, slippage_bps=slippage_bps)
        try:
            result, fold_panel, (a, b) = backtest_model(
                fold.model.model_path,
                lineage,
                bars,
                part=None,
                start=fold.test_start,
                end=fold.test_end,
                cost_bps=config.cost_bps,
                slippage_bps=config.slippage_bps,
            )
        except ValueError as exc:
            raise EvaluationError(f"cannot evaluate fold {fold.index}: {exc}") from exc
        bh = backtest_targets(
            fold_panel, baseline_positions("buy_and_hold", fold_panel), config, start=a, stop=b
        )
        strategy.append(result.equity)
        benchmark.append(bh.equity[: len(result.equity)])
        stamps.append(result.timestamps if not stamps else result.timestamps[1:])
        positions.append(result.positions if not positions else result.positions[1:])
        units.append(result.units if not units else result.units[1:])
        basis = price_basis(config)
        trades += [{**t, "fold": fold.index, "prices": basis} for t in result.trades]
        fold_metrics = compute_metrics(
            result.equity,
            bars_per_year=bpy,
            positions=result.positions,
            units=result.units,
            trades=trade_returns(result.trades),
            costs=result.costs,
            benchmark=bh.equity[: len(result.equity)],
        )
        per_fold.append(
            {
                "fold": fold.index,
                "run_id": fold.run_id,
                "model_id": str(lineage.model_id),
                "train": fold.train,
                "test": fold.test,
                "terminated_early": bool(result.terminated),
                "buy_and_hold_total_return": float(bh.equity[-1] / bh.equity[0] - 1),
                **fold_metrics,
            }
        )
    assert config is not None
    initial = float(strategy[0][0])
    equity = stitch(strategy, initial)
    bh_equity = stitch(benchmark, initial)
    timestamps = np.concatenate(stamps)
    held = np.concatenate(positions)
    metrics = compute_metrics(
        equity,
        bars_per_year=bpy,
        positions=held,
        units=np.concatenate(units),
        trades=trade_returns([t for t in trades if t.get("exit_time") is not None]),
        benchmark=bh_equity,
    )
    returns = equity[1:] / equity[:-1] - 1.0
    ci = bootstrap_sharpe_ci(returns, bars_per_year=bpy, seed=0)
    statistics = {
        "sharpe_ci": [ci.low, ci.high],
        "sharpe_ci_level": ci.level,
        "probabilistic_sharpe": probabilistic_sharpe_ratio(returns),
        "deflated_sharpe": None,
        "folds": len(folds),
    }
    bh_metrics = compute_metrics(bh_equity, bars_per_year=bpy)
    html = render_report(
        timestamps=timestamps,
        equity=equity,
        metrics={"walk_forward": metrics, "buy_and_hold": bh_metrics},
        benchmark_equity=bh_equity,
        positions=held,
        bars_per_year=bpy,
        title=title,
        strategy_name="walk_forward",
        notes=[
            f"{len(folds)} folds; each model trained only on its fold's training window and "
            "evaluated on the following test window; test windows stitched out of sample.",
            f"Fills at {config.fill} on {PRICE_BASIS_TEXT[price_basis(config)]}.",
        ],
    )
    values = {
        "metrics": json_safe(metrics),
        "benchmarks": json_safe({"buy_and_hold": bh_metrics}),
        "statistics": json_safe(statistics),
        "comparison": json_safe(per_fold),
        "bars": {
            "symbols": list(panel.symbols),
            "start": iso_utc(timestamps[0]),
            "end": iso_utc(timestamps[-1]),
            "decisions": int(len(equity) - 1),
            "bars_per_year": bpy,
            "fill": config.fill,
            "prices": price_basis(config),
            "cost_bps": config.cost_bps,
            "slippage_bps": config.slippage_bps,
            "folds": len(folds),
        },
    }
    series = {
        "walk_forward": equity_points(timestamps, equity, held),
        "buy_and_hold": equity_points(timestamps, bh_equity, None),
    }
    return EvaluationReport(
        values=values,
        series=json_safe(series),
        trades=json_safe({"walk_forward": trades}),
        html=html,
        subjects=["walk_forward"],
    )
