"""Evaluation end to end, as pure computation: bars + subjects + request → report.

:func:`run_evaluation` backtests every subject (trained models, rebuilt from their lineage, and
baselines) on the same bars and costs, adds the reference baselines and seeded random policies,
and computes metrics, Sharpe statistics (bootstrap CI, PSR, DSR for a tuned model), verdicts
(paired tests of every candidate vs every reference baseline with family-wise adjusted p-values,
seed robustness of run specs, PBO over the candidates: :func:`subject_verdicts`), cost
sensitivity, policy diagnostics, equity/trade series and the HTML tear sheet.
:func:`~tradeopt_ml.evaluation.walkforward.walk_forward_report` does the same for walk-forward
folds.

The evaluation service's jobs only load (bars, lineages, model zips), call one of these and store
what :class:`EvaluationReport` holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tradeopt_ml.data import Panel, SplitSpec
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.evaluation.backtest import (
    PRICE_BASIS_TEXT,
    BacktestResult,
    backtest_targets,
    price_basis,
    trade_returns,
)
from tradeopt_ml.evaluation.baselines import baseline_positions
from tradeopt_ml.evaluation.config import evaluation_config
from tradeopt_ml.evaluation.evaluate import backtest_model, bar_range, evaluate_result
from tradeopt_ml.evaluation.metrics import compute_metrics
from tradeopt_ml.evaluation.pbo import probability_of_backtest_overfitting
from tradeopt_ml.evaluation.report import render_report
from tradeopt_ml.evaluation.sensitivity import cost_sensitivity
from tradeopt_ml.evaluation.statistics import bootstrap_sharpe_ci, deflated_sharpe_ratio
from tradeopt_ml.evaluation.verdicts import MIN_OBS, compare_with_benchmarks
from tradeopt_ml.instants import UtcDateTime, UtcEndDateTime, iso_utc
from tradeopt_ml.lineage import LineageStudy, ModelLineage

#: Baselines every evaluation reports next to its subjects (buy-and-hold is required, DESIGN §6).
REFERENCE_BASELINES = ("buy_and_hold", "flat", "sma_crossover", "momentum")
#: Cost multipliers of the cost-sensitivity table.
COST_MULTIPLIERS = (0.0, 1.0, 2.0, 3.0)

Progress = Callable[[float, str], None]


class EvaluationError(ValueError):
    """The request cannot be evaluated on these bars (the message says why)."""


@dataclass(frozen=True)
class ModelSubject:
    """A trained model: its lineage and its ``model.zip``."""

    name: str
    lineage: ModelLineage
    model_path: Path


@dataclass(frozen=True)
class BaselineSubject:
    """A baseline strategy (:data:`tradeopt_ml.evaluation.BASELINES`) with its parameters."""

    name: str
    baseline: str
    params: dict[str, Any] = field(default_factory=dict)


Subject = ModelSubject | BaselineSubject


class EvaluationRequest(BaseModel):
    """Which bars and costs, and how much statistics.

    ``part`` picks a split part (the models' split; for baselines only, ``split``, by default
    70/15/15);
    ``start``/``end`` (inclusive) pick a date range instead. ``cost_bps``/``slippage_bps``
    override the models' trained costs (the env default for baselines only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    part: Literal["train", "validation", "test"] | None = "test"
    split: SplitSpec | None = None
    start: UtcDateTime | None = None
    end: UtcEndDateTime | None = None
    cost_bps: float | None = Field(None, ge=0)
    slippage_bps: float | None = Field(None, ge=0)
    random_seeds: int = Field(20, ge=1)
    bootstrap_resamples: int = Field(2000, ge=10)
    level: float = Field(0.05, gt=0, lt=0.5)
    title: str = "Evaluation"


@dataclass
class EvaluationReport:
    """What an evaluation produced, JSON-safe.

    Attributes:
        values: the stored results (``metrics``, ``benchmarks``, ``statistics``,
            ``diagnostics``, ``cost_sensitivity``, ``comparison``, ``verdicts``, ``bars``).
        series: equity/drawdown/position points per subject (``equity.json``).
        trades: trade list per subject (``trades.json``).
        html: the tear sheet (``report.html``).
        subjects: names of the evaluated subjects, in order.
    """

    values: dict[str, Any]
    series: dict[str, list[dict[str, Any]]]
    trades: dict[str, list[dict[str, Any]]]
    html: str
    subjects: list[str]


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, non-finite floats as ``None`` and
    timestamps as ISO 8601 strings (what a JSON column or file can hold).
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | pd.Timestamp | np.datetime64):
        return iso_utc(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def backtest_metrics(
    run: BacktestResult, bars_per_year: float, benchmark: np.ndarray | None = None
) -> dict[str, Any]:
    """Metrics of one backtest: ``n_trades`` counts closed round trips (from the trade list),
    ``n_orders`` the bars on which a position changed, as :func:`evaluate_result` reports them.
    """
    return compute_metrics(
        run.equity,
        bars_per_year=bars_per_year,
        positions=run.positions,
        units=run.units,
        trades=trade_returns(run.trades),
        costs=run.costs,
        benchmark=benchmark,
    )


def distribution(values: Sequence[float | None]) -> dict[str, float | None]:
    """Mean, sample standard deviation and 5/50/95th percentiles of the non-null values."""
    arr = np.array([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return {"mean": None, "std": None, "p05": None, "p50": None, "p95": None}
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "p05": float(np.percentile(arr, 5)),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
    }


def study_deflated_sharpe(
    result: BacktestResult, study: LineageStudy | None, bars_per_year: float
) -> float | None:
    """Deflated Sharpe ratio of a tuned model's backtest from its lineage's study block (trial
    count and variance of the trials' Sharpe ratios); ``None`` without a finished study or for
    fewer than 3 returns or degenerate moments.
    """
    if study is None or study.n_trials is None or study.trials_sharpe_variance is None:
        return None
    returns = result.equity[1:] / result.equity[:-1] - 1.0
    if returns.size < 3:
        return None
    try:
        value = deflated_sharpe_ratio(
            returns,
            n_trials=study.n_trials,
            trials_sharpe_variance=study.trials_sharpe_variance,
            bars_per_year=bars_per_year,
        )
    except ValueError:
        return None
    return float(value) if math.isfinite(value) else None


@dataclass
class _Frame:
    """The bars every subject is evaluated on: panel, bar range and execution config."""

    panel: Panel
    start: int
    stop: int
    config: EnvConfig

    def baseline(
        self, name: str, params: dict[str, Any] | None = None, multiplier: float = 1.0
    ) -> BacktestResult:
        targets = baseline_positions(name, self.panel, **(params or {}))
        config = evaluation_config(self.config, cost_multiplier=multiplier)
        return backtest_targets(self.panel, targets, config, start=self.start, stop=self.stop)


def _model_backtest(
    subject: ModelSubject, bars: pd.DataFrame, request: EvaluationRequest, multiplier: float = 1.0
) -> tuple[BacktestResult, Panel, tuple[int, int], EnvConfig]:
    config = evaluation_config(
        subject.lineage.env,
        cost_bps=request.cost_bps,
        slippage_bps=request.slippage_bps,
        cost_multiplier=multiplier,
    )
    try:
        result, panel, bounds = backtest_model(
            subject.model_path,
            subject.lineage,
            bars,
            part=request.part,
            start=request.start,
            end=request.end,
            cost_bps=config.cost_bps,
            slippage_bps=config.slippage_bps,
        )
    except ValueError as exc:
        raise EvaluationError(f"cannot evaluate {subject.name}: {exc}") from exc
    return result, panel, bounds, config


def run_evaluation(
    bars: pd.DataFrame,
    subjects: Sequence[Subject],
    request: EvaluationRequest,
    *,
    progress: Progress | None = None,
    check: Callable[[], None] | None = None,
) -> EvaluationReport:
    """Evaluate ``subjects`` on the same bars and costs (see the module docstring).

    The first subject is the primary one: its statistics, diagnostics, cost sensitivity and
    tear sheet are reported; every subject gets a row in ``comparison`` (metrics vs buy-and-hold,
    its Sharpe CI, its verdicts and run spec, and ``deflated_sharpe`` for a model whose lineage
    records a finished study); ``verdicts`` holds the full paired tests. Models define
    the bars (their lineage's symbols, split and costs); without models, baselines run on every
    symbol of ``bars`` with the default env costs.

    Args:
        bars: canonical bars of the dataset.
        subjects: models and baselines, primary first.
        request: bars (split part or date range), cost overrides, statistics budget.
        progress: called with ``(fraction, message)`` as the work advances.
        check: called between stages; may raise to stop (cancellation).

    Returns:
        The report (results, series, trades, HTML).

    Raises:
        EvaluationError: a subject cannot be evaluated on these bars (too few bars, unknown
            split part, symbols missing, ...).
    """
    if not subjects:
        raise EvaluationError("nothing to evaluate")
    if request.split is not None and any(isinstance(s, ModelSubject) for s in subjects):
        raise EvaluationError("a model is evaluated on its own split: 'split' is for baselines")
    report_progress = progress or (lambda fraction, message: None)
    results: dict[str, BacktestResult] = {}
    bases: dict[str, str] = {}  # the prices each subject's fills used (a model's own env)
    frame: _Frame | None = None
    for i, subject in enumerate(subjects):
        report_progress(0.1 + 0.5 * i / len(subjects), f"backtesting {subject.name}")
        if isinstance(subject, ModelSubject):
            result, panel, (start, stop), config = _model_backtest(subject, bars, request)
            if frame is None:
                frame = _Frame(panel, start, stop, config)
            results[subject.name] = result
            bases[subject.name] = price_basis(config)
    if frame is None:  # baselines only
        panel = Panel.from_bars(bars)
        try:
            start, stop = bar_range(
                panel, request.split, part=request.part, start=request.start, end=request.end
            )
        except ValueError as exc:
            raise EvaluationError(str(exc)) from exc
        config = evaluation_config(
            EnvConfig(), cost_bps=request.cost_bps, slippage_bps=request.slippage_bps
        )
        frame = _Frame(panel, start, stop, config)
    for subject in subjects:
        if isinstance(subject, BaselineSubject):
            results[subject.name] = frame.baseline(subject.baseline, subject.params)
    report_progress(0.65, "benchmarks")
    bpy = frame.panel.bars_per_year()
    benchmark_runs = {
        name: frame.baseline(name) for name in REFERENCE_BASELINES if name not in results
    }
    benchmark = results.get("buy_and_hold") or benchmark_runs["buy_and_hold"]
    random_metrics = [
        compute_metrics(frame.baseline("random", {"seed": seed}).equity, bars_per_year=bpy)
        for seed in range(request.random_seeds)
    ]
    if check is not None:
        check()
    report_progress(0.75, "metrics and statistics")
    primary = subjects[0]
    primary_run = results[primary.name]
    study = primary.lineage.study if isinstance(primary, ModelSubject) else None
    finished = study is not None and study.finished
    analysis = evaluate_result(
        primary_run,
        bars_per_year=bpy,
        benchmark=benchmark,
        n_trials=study.n_trials if finished and study else None,
        trials_sharpe_variance=study.trials_sharpe_variance if finished and study else None,
        seed=0,
        n_resamples=request.bootstrap_resamples,
    )
    benchmarks: dict[str, Any] = {
        name: backtest_metrics(run, bpy) for name, run in benchmark_runs.items()
    }
    benchmarks["random"] = {
        "seeds": request.random_seeds,
        "sharpe": distribution([m.get("sharpe") for m in random_metrics]),
        "total_return": distribution([m.get("total_return") for m in random_metrics]),
    }
    report_progress(0.85, "cost sensitivity")
    sensitivity = _cost_sensitivity(primary, bars, request, frame, bpy)
    lineages = {s.name: s.lineage for s in subjects if isinstance(s, ModelSubject)}
    report_progress(0.88, "paired tests and verdicts")
    references = {name: results.get(name) or benchmark_runs[name] for name in REFERENCE_BASELINES}
    verdicts = subject_verdicts(
        results, references, lineages, bpy, request.level, request.bootstrap_resamples
    )
    compact = _compact_verdicts(verdicts)
    specs_of = _specs_by_subject(verdicts)
    comparison = []
    for name, run in results.items():
        row = {"subject": name, **backtest_metrics(run, bpy, benchmark.equity[: len(run.equity)])}
        if name in lineages:
            row["deflated_sharpe"] = study_deflated_sharpe(run, lineages[name].study, bpy)
            tuned_in = lineages[name].study
            row["study_pbo"] = tuned_in.pbo if tuned_in is not None else None
        row["sharpe_ci"] = _sharpe_ci(run, bpy, request.bootstrap_resamples)
        row["verdicts"] = compact.get(name, {})
        if name in specs_of:
            row["spec"] = specs_of[name]
        comparison.append(row)
    series = {name: run.to_series() for name, run in results.items()}
    for name in REFERENCE_BASELINES:  # every benchmark's curve, for equity vs every benchmark
        if name not in series:
            series[name] = (results.get(name) or benchmark_runs[name]).to_series()
    basis = price_basis(frame.config)
    trades = {
        name: [{**trade, "prices": bases.get(name, basis)} for trade in run.trades]
        for name, run in results.items()
    }
    first, last = pd.Timestamp(primary_run.timestamps[0]), pd.Timestamp(primary_run.timestamps[-1])
    notes = [
        f"Bars {first.date()} to {last.date()} ({len(primary_run.equity) - 1} decisions), "
        f"fills at {frame.config.fill} on {PRICE_BASIS_TEXT[basis]}, costs "
        f"{frame.config.cost_bps} bps + slippage {frame.config.slippage_bps} bps, out of "
        f"sample: {request.part or 'date range'}.",
        "Sharpe: simple returns, risk-free 0, annualised with "
        f"{bpy:g} bars per year; CI: stationary block bootstrap.",
    ]
    html = render_report(
        timestamps=primary_run.timestamps,
        equity=primary_run.equity,
        metrics={
            primary.name: analysis["metrics"],
            "buy_and_hold": backtest_metrics(benchmark, bpy),
        },
        benchmark_equity=benchmark.equity[: len(primary_run.equity)],
        positions=primary_run.positions,
        bars_per_year=bpy,
        title=request.title,
        strategy_name=primary.name,
        benchmark_name="buy_and_hold",
        notes=notes,
    )
    statistics = {k: v for k, v in analysis.items() if k not in ("metrics", "diagnostics")}
    if finished and study is not None:
        # the study's own overfitting measure travels with its models' evaluations
        statistics["study"] = {
            "study_id": str(study.study_id),
            "n_trials": study.n_trials,
            "trials_sharpe_variance": study.trials_sharpe_variance,
            "pbo": study.pbo,
        }
    values = {
        "metrics": json_safe(analysis["metrics"]),
        "benchmarks": json_safe(benchmarks),
        "statistics": json_safe(statistics),
        "diagnostics": json_safe(analysis.get("diagnostics") or {}),
        "cost_sensitivity": json_safe(sensitivity),
        "comparison": json_safe(comparison),
        "verdicts": json_safe(verdicts),
        "bars": {
            "symbols": list(frame.panel.symbols),
            "start": iso_utc(first),
            "end": iso_utc(last),
            "decisions": int(len(primary_run.equity) - 1),
            # the env's bust rule ends a backtest early (portfolio below bust_fraction of cash)
            "terminated_early": bool(getattr(primary_run, "terminated", False)),
            "bars_per_year": bpy,
            "fill": frame.config.fill,
            "prices": basis,
            "cost_bps": frame.config.cost_bps,
            "slippage_bps": frame.config.slippage_bps,
        },
    }
    return EvaluationReport(
        values=values,
        series=json_safe(series),
        trades=json_safe(trades),
        html=html,
        subjects=list(results),
    )


def _cost_sensitivity(
    subject: Subject,
    bars: pd.DataFrame,
    request: EvaluationRequest,
    frame: _Frame,
    bpy: float,
) -> list[dict[str, Any]]:
    def run(multiplier: float) -> dict[str, Any]:
        if isinstance(subject, ModelSubject):
            result = _model_backtest(subject, bars, request, multiplier)[0]
        else:
            result = frame.baseline(subject.baseline, subject.params, multiplier)
        return {
            "equity": result.equity,
            "positions": result.positions,
            "trades": trade_returns(result.trades),
            "costs": result.costs,
        }

    rows = cost_sensitivity(run, bars_per_year=bpy, multipliers=COST_MULTIPLIERS)
    return [
        {
            "cost_multiplier": row["cost_multiplier"],
            "cost_bps": frame.config.cost_bps * float(row["cost_multiplier"] or 0.0),
            "slippage_bps": frame.config.slippage_bps * float(row["cost_multiplier"] or 0.0),
            "total_return": row.get("total_return"),
            "sharpe": row.get("sharpe"),
            "max_drawdown": row.get("max_drawdown"),
            "turnover": row.get("turnover"),
        }
        for row in rows
    ]


def _returns_of(run: BacktestResult) -> np.ndarray:
    return np.asarray(run.equity[1:] / run.equity[:-1] - 1.0, dtype=np.float64)


def _sharpe_ci(run: BacktestResult, bpy: float, resamples: int) -> list[float | None] | None:
    """Stationary block-bootstrap 95% CI of a subject's Sharpe (seed 0, as the primary's)."""
    returns = _returns_of(run)
    if returns.size < 3 or float(np.std(returns)) <= 0:
        return None
    ci = bootstrap_sharpe_ci(returns, bars_per_year=bpy, n_resamples=resamples, seed=0)
    return [ci.low if math.isfinite(ci.low) else None, ci.high if math.isfinite(ci.high) else None]


def run_spec_key(lineage: ModelLineage) -> str:
    """What a model was trained from, without its seed: models with the same key are seeds of
    one run spec (same algorithm, hyperparameters, budget, data, features, env and split).
    """
    import hashlib
    import json

    recipe = lineage.recipe().model_dump(mode="json", exclude={"seed", "normalizer"})
    recipe["dataset"] = str(lineage.dataset.id)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]
    return f"spec:{lineage.algorithm}:{digest}"


def subject_verdicts(
    results: dict[str, BacktestResult],
    references: dict[str, BacktestResult],
    lineages: dict[str, ModelLineage],
    bpy: float,
    level: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired verdicts of the candidates (the models; the baselines when there is no model)
    against every reference baseline on the same bars, Romano-Wolf adjusted per benchmark;
    seed robustness of run specs with several seeds; PBO (CSCV) over the candidates when there
    are at least two (:mod:`~tradeopt_ml.evaluation.verdicts`, :mod:`~tradeopt_ml.evaluation.pbo`).

    Series that ended early (the env's bust rule) are compared on the bars they share. Returns
    ``{"available": False, "reason": ...}`` when too few bars remain.
    """
    names = (
        [n for n in results if n in lineages]
        or [n for n in results if n not in REFERENCE_BASELINES]
        or list(results)
    )
    n_bars = min(len(run.equity) for run in [*results.values(), *references.values()]) - 1
    if n_bars < MIN_OBS:
        return {"available": False, "reason": f"{n_bars} bars: paired tests need {MIN_OBS}"}
    candidates = {n: _returns_of(results[n])[:n_bars] for n in names}
    benchmarks = {n: _returns_of(run)[:n_bars] for n, run in references.items()}
    groups: dict[str, list[tuple[str, int]]] = {}
    for name in names:
        if name in lineages:
            groups.setdefault(run_spec_key(lineages[name]), []).append((name, lineages[name].seed))
    try:
        out = compare_with_benchmarks(
            candidates,
            benchmarks,
            bars_per_year=bpy,
            specs=groups,
            level=level,
            n_resamples=n_resamples,
            seed=seed,
        ).to_dict()
    except ValueError as exc:  # e.g. non-finite returns: the rest of the evaluation stands
        return {"available": False, "reason": str(exc)}
    out["available"] = True
    out["candidates"] = names
    out["pbo"] = None
    if len(names) >= 2:
        partitions = next((s for s in (16, 12, 10, 8, 6, 4) if n_bars // s >= 10), None)
        if partitions is not None:
            matrix = np.stack([candidates[n] for n in names], axis=1)
            pbo = probability_of_backtest_overfitting(matrix, n_partitions=partitions)
            out["pbo"] = pbo.to_dict()
    return out


def _compact_verdicts(verdicts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per subject: ``{benchmark: {verdict, sharpe_difference, p_value, p_value_adjusted,
    family_size, level, test}}``.
    """
    out: dict[str, dict[str, Any]] = {}
    for pair in verdicts.get("pairs", []):
        out.setdefault(pair["subject"], {})[pair["benchmark"]] = {
            "verdict": pair["verdict"],
            "sharpe_difference": pair["sharpe_difference"],
            "p_value": pair["p_value"],
            "p_value_adjusted": pair["p_value_adjusted"],
            "family_size": pair["family_size"],
            "level": pair["level"],
            "test": pair["test"],
        }
    return out


def _specs_by_subject(verdicts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per model of a multi-seed run spec: the spec, its seeds, its Sharpe across seeds and the
    verdicts about the spec (compact, by benchmark).
    """
    out: dict[str, dict[str, Any]] = {}
    for spec in verdicts.get("specs", []):
        entry = {
            "spec": spec["spec"],
            "seeds": spec["seeds"],
            "sharpe": spec["sharpe"],
            "verdicts": _compact_verdicts({"pairs": spec["verdicts"]}).get(spec["spec"], {}),
        }
        for subject in spec["subjects"]:
            out[subject] = entry
    return out
