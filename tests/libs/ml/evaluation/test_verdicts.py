"""Paired verdicts (tradeopt_ml.evaluation.verdicts): sanity, known answers, and agreement with
arch's own functions on the same inputs (bootstrap draws, kernel covariance, block length, SPA)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from arch.bootstrap import SPA, CircularBlockBootstrap, StepM, optimal_block_length
from arch.covariance.kernel import QuadraticSpectral
from scipy import stats

from tradeopt_ml.evaluation.verdicts import (
    across_seeds,
    bootstrap_indices,
    choose_block_length,
    compare_with_benchmarks,
    contrast_tests,
    verdict_of,
)

pytestmark = pytest.mark.unit


def _returns(seed: int, t: int = 500, k: int = 3, drift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((t, k)) * 0.01 + drift


def test_identical_series_give_p_one_and_no_verdict():
    b = _returns(0, k=1)[:, 0]
    v = compare_with_benchmarks(
        {"same": b.copy()}, {"buy_and_hold": b}, bars_per_year=252, n_resamples=199
    )
    (pair,) = v.pairs
    assert pair.sharpe_difference == 0.0 and pair.mean_return_difference == 0.0
    assert pair.p_value == 1.0 and pair.p_value_adjusted == 1.0 and pair.mean_p_value == 1.0
    assert pair.verdict == "not distinguishable"
    assert pair.sharpe_difference_ci == (0.0, 0.0)


def test_a_planted_edge_beats_and_its_mirror_is_worse():
    r = _returns(1, t=1000, k=1)[:, 0]
    bench = _returns(2, t=1000, k=1)[:, 0]
    v = compare_with_benchmarks(
        {"good": r + 0.003, "bad": r - 0.003},
        {"buy_and_hold": bench},
        bars_per_year=252,
        n_resamples=499,
    )
    by = {p.subject: p for p in v.pairs}
    assert by["good"].verdict == "beats" and by["good"].p_value_adjusted < 0.01
    assert by["bad"].verdict == "worse" and by["bad"].p_value_adjusted < 0.01
    lo, hi = by["good"].sharpe_difference_ci
    assert 0 < lo < by["good"].sharpe_difference < hi
    assert v.families[0].superior == ["good"]


def test_step_down_adjusts_upward_and_is_raw_for_one_candidate():
    r = _returns(3, k=6)
    tests = contrast_tests(r, np.hstack([np.eye(5), -np.ones((5, 1))]), n_resamples=299)
    assert np.all(tests.sharpe_p_adjusted >= tests.sharpe_p - 1e-15)
    assert np.all(tests.mean_p_adjusted >= tests.mean_p - 1e-15)
    # the most significant hypothesis has the smallest adjusted p-value (monotone)
    order = np.argsort(-np.abs(tests.sharpe_difference / tests.sharpe_se))
    assert np.all(np.diff(tests.sharpe_p_adjusted[order]) >= 0)
    single = contrast_tests(r[:, [0, 5]], np.array([[1.0, -1.0]]), n_resamples=299)
    assert single.sharpe_p_adjusted[0] == single.sharpe_p[0]


def test_same_inputs_and_seed_same_result_other_seed_other_draws():
    r = _returns(4)
    w = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]])
    a = contrast_tests(r, w, n_resamples=199, seed=5)
    b = contrast_tests(r, w, n_resamples=199, seed=5)
    c = contrast_tests(r, w, n_resamples=199, seed=6)
    assert np.array_equal(a.sharpe_p, b.sharpe_p) and np.array_equal(a.sharpe_ci, b.sharpe_ci)
    assert not np.array_equal(a.sharpe_ci, c.sharpe_ci)


def test_bad_inputs_are_value_errors():
    with pytest.raises(ValueError, match="at least"):
        contrast_tests(_returns(0, t=10), np.array([[1.0, 0.0, -1.0]]))
    with pytest.raises(ValueError, match="same bars"):
        compare_with_benchmarks(
            {"a": np.zeros(50)}, {"buy_and_hold": np.zeros(60)}, bars_per_year=252
        )
    with pytest.raises(ValueError, match="NaN"):
        bad = _returns(0)
        bad[3, 1] = np.nan
        contrast_tests(bad, np.array([[1.0, 0.0, -1.0]]))


def test_verdict_rule():
    assert verdict_of(0.4, 0.01, 0.05) == "beats"
    assert verdict_of(-0.4, 0.01, 0.05) == "worse"
    assert verdict_of(0.4, 0.2, 0.05) == "not distinguishable"


# ------------------------------------------------------------------------------------------
# against arch's own functions on the same inputs
# ------------------------------------------------------------------------------------------
def test_indices_are_archs_circular_block_bootstrap_draws():
    ours = bootstrap_indices(300, 7, 50, seed=11)
    bs = CircularBlockBootstrap(7, np.arange(300), seed=11)
    theirs = np.array([data[0][0] for data in bs.bootstrap(50)])
    assert np.array_equal(ours, theirs)


def test_block_length_is_archs_optimal_block_length():
    x = _returns(5, t=400, k=2)
    x[1:, 0] += 0.6 * x[:-1, 0]  # some dependence
    expected = math.ceil(float(optimal_block_length(x)["circular"].max()))
    assert choose_block_length(x) == expected


def _reference_lw(r: np.ndarray, w: np.ndarray, block: int, reps: int, seed: int) -> float:
    """Ledoit-Wolf two-sided p-value of ``w @ SR`` written the slow way: one resample at a time
    through arch's CircularBlockBootstrap.apply, arch's quadratic-spectral long-run covariance
    for the original standard error.
    """
    t, m = r.shape
    y = np.concatenate([r, r * r], axis=1)

    def sharpe_grad(mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, gamma = mean[:m], mean[m:]
        var = gamma - mu**2
        return mu / np.sqrt(var), np.concatenate([w * gamma / var**1.5, w * -mu / (2 * var**1.5)])

    sr, g = sharpe_grad(y.mean(0))
    est = float(w @ sr)
    omega = QuadraticSpectral(y).cov.long_run
    se = math.sqrt(g @ omega @ g / t)

    def stat(ys: np.ndarray) -> np.ndarray:
        mean = ys.mean(0)
        sr_s, g_s = sharpe_grad(mean)
        n_blocks = t // block
        zeta = (ys[: n_blocks * block] - mean).reshape(n_blocks, block, -1).sum(1) / math.sqrt(
            block
        )
        se_s = math.sqrt(np.mean((zeta @ g_s) ** 2) / t)
        return np.array([abs(float(w @ sr_s) - est) / se_s])

    bs = CircularBlockBootstrap(block, y, seed=seed)
    d = bs.apply(stat, reps)[:, 0]
    return float((1 + np.sum(d >= abs(est) / se)) / (reps + 1))


def test_sharpe_difference_p_value_matches_a_loop_over_archs_bootstrap():
    r = _returns(6, t=400, k=2)
    r[:, 0] += 0.001
    w = np.array([1.0, -1.0])
    tests = contrast_tests(r, w[None, :], n_resamples=199, block_length=5, seed=3)
    expected = _reference_lw(r, w, block=5, reps=199, seed=3)
    assert tests.sharpe_p[0] == pytest.approx(expected, abs=1e-9)


def test_family_spa_and_stepm_are_archs_on_the_same_losses():
    r = _returns(7, t=600, k=4)
    r[:, 0] += 0.002
    cands = {f"c{i}": r[:, i] for i in range(3)}
    v = compare_with_benchmarks(
        cands, {"buy_and_hold": r[:, 3]}, bars_per_year=252, n_resamples=299, seed=9
    )
    (family,) = v.families
    spa = SPA(-r[:, 3], -r[:, :3], block_size=v.block_length, reps=299, seed=9)
    spa.compute()
    assert family.p_value == pytest.approx(float(spa.pvalues["consistent"]), abs=1e-12)
    assert family.p_value_lower == pytest.approx(float(spa.pvalues["lower"]), abs=1e-12)
    stepm = StepM(-r[:, 3], -r[:, :3], size=0.05, block_size=v.block_length, reps=299, seed=9)
    stepm.compute()
    assert family.superior == [f"c{int(i)}" for i in stepm.superior_models]


# ------------------------------------------------------------------------------------------
# seed robustness
# ------------------------------------------------------------------------------------------
def test_across_seeds_is_the_student_t_interval():
    values = [0.3, 0.9, -0.2, 0.5]
    d = across_seeds(values)
    half = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert d["mean"] == pytest.approx(np.mean(values))
    assert d["ci_low"] == pytest.approx(np.mean(values) - half)
    assert d["min"] == -0.2 and d["max"] == 0.9 and d["n"] == 4


def test_a_spec_verdict_is_about_the_mean_seed_and_wider_than_its_luckiest_seed():
    r = _returns(8, t=800, k=4)
    seeds = {"s1": r[:, 0] + 0.0025, "s2": r[:, 1] - 0.001, "s3": r[:, 2]}
    v = compare_with_benchmarks(
        seeds,
        {"buy_and_hold": r[:, 3]},
        bars_per_year=252,
        specs={"spec:ppo:x": [("s1", 1), ("s2", 2), ("s3", 3)]},
        n_resamples=299,
    )
    (spec,) = v.specs
    assert spec.seeds == [1, 2, 3] and spec.sharpe["n"] == 3
    (spec_pair,) = spec.verdicts
    lucky = next(p for p in v.pairs if p.subject == "s1")
    assert lucky.verdict == "beats"  # the luckiest seed alone looks good ...
    assert spec_pair.verdict == "not distinguishable"  # ... the spec does not
    mean_diff = np.mean([p.sharpe_difference for p in v.pairs])
    assert spec_pair.sharpe_difference == pytest.approx(mean_diff, rel=1e-9)
    width = spec_pair.sharpe_difference_ci[1] - spec_pair.sharpe_difference_ci[0]
    assert width > lucky.sharpe_difference_ci[1] - lucky.sharpe_difference_ci[0]


def test_a_candidate_that_is_the_benchmark_has_no_evidence_in_spa_either():
    b = _returns(9, k=1)[:, 0]
    v = compare_with_benchmarks(
        {"copy": b.copy()}, {"buy_and_hold": b}, bars_per_year=252, n_resamples=99
    )
    assert v.families[0].p_value == 1.0 and v.families[0].superior == []


def test_step_down_matches_the_textbook_loop():
    from tradeopt_ml.evaluation.verdicts import _stepdown

    rng = np.random.default_rng(10)
    t_obs = np.abs(rng.standard_normal(6)) * 2
    t_boot = np.abs(rng.standard_normal((300, 6)))
    order = np.argsort(-t_obs)
    expected = np.empty(6)
    previous = 0.0
    for rank, j in enumerate(order):
        rest = order[rank:]
        p = (1 + np.sum(t_boot[:, rest].max(axis=1) >= t_obs[j])) / 301
        previous = max(previous, p)
        expected[j] = previous
    assert np.allclose(_stepdown(t_obs, t_boot), expected, atol=1e-12)
