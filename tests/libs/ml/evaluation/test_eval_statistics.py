"""Sharpe statistics: PSR, DSR, minimum track record, block-bootstrap CI."""

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest

from tradeopt_ml.evaluation import (
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

pytestmark = pytest.mark.unit

PHI = NormalDist().cdf


def test_psr_hand_derived():
    # SR = 0.1 per bar, n = 101, normal moments: z = 0.1 * sqrt(100) / sqrt(1 + 0.5 * 0.01)
    z = 1.0 / math.sqrt(1.005)
    assert psr_from_moments(0.1, 101, 0.0, 3.0) == pytest.approx(PHI(z), rel=1e-12)
    assert PHI(z) == pytest.approx(0.8407, abs=1e-4)
    # negative skew and fat tails widen the SR's std: lower PSR
    assert psr_from_moments(0.1, 101, -1.0, 8.0) < psr_from_moments(0.1, 101, 0.0, 3.0)
    # against its own Sharpe the PSR is exactly 1/2
    assert psr_from_moments(0.1, 101, -1.0, 8.0, benchmark_sharpe=0.1) == pytest.approx(0.5)


def test_dsr_worked_example_bailey_lopez_de_prado_2014():
    """Numerical example of the DSR paper (JPM 2014, section "A numerical example").

    N = 100 trials whose annualised Sharpe ratios have variance 0.5, the selected strategy has an
    annualised SR of 2.5 over T = 1250 daily returns (5 years), skew -3, kurtosis 10.
    The paper reports E[max SR] ≈ 0.1132 (daily) and DSR ≈ 0.9004; both are re-derived here:
    sqrt(0.5/250) * ((1-g)Φ⁻¹(0.99) + gΦ⁻¹(1 - 1/(100e))) = 0.04472 * 2.5307 = 0.11317
    (g = Euler-Mascheroni), then PSR against it with the stated moments.
    """
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=1e-4)
    dsr = dsr_from_moments(
        2.5 / math.sqrt(250), 1250, -3.0, 10.0, n_trials=100, trials_sharpe_variance=0.5 / 250
    )
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_expected_max_sharpe_edges():
    assert expected_max_sharpe(1, 1.0) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0
    assert expected_max_sharpe(10, 1.0) < expected_max_sharpe(1000, 1.0)
    with pytest.raises(ValueError):
        expected_max_sharpe(0, 1.0)


def test_dsr_decreases_with_more_trials():
    values = [
        dsr_from_moments(0.1, 1000, 0.0, 3.0, n_trials=n, trials_sharpe_variance=0.001)
        for n in (1, 2, 10, 100, 1000)
    ]
    assert values[0] == pytest.approx(psr_from_moments(0.1, 1000, 0.0, 3.0))
    assert all(a > b for a, b in itertools.pairwise(values))


def test_psr_increases_with_track_length():
    values = [psr_from_moments(0.05, n, -0.5, 5.0) for n in (20, 100, 500, 2000)]
    assert all(a < b for a, b in itertools.pairwise(values))


def test_min_track_record_length_hand_derived_and_consistent():
    # 1 + 1.005 * (Φ⁻¹(0.95) / 0.1)^2 = 1 + 1.005 * 270.554 = 272.907
    mtrl = min_track_record_length(0.1, 0.0, 3.0)
    assert mtrl == pytest.approx(1 + 1.005 * (NormalDist().inv_cdf(0.95) / 0.1) ** 2)
    assert mtrl == pytest.approx(272.907, abs=1e-3)
    # PSR reaches the confidence exactly at MinTRL
    assert psr_from_moments(0.1, math.ceil(mtrl), 0.0, 3.0) >= 0.95
    assert psr_from_moments(0.1, math.floor(mtrl), 0.0, 3.0) < 0.95
    assert min_track_record_length(0.1, 0.0, 3.0, benchmark_sharpe=0.2) == math.inf


def test_functions_on_returns_match_moment_versions():
    rng = np.random.default_rng(1)
    r = rng.normal(0.0005, 0.01, 1000)
    sr, skew, kurt, n = sharpe_moments(r)
    assert sr == pytest.approx(r.mean() / r.std(ddof=1))
    d = r - r.mean()
    assert kurt == pytest.approx(np.mean(d**4) / np.mean(d**2) ** 2)  # raw, ~3 for normal
    assert 2.5 < kurt < 3.5 and n == 1000
    assert probabilistic_sharpe_ratio(r, benchmark_sharpe=0.5, bars_per_year=252) == (
        pytest.approx(psr_from_moments(sr, n, skew, kurt, 0.5 / math.sqrt(252)))
    )
    assert deflated_sharpe_ratio(
        r, n_trials=20, trials_sharpe_variance=0.25, bars_per_year=252
    ) == pytest.approx(
        dsr_from_moments(sr, n, skew, kurt, n_trials=20, trials_sharpe_variance=0.25 / 252)
    )


def test_bootstrap_indices_structure():
    rng = np.random.default_rng(0)
    circ = bootstrap_indices(100, 50, 7, rng, "circular")
    assert circ.shape == (50, 100) and circ.min() >= 0 and circ.max() < 100
    steps = np.diff(circ, axis=1) % 100
    # inside a block indices advance by one: every 7th step is a (random) block start
    mask = np.ones(99, dtype=bool)
    mask[6::7] = False
    assert (steps[:, mask] == 1).all()

    stat = bootstrap_indices(2000, 40, 10, rng, "stationary")
    steps = np.diff(stat, axis=1) % 2000
    new_blocks = (steps != 1).mean()
    assert 0.08 < new_blocks < 0.12  # mean block length ~ 10 (geometric)
    assert stat.min() >= 0 and stat.max() < 2000


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(2)
    r = rng.normal(0.0005, 0.01, 750)
    a = bootstrap_sharpe_ci(r, bars_per_year=252, n_resamples=500, seed=11)
    b = bootstrap_sharpe_ci(r, bars_per_year=252, n_resamples=500, seed=11)
    c = bootstrap_sharpe_ci(r, bars_per_year=252, n_resamples=500, seed=12)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low < a.sharpe < a.high
    assert a.block_length == default_block_length(750) == 9
    circ = bootstrap_sharpe_ci(r, bars_per_year=252, n_resamples=500, method="circular")
    assert circ.low < circ.sharpe < circ.high
    assert a.to_dict()["method"] == "stationary"


def test_bootstrap_ci_covers_true_sharpe_about_95_percent():
    """Seeded GBM: log returns N(m, s); simple returns are lognormal with a known Sharpe."""
    m, s, n_obs, n_paths = 0.0004, 0.01, 500, 300
    mean = math.exp(m + s * s / 2) - 1
    std = math.sqrt((math.exp(s * s) - 1) * math.exp(2 * m + s * s))
    true_sharpe = mean / std * math.sqrt(252)
    rng = np.random.default_rng(2024)
    paths = np.expm1(rng.normal(m, s, size=(n_paths, n_obs)))
    covered = 0
    for i in range(n_paths):
        ci = bootstrap_sharpe_ci(paths[i], bars_per_year=252, n_resamples=300, seed=i)
        covered += ci.low <= true_sharpe <= ci.high
    coverage = covered / n_paths
    assert 0.89 <= coverage <= 0.99, coverage
