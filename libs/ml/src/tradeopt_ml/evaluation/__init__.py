"""Evaluation: the backtest engine, metrics, Sharpe statistics, policy diagnostics, baseline
signals, tear sheets.

Pure computation on numpy arrays (no DB, HTTP or plotting dependency). The backtest engine
(:mod:`~tradeopt_ml.evaluation.backtest`) runs target weights or a trained policy through the
training env's own core (fills, costs and accounting of :mod:`tradeopt_ml.execution`);
:mod:`~tradeopt_ml.evaluation.evaluate` rebuilds a model's observations from its lineage and
scores results; :mod:`~tradeopt_ml.evaluation.verdicts` (paired tests, multiple-testing
control, seed robustness) and :mod:`~tradeopt_ml.evaluation.pbo` (CSCV) turn them into verdicts.
The entry points: :func:`run_evaluation` (bars + subjects + request → report),
:func:`walk_forward_report` (folds' models on their test windows, stitched) and the one
evaluation env config builder :func:`evaluation_config`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradeopt_ml.evaluation.backtest import (
        BacktestResult,
        backtest_targets,
        extract_trades,
        trade_returns,
    )
    from tradeopt_ml.evaluation.baselines import (
        BASELINES,
        baseline_positions,
        buy_and_hold,
        flat,
        momentum,
        random,
        sma_crossover,
    )
    from tradeopt_ml.evaluation.config import evaluation_config
    from tradeopt_ml.evaluation.diagnostics import (
        DiagnosticThresholds,
        PolicyDiagnostics,
        action_distribution,
        diagnose_policy,
    )
    from tradeopt_ml.evaluation.evaluate import (
        backtest_model,
        bar_range,
        evaluate_result,
        rebuild_observations,
    )
    from tradeopt_ml.evaluation.metrics import (
        CORE_METRICS,
        MonthlyReturns,
        compute_metrics,
        drawdown_series,
        holding_periods,
        max_drawdown_duration,
        metrics_table,
        monthly_returns,
        position_changes,
        rolling_sharpe,
        sharpe_ratio,
        simple_returns,
        sortino_ratio,
    )
    from tradeopt_ml.evaluation.pbo import PBOResult, probability_of_backtest_overfitting
    from tradeopt_ml.evaluation.policy import fast_policy_backtest, predict_batch
    from tradeopt_ml.evaluation.report import render_report
    from tradeopt_ml.evaluation.run import (
        COST_MULTIPLIERS,
        REFERENCE_BASELINES,
        BaselineSubject,
        EvaluationError,
        EvaluationReport,
        EvaluationRequest,
        ModelSubject,
        Subject,
        backtest_metrics,
        distribution,
        json_safe,
        run_evaluation,
        run_spec_key,
        study_deflated_sharpe,
        subject_verdicts,
    )
    from tradeopt_ml.evaluation.sensitivity import cost_sensitivity
    from tradeopt_ml.evaluation.statistics import (
        SharpeCI,
        bootstrap_indices,
        bootstrap_sharpe_ci,
        default_block_length,
        deflated_sharpe_ratio,
        dsr_from_moments,
        expected_max_sharpe,
        min_track_record_length,
        probabilistic_sharpe_ratio,
        psr_from_moments,
        sharpe_moments,
    )
    from tradeopt_ml.evaluation.verdicts import (
        ContrastTests,
        FamilyTest,
        PairVerdict,
        SpecRobustness,
        Verdicts,
        choose_block_length,
        compare_with_benchmarks,
        contrast_tests,
    )
    from tradeopt_ml.evaluation.walkforward import (
        FoldModel,
        equity_points,
        stitch,
        walk_forward_report,
    )

#: Where each public name lives: its module is imported on first use (PEP 562), so importing
#: one light part of the package (a config, a schema) does not import the heavy ones (torch,
#: stable-baselines3, arch) with it: an API process that never trains starts in a fraction of
#: the time.
_WHERE: dict[str, str] = {
    "BASELINES": "tradeopt_ml.evaluation.baselines",
    "BacktestResult": "tradeopt_ml.evaluation.backtest",
    "BaselineSubject": "tradeopt_ml.evaluation.run",
    "CORE_METRICS": "tradeopt_ml.evaluation.metrics",
    "COST_MULTIPLIERS": "tradeopt_ml.evaluation.run",
    "ContrastTests": "tradeopt_ml.evaluation.verdicts",
    "DiagnosticThresholds": "tradeopt_ml.evaluation.diagnostics",
    "EvaluationError": "tradeopt_ml.evaluation.run",
    "EvaluationReport": "tradeopt_ml.evaluation.run",
    "EvaluationRequest": "tradeopt_ml.evaluation.run",
    "FamilyTest": "tradeopt_ml.evaluation.verdicts",
    "FoldModel": "tradeopt_ml.evaluation.walkforward",
    "ModelSubject": "tradeopt_ml.evaluation.run",
    "MonthlyReturns": "tradeopt_ml.evaluation.metrics",
    "PBOResult": "tradeopt_ml.evaluation.pbo",
    "PairVerdict": "tradeopt_ml.evaluation.verdicts",
    "PolicyDiagnostics": "tradeopt_ml.evaluation.diagnostics",
    "REFERENCE_BASELINES": "tradeopt_ml.evaluation.run",
    "SharpeCI": "tradeopt_ml.evaluation.statistics",
    "SpecRobustness": "tradeopt_ml.evaluation.verdicts",
    "Subject": "tradeopt_ml.evaluation.run",
    "Verdicts": "tradeopt_ml.evaluation.verdicts",
    "action_distribution": "tradeopt_ml.evaluation.diagnostics",
    "backtest_metrics": "tradeopt_ml.evaluation.run",
    "backtest_model": "tradeopt_ml.evaluation.evaluate",
    "backtest_targets": "tradeopt_ml.evaluation.backtest",
    "bar_range": "tradeopt_ml.evaluation.evaluate",
    "baseline_positions": "tradeopt_ml.evaluation.baselines",
    "bootstrap_indices": "tradeopt_ml.evaluation.statistics",
    "bootstrap_sharpe_ci": "tradeopt_ml.evaluation.statistics",
    "buy_and_hold": "tradeopt_ml.evaluation.baselines",
    "choose_block_length": "tradeopt_ml.evaluation.verdicts",
    "compare_with_benchmarks": "tradeopt_ml.evaluation.verdicts",
    "compute_metrics": "tradeopt_ml.evaluation.metrics",
    "contrast_tests": "tradeopt_ml.evaluation.verdicts",
    "cost_sensitivity": "tradeopt_ml.evaluation.sensitivity",
    "default_block_length": "tradeopt_ml.evaluation.statistics",
    "deflated_sharpe_ratio": "tradeopt_ml.evaluation.statistics",
    "diagnose_policy": "tradeopt_ml.evaluation.diagnostics",
    "distribution": "tradeopt_ml.evaluation.run",
    "drawdown_series": "tradeopt_ml.evaluation.metrics",
    "dsr_from_moments": "tradeopt_ml.evaluation.statistics",
    "equity_points": "tradeopt_ml.evaluation.walkforward",
    "evaluate_result": "tradeopt_ml.evaluation.evaluate",
    "evaluation_config": "tradeopt_ml.evaluation.config",
    "expected_max_sharpe": "tradeopt_ml.evaluation.statistics",
    "extract_trades": "tradeopt_ml.evaluation.backtest",
    "fast_policy_backtest": "tradeopt_ml.evaluation.policy",
    "flat": "tradeopt_ml.evaluation.baselines",
    "holding_periods": "tradeopt_ml.evaluation.metrics",
    "json_safe": "tradeopt_ml.evaluation.run",
    "max_drawdown_duration": "tradeopt_ml.evaluation.metrics",
    "metrics_table": "tradeopt_ml.evaluation.metrics",
    "min_track_record_length": "tradeopt_ml.evaluation.statistics",
    "momentum": "tradeopt_ml.evaluation.baselines",
    "monthly_returns": "tradeopt_ml.evaluation.metrics",
    "position_changes": "tradeopt_ml.evaluation.metrics",
    "predict_batch": "tradeopt_ml.evaluation.policy",
    "probabilistic_sharpe_ratio": "tradeopt_ml.evaluation.statistics",
    "probability_of_backtest_overfitting": "tradeopt_ml.evaluation.pbo",
    "psr_from_moments": "tradeopt_ml.evaluation.statistics",
    "random": "tradeopt_ml.evaluation.baselines",
    "rebuild_observations": "tradeopt_ml.evaluation.evaluate",
    "render_report": "tradeopt_ml.evaluation.report",
    "rolling_sharpe": "tradeopt_ml.evaluation.metrics",
    "run_evaluation": "tradeopt_ml.evaluation.run",
    "run_spec_key": "tradeopt_ml.evaluation.run",
    "sharpe_moments": "tradeopt_ml.evaluation.statistics",
    "sharpe_ratio": "tradeopt_ml.evaluation.metrics",
    "simple_returns": "tradeopt_ml.evaluation.metrics",
    "sma_crossover": "tradeopt_ml.evaluation.baselines",
    "sortino_ratio": "tradeopt_ml.evaluation.metrics",
    "stitch": "tradeopt_ml.evaluation.walkforward",
    "study_deflated_sharpe": "tradeopt_ml.evaluation.run",
    "subject_verdicts": "tradeopt_ml.evaluation.run",
    "trade_returns": "tradeopt_ml.evaluation.backtest",
    "walk_forward_report": "tradeopt_ml.evaluation.walkforward",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BASELINES",
    "CORE_METRICS",
    "COST_MULTIPLIERS",
    "REFERENCE_BASELINES",
    "BacktestResult",
    "BaselineSubject",
    "ContrastTests",
    "DiagnosticThresholds",
    "EvaluationError",
    "EvaluationReport",
    "EvaluationRequest",
    "FamilyTest",
    "FoldModel",
    "ModelSubject",
    "MonthlyReturns",
    "PBOResult",
    "PairVerdict",
    "PolicyDiagnostics",
    "SharpeCI",
    "SpecRobustness",
    "Subject",
    "Verdicts",
    "action_distribution",
    "backtest_metrics",
    "backtest_model",
    "backtest_targets",
    "bar_range",
    "baseline_positions",
    "bootstrap_indices",
    "bootstrap_sharpe_ci",
    "buy_and_hold",
    "choose_block_length",
    "compare_with_benchmarks",
    "compute_metrics",
    "contrast_tests",
    "cost_sensitivity",
    "default_block_length",
    "deflated_sharpe_ratio",
    "diagnose_policy",
    "distribution",
    "drawdown_series",
    "dsr_from_moments",
    "equity_points",
    "evaluate_result",
    "evaluation_config",
    "expected_max_sharpe",
    "extract_trades",
    "fast_policy_backtest",
    "flat",
    "holding_periods",
    "json_safe",
    "max_drawdown_duration",
    "metrics_table",
    "min_track_record_length",
    "momentum",
    "monthly_returns",
    "position_changes",
    "predict_batch",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "psr_from_moments",
    "random",
    "rebuild_observations",
    "render_report",
    "rolling_sharpe",
    "run_evaluation",
    "run_spec_key",
    "sharpe_moments",
    "sharpe_ratio",
    "simple_returns",
    "sma_crossover",
    "sortino_ratio",
    "stitch",
    "study_deflated_sharpe",
    "subject_verdicts",
    "trade_returns",
    "walk_forward_report",
]
