"""Evaluation: metrics, Sharpe statistics, policy diagnostics, baseline signals, tear sheets.

Pure computation on numpy arrays (no DB, HTTP or plotting dependency). The backtest engine that
executes positions lives on :mod:`tradeopt_ml.execution`; this package only scores its output.
"""

from tradeopt_ml.evaluation.baselines import (
    BASELINES,
    baseline_positions,
    buy_and_hold,
    flat,
    momentum,
    random,
    sma_crossover,
)
from tradeopt_ml.evaluation.diagnostics import (
    DiagnosticThresholds,
    PolicyDiagnostics,
    action_distribution,
    diagnose_policy,
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
from tradeopt_ml.evaluation.report import render_report
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

__all__ = [
    "BASELINES",
    "CORE_METRICS",
    "DiagnosticThresholds",
    "MonthlyReturns",
    "PolicyDiagnostics",
    "SharpeCI",
    "action_distribution",
    "baseline_positions",
    "bootstrap_indices",
    "bootstrap_sharpe_ci",
    "buy_and_hold",
    "compute_metrics",
    "cost_sensitivity",
    "default_block_length",
    "deflated_sharpe_ratio",
    "diagnose_policy",
    "drawdown_series",
    "dsr_from_moments",
    "expected_max_sharpe",
    "flat",
    "holding_periods",
    "max_drawdown_duration",
    "metrics_table",
    "min_track_record_length",
    "momentum",
    "monthly_returns",
    "position_changes",
    "probabilistic_sharpe_ratio",
    "psr_from_moments",
    "random",
    "render_report",
    "rolling_sharpe",
    "sharpe_moments",
    "sharpe_ratio",
    "simple_returns",
    "sma_crossover",
    "sortino_ratio",
]
