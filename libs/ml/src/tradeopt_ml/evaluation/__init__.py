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
