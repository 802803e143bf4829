"""The library's evaluation entry point and its pieces: baselines on the real SPY sample through
:func:`run_evaluation` (same numbers as the engine called directly), the one evaluation config
builder, the deflated Sharpe of a lineage's study block, stitching, and the typed study block."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.envs import EnvConfig
from tradeopt_ml.evaluation import (
    BaselineSubject,
    EvaluationError,
    EvaluationRequest,
    backtest_metrics,
    backtest_targets,
    bar_range,
    baseline_positions,
    deflated_sharpe_ratio,
    evaluation_config,
    run_evaluation,
    stitch,
    study_deflated_sharpe,
)
from tradeopt_ml.lineage import LineageStudy, StudyOutcome

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def bars():
    return load_sample("SPY")


def test_evaluation_config_is_the_whole_range_with_scaled_costs():
    base = EnvConfig(cost_bps=4.0, slippage_bps=2.0, random_start=True, episode_length=64)
    config = evaluation_config(base)
    assert (config.random_start, config.episode_length) == (False, None)
    assert (config.cost_bps, config.slippage_bps) == (4.0, 2.0)
    over = evaluation_config(base, cost_bps=1, slippage_bps=0.5, cost_multiplier=3.0)
    assert (over.cost_bps, over.slippage_bps) == (3.0, 1.5)
    assert evaluation_config(base, cost_multiplier=0.0).cost_bps == 0.0
    with pytest.raises(ValueError, match="cost_multiplier"):
        evaluation_config(base, cost_multiplier=-1.0)


def test_baselines_through_the_entry_point_match_the_engine(bars):
    request = EvaluationRequest(part="test", cost_bps=5.0, random_seeds=3, bootstrap_resamples=200)
    report = run_evaluation(
        bars, [BaselineSubject("sma_crossover", "sma_crossover", {"fast": 10, "slow": 50})], request
    )
    panel = Panel.from_bars(bars)
    start, stop = bar_range(panel, None, part="test")
    config = evaluation_config(EnvConfig(), cost_bps=5.0)
    direct = backtest_targets(
        panel,
        baseline_positions("sma_crossover", panel, fast=10, slow=50),
        config,
        start=start,
        stop=stop,
    )
    bh = backtest_targets(
        panel, baseline_positions("buy_and_hold", panel), config, start=start, stop=stop
    )
    expected = backtest_metrics(direct, panel.bars_per_year(), bh.equity)
    row = report.values["comparison"][0]
    assert row["subject"] == "sma_crossover" and "deflated_sharpe" not in row
    for name in ("total_return", "sharpe", "max_drawdown", "turnover", "n_trades", "n_orders"):
        assert row[name] == pytest.approx(expected[name], rel=1e-12), name
    assert report.values["metrics"]["total_return"] == pytest.approx(
        direct.equity[-1] / direct.equity[0] - 1, rel=1e-12
    )
    assert report.values["statistics"]["deflated_sharpe"] is None
    assert set(report.values["benchmarks"]) == {"buy_and_hold", "flat", "momentum", "random"}
    assert report.values["benchmarks"]["random"]["seeds"] == 3
    rows = report.values["cost_sensitivity"]
    assert [r["cost_multiplier"] for r in rows] == [0.0, 1.0, 2.0, 3.0]
    assert [r["cost_bps"] for r in rows] == [0.0, 5.0, 10.0, 15.0]
    assert rows[1]["total_return"] == pytest.approx(row["total_return"], rel=1e-12)
    totals = [r["total_return"] for r in rows]
    assert totals == sorted(totals, reverse=True)
    assert len(report.series["sma_crossover"]) == report.values["bars"]["decisions"] + 1
    assert report.series["buy_and_hold"][0]["t"].endswith("Z")
    assert report.trades["sma_crossover"] and "<svg" in report.html
    assert report.subjects == ["sma_crossover"]


def test_a_date_range_too_short_or_nothing_to_evaluate_is_an_evaluation_error(bars):
    one_day = EvaluationRequest(part=None, start="2020-01-02", end="2020-01-02")
    with pytest.raises(EvaluationError, match="need at least 2"):
        run_evaluation(bars, [BaselineSubject("flat", "flat")], one_day)
    with pytest.raises(EvaluationError):
        run_evaluation(bars, [], EvaluationRequest())


def test_study_deflated_sharpe_uses_the_study_block():
    rng = np.random.default_rng(0)
    equity = 100 * np.cumprod(np.r_[1.0, 1 + rng.normal(0.001, 0.01, 300)])
    result = SimpleNamespace(equity=equity)  # only the equity curve is read
    study_id = uuid.uuid4()
    pending = LineageStudy(
        study_id=study_id, trial_number=2, n_trials=None, trials_sharpe_variance=None
    )
    assert study_deflated_sharpe(result, pending, 252.0) is None
    assert study_deflated_sharpe(result, None, 252.0) is None
    done = pending.with_outcome(
        StudyOutcome(study_id=study_id, trial_number=2, n_trials=8, trials_sharpe_variance=0.4)
    )
    returns = equity[1:] / equity[:-1] - 1
    expected = deflated_sharpe_ratio(
        returns, n_trials=8, trials_sharpe_variance=0.4, bars_per_year=252.0
    )
    assert study_deflated_sharpe(result, done, 252.0) == pytest.approx(expected, rel=1e-15)
    assert 0.0 < expected < 1.0


def test_the_study_block_is_strict():
    study_id = uuid.uuid4()
    with pytest.raises(ValidationError, match="together"):
        LineageStudy(study_id=study_id, trial_number=0, n_trials=4, trials_sharpe_variance=None)
    with pytest.raises(ValidationError):
        LineageStudy(study_id=study_id, trial_number=0, n_trials=4)  # a missing field
    with pytest.raises(ValidationError):
        StudyOutcome(study_id=study_id, trial_number=0, n_trials=4, trials_sharpe_variance=np.inf)
    pending = LineageStudy(
        study_id=study_id, trial_number=1, n_trials=None, trials_sharpe_variance=None
    )
    other = StudyOutcome(study_id=study_id, trial_number=0, n_trials=4, trials_sharpe_variance=1)
    with pytest.raises(ValueError, match="trial 1"):
        pending.with_outcome(other)


def test_stitch_chains_returns():
    parts = [np.array([100.0, 110.0]), np.array([50.0, 45.0, 54.0])]
    curve = stitch(parts, 100.0)
    assert curve == pytest.approx([100.0, 110.0, 99.0, 118.8])


def test_verdicts_of_baseline_candidates_on_the_same_bars(bars):
    """Baselines only: every non-reference baseline is a candidate against every reference
    baseline, adjusted over the candidates; the same request gives the same verdicts."""
    request = EvaluationRequest(part="test", random_seeds=2, bootstrap_resamples=199)
    subjects = [
        BaselineSubject("random", "random", {"seed": 3}),
        BaselineSubject("random_weekly", "random", {"seed": 4, "hold_bars": 5}),
    ]
    report = run_evaluation(bars, subjects, request)
    verdicts = report.values["verdicts"]
    assert verdicts["available"] and verdicts["candidates"] == ["random", "random_weekly"]
    assert len(verdicts["pairs"]) == 2 * 4 and verdicts["level"] == 0.05
    assert all(p["family_size"] == 2 for p in verdicts["pairs"])
    assert verdicts["specs"] == [] and verdicts["pbo"]["n_trials"] == 2
    rows = {row["subject"]: row for row in report.values["comparison"]}
    assert set(rows["random"]["verdicts"]) == {"buy_and_hold", "flat", "sma_crossover", "momentum"}
    again = run_evaluation(bars, subjects, request).values["verdicts"]
    assert again == verdicts
