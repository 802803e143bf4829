"""The body of an ``evaluation.evaluate`` job: backtest every subject (models, baselines) on the
same bars and costs through the shared execution model, compute metrics and statistics, store the
series, trades and an HTML tear sheet.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.contracts.models import model_key, read_lineage
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs.runner import JobContext
from tradeopt_common.logging import get_logger
from tradeopt_evaluation.models import Evaluation, EvaluationStatus
from tradeopt_evaluation.repository import EvaluationRepository
from tradeopt_evaluation.service import artifact_key
from tradeopt_ml.data import Panel, SplitSpec, make_splits, read_bars_parquet
from tradeopt_ml.envs import EnvConfig
from tradeopt_ml.evaluation import (
    BacktestResult,
    backtest_model,
    backtest_targets,
    baseline_positions,
    compute_metrics,
    evaluate_result,
    render_report,
    trade_returns,
)

log = get_logger(__name__)
COST_MULTIPLIERS = (0.0, 1.0, 2.0, 3.0)
#: Baselines every evaluation reports next to its subject (buy-and-hold is required, DESIGN §6).
REFERENCE_BASELINES = ("buy_and_hold", "flat", "sma_crossover", "momentum")


@dataclass
class Subject:
    """One thing evaluated: a model (with its lineage and zip) or a baseline."""

    name: str
    model_id: uuid.UUID | None = None
    lineage: dict[str, Any] | None = None
    model_path: Path | None = None
    baseline: str | None = None
    params: dict[str, Any] | None = None


@dataclass
class Frame:
    """The bars every subject is evaluated on: panel, bar range and execution config."""

    panel: Panel
    start: int
    stop: int
    config: EnvConfig


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, datetime | pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    return value


def _bar_range(
    panel: Panel, evaluation: Evaluation, split_spec: dict[str, Any] | None
) -> tuple[int, int]:
    if evaluation.part is not None:
        splits = make_splits(
            panel.timestamps, SplitSpec.model_validate(split_spec or {}), min_bars=2
        )
        try:
            part = splits.get(evaluation.part)
        except KeyError as exc:
            raise ValidationFailed(f"the split has no {evaluation.part} part") from exc
        return part.start, part.stop
    stamps = pd.DatetimeIndex(panel.timestamps).tz_localize("UTC")
    start = (
        0 if evaluation.start is None else int(stamps.searchsorted(pd.Timestamp(evaluation.start)))
    )
    stop = (
        panel.n_bars
        if evaluation.end is None
        else int(stamps.searchsorted(pd.Timestamp(evaluation.end), side="right"))
    )
    if stop - start < 3:
        raise ValidationFailed("the date range holds fewer than 3 bars of this dataset")
    return start, stop


def _config(base: EnvConfig, evaluation: Evaluation, multiplier: float = 1.0) -> EnvConfig:
    cost = base.cost_bps if evaluation.cost_bps is None else evaluation.cost_bps
    slip = base.slippage_bps if evaluation.slippage_bps is None else evaluation.slippage_bps
    return base.model_copy(
        update={
            "cost_bps": cost * multiplier,
            "slippage_bps": slip * multiplier,
            "random_start": False,
            "episode_length": None,
        }
    )


def _run_model(
    subject: Subject, bars: pd.DataFrame, evaluation: Evaluation, multiplier: float = 1.0
) -> tuple[BacktestResult, Panel, tuple[int, int], EnvConfig]:
    assert subject.lineage is not None
    assert subject.model_path is not None
    env = EnvConfig.model_validate(subject.lineage["env"])
    config = _config(env, evaluation, multiplier)
    result, panel, bounds = backtest_model(
        subject.model_path,
        subject.lineage,
        bars,
        part=evaluation.part,
        start=evaluation.start,
        end=evaluation.end,
        cost_bps=config.cost_bps,
        slippage_bps=config.slippage_bps,
    )
    return result, panel, bounds, config


def _run_baseline(
    name: str,
    frame: Frame,
    params: dict[str, Any] | None = None,
    multiplier: float = 1.0,
    config: EnvConfig | None = None,
) -> BacktestResult:
    targets = baseline_positions(name, frame.panel, **(params or {}))
    cfg = config or frame.config
    if multiplier != 1.0:
        cfg = cfg.model_copy(
            update={
                "cost_bps": cfg.cost_bps * multiplier,
                "slippage_bps": cfg.slippage_bps * multiplier,
            }
        )
    return backtest_targets(frame.panel, targets, cfg, start=frame.start, stop=frame.stop)


def run_metrics(
    run: BacktestResult, bars_per_year: float, benchmark: np.ndarray | None = None
) -> dict[str, Any]:
    """Metrics of one backtest: ``n_trades`` counts closed round trips (from the trade list),
    ``n_orders`` the bars on which a position changed, as :func:`evaluate_result` reports them.
    """
    orders = compute_metrics(
        run.equity, bars_per_year=bars_per_year, positions=run.units, costs=run.costs
    )["n_trades"]
    metrics = compute_metrics(
        run.equity,
        bars_per_year=bars_per_year,
        positions=run.positions,
        trades=trade_returns(run.trades),
        costs=run.costs,
        benchmark=benchmark,
    )
    metrics["n_orders"] = orders
    return metrics


def _summary(values: list[float | None]) -> dict[str, float | None]:
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


async def _load(session: Any, evaluation_id: uuid.UUID) -> Evaluation:
    evaluation = await EvaluationRepository(session).get(evaluation_id)
    if evaluation is None:
        raise ValidationFailed(f"evaluation {evaluation_id} no longer exists")
    evaluation.status = EvaluationStatus.RUNNING
    await session.flush()
    return evaluation


async def _save(session: Any, evaluation_id: uuid.UUID, values: dict[str, Any]) -> None:
    evaluation = await EvaluationRepository(session).get(evaluation_id)
    if evaluation is not None:
        for name, value in values.items():
            setattr(evaluation, name, value)
        await session.flush()


def evaluate(
    ctx: JobContext, *, random_seeds: int = 20, bootstrap_resamples: int = 2000
) -> dict[str, Any]:
    """Run one evaluation (see the module docstring)."""
    evaluation_id = uuid.UUID(ctx.params["evaluation_id"])
    evaluation = ctx.db(lambda s: _load(s, evaluation_id))
    store = ctx.store
    manifest = read_manifest(store, evaluation.dataset_id)
    if manifest is None or manifest.checksum != evaluation.dataset_checksum:
        raise ValidationFailed(f"dataset {evaluation.dataset_id} is gone or changed")
    request = evaluation.request
    with tempfile.TemporaryDirectory(prefix=f"tradeopt-eval-{evaluation_id}-") as tmp:
        workdir = Path(tmp)
        ctx.progress(0.05, "loading bars and models", force=True)
        store.download_file(manifest.bars_key, workdir / "bars.parquet")
        bars = read_bars_parquet(workdir / "bars.parquet")
        subjects = _subjects(ctx, evaluation, request, workdir)
        results: dict[str, BacktestResult] = {}
        frame: Frame | None = None
        for i, subject in enumerate(subjects):
            ctx.progress(0.1 + 0.5 * i / len(subjects), f"backtesting {subject.name}")
            if subject.model_path is not None:
                try:
                    result, panel, (start, stop), config = _run_model(subject, bars, evaluation)
                except ValueError as exc:
                    raise ValidationFailed(f"cannot evaluate {subject.name}: {exc}") from exc
                if frame is None:
                    frame = Frame(panel, start, stop, config)
                results[subject.name] = result
        if frame is None:  # baselines only
            panel = Panel.from_bars(bars)
            start, stop = _bar_range(panel, evaluation, request.get("split_spec"))
            frame = Frame(panel, start, stop, _config(EnvConfig(), evaluation))
        for subject in subjects:
            if subject.baseline is not None:
                results[subject.name] = _run_baseline(subject.baseline, frame, subject.params)
        ctx.progress(0.65, "benchmarks")
        bpy = frame.panel.bars_per_year()
        benchmarks_runs = {
            name: _run_baseline(name, frame) for name in REFERENCE_BASELINES if name not in results
        }
        benchmark = results.get("buy_and_hold") or benchmarks_runs["buy_and_hold"]
        random_metrics = [
            compute_metrics(
                _run_baseline("random", frame, {"seed": seed}).equity, bars_per_year=bpy
            )
            for seed in range(random_seeds)
        ]
        ctx.check()
        ctx.progress(0.75, "metrics and statistics")
        primary_name = subjects[0].name
        primary = results[primary_name]
        lineage = subjects[0].lineage or {}
        study = lineage.get("study") or {}
        analysis = evaluate_result(
            primary,
            bars_per_year=bpy,
            benchmark=benchmark,
            n_trials=study.get("n_trials"),
            trials_sharpe_variance=study.get("trials_sharpe_variance"),
            seed=0,
            n_resamples=bootstrap_resamples,
        )
        benchmarks = {name: run_metrics(run, bpy) for name, run in benchmarks_runs.items()}
        benchmarks["random"] = {
            "seeds": random_seeds,
            "sharpe": _summary([m.get("sharpe") for m in random_metrics]),
            "total_return": _summary([m.get("total_return") for m in random_metrics]),
        }
        ctx.progress(0.85, "cost sensitivity")
        sensitivity = _cost_sensitivity(subjects[0], bars, evaluation, frame, bpy)
        comparison = [
            {
                "subject": name,
                **run_metrics(run, bpy, benchmark.equity[: len(run.equity)]),
            }
            for name, run in results.items()
        ]
        ctx.progress(0.92, "storing results")
        series = {name: run.to_series() for name, run in results.items()}
        series["buy_and_hold"] = benchmark.to_series()
        store.put_bytes(
            artifact_key(evaluation_id, "equity.json"),
            json.dumps(_json_safe(series)).encode(),
            content_type="application/json",
        )
        store.put_bytes(
            artifact_key(evaluation_id, "trades.json"),
            json.dumps(_json_safe({name: run.trades for name, run in results.items()})).encode(),
            content_type="application/json",
        )
        notes = [
            f"Bars {pd.Timestamp(primary.timestamps[0]).date()} to "
            f"{pd.Timestamp(primary.timestamps[-1]).date()} ({len(primary.equity) - 1} decisions), "
            f"fills at {frame.config.fill}, costs {frame.config.cost_bps} bps + slippage "
            f"{frame.config.slippage_bps} bps, out of sample: {evaluation.part or 'date range'}.",
            "Sharpe: simple returns, risk-free 0, annualised with "
            f"{bpy:g} bars per year; CI: stationary block bootstrap.",
        ]
        html = render_report(
            timestamps=primary.timestamps,
            equity=primary.equity,
            metrics={
                primary_name: analysis["metrics"],
                "buy_and_hold": run_metrics(benchmark, bpy),
            },
            benchmark_equity=benchmark.equity[: len(primary.equity)],
            positions=primary.positions,
            bars_per_year=bpy,
            title=f"Evaluation {evaluation_id}",
            strategy_name=primary_name,
            benchmark_name="buy_and_hold",
            notes=notes,
        )
        store.put_bytes(
            artifact_key(evaluation_id, "report.html"), html.encode(), content_type="text/html"
        )
    statistics = {k: v for k, v in analysis.items() if k not in ("metrics", "diagnostics")}
    values = {
        "metrics": _json_safe(analysis["metrics"]),
        "benchmarks": _json_safe(benchmarks),
        "statistics": _json_safe(statistics),
        "diagnostics": _json_safe(analysis.get("diagnostics") or {}),
        "cost_sensitivity": _json_safe(sensitivity),
        "comparison": _json_safe(comparison),
        "bars": {
            "symbols": list(frame.panel.symbols),
            "start": pd.Timestamp(primary.timestamps[0]).isoformat(),
            "end": pd.Timestamp(primary.timestamps[-1]).isoformat(),
            "decisions": int(len(primary.equity) - 1),
            # the env's bust rule ends a backtest early (portfolio below bust_fraction of cash)
            "terminated_early": bool(getattr(primary, "terminated", False)),
            "bars_per_year": bpy,
            "fill": frame.config.fill,
            "cost_bps": frame.config.cost_bps,
            "slippage_bps": frame.config.slippage_bps,
        },
    }
    ctx.db(lambda s: _save(s, evaluation_id, values))
    return {"evaluation_id": str(evaluation_id), "subjects": list(results)}


def _subjects(
    ctx: JobContext, evaluation: Evaluation, request: dict[str, Any], workdir: Path
) -> list[Subject]:
    subjects: list[Subject] = []
    for entry in evaluation.subjects:
        kind, _, name = entry.partition(":")
        if kind == "model":
            model_id = uuid.UUID(name)
            lineage = read_lineage(ctx.store, model_id)
            if lineage is None:
                raise ValidationFailed(f"model {model_id} no longer exists")
            path = workdir / f"{model_id}.zip"
            ctx.store.download_file(model_key(model_id), path)
            subjects.append(Subject(f"model:{model_id}", model_id, lineage, path))
        else:
            params = request.get("baseline_params") or {}
            subjects.append(Subject(name, baseline=name, params=params))
    return subjects


def _cost_sensitivity(
    subject: Subject, bars: pd.DataFrame, evaluation: Evaluation, frame: Frame, bpy: float
) -> list[dict[str, Any]]:
    rows = []
    for multiplier in COST_MULTIPLIERS:
        if subject.model_path is not None:
            run = _run_model(subject, bars, evaluation, multiplier)[0]
        else:
            run = _run_baseline(subject.baseline or "", frame, subject.params, multiplier)
        metrics = run_metrics(run, bpy)
        rows.append(
            {
                "cost_multiplier": multiplier,
                "cost_bps": frame.config.cost_bps * multiplier,
                "slippage_bps": frame.config.slippage_bps * multiplier,
                "total_return": metrics.get("total_return"),
                "sharpe": metrics.get("sharpe"),
                "max_drawdown": metrics.get("max_drawdown"),
                "turnover": metrics.get("turnover"),
            }
        )
    return rows
