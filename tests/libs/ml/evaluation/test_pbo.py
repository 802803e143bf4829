"""Probability of backtest overfitting by CSCV: constructed cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeopt_ml.evaluation.pbo import probability_of_backtest_overfitting

pytestmark = pytest.mark.unit


def test_pure_noise_trials_give_pbo_about_one_half_over_seeds():
    values = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).standard_normal((480, 10)) * 0.01, n_partitions=8
        ).pbo
        for seed in range(60)
    ]
    assert abs(np.mean(values) - 0.5) < 0.06


def test_a_genuinely_better_family_gives_pbo_near_zero():
    r = np.random.default_rng(1).standard_normal((1000, 20)) * 0.01
    r[:, :10] += 0.003  # half of the trials have a real edge
    out = probability_of_backtest_overfitting(r)
    assert out.pbo < 0.02 and out.probability_of_loss == 0.0
    assert out.n_splits == math.comb(16, 8) and out.n_trials == 20 and out.n_obs == 992


def test_mirrored_trials_always_overfit():
    """Trial 1 = -trial 0 and trial 0's block means sum to 0 with no half summing to 0: the
    in-sample winner is always the out-of-sample loser (PBO = 1, probability of loss = 1).
    """
    means = np.array([1, 2, 4, 8, 16, 32, 64, -127], dtype=float) * 1e-4
    wiggle = np.tile([0.01, -0.01], 10)  # 20 bars per block, the same in every block
    trial = np.concatenate([m + wiggle for m in means])
    out = probability_of_backtest_overfitting(np.stack([trial, -trial], axis=1), n_partitions=8)
    assert out.pbo == 1.0 and out.probability_of_loss == 1.0
    assert out.degradation_slope < 0


def test_a_dominant_trial_never_overfits():
    base = np.random.default_rng(2).standard_normal(320) * 0.01
    out = probability_of_backtest_overfitting(
        np.stack([base + 0.002, base, base - 0.002], axis=1), n_partitions=8
    )
    assert out.pbo == 0.0


def test_deterministic_and_validated():
    r = np.random.default_rng(3).standard_normal((200, 4))
    assert probability_of_backtest_overfitting(r, n_partitions=4) == (
        probability_of_backtest_overfitting(r, n_partitions=4)
    )
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(r, n_partitions=5)
    with pytest.raises(ValueError, match="N >= 2"):
        probability_of_backtest_overfitting(r[:, :1])
    with pytest.raises(ValueError, match="rows"):
        probability_of_backtest_overfitting(r[:20], n_partitions=16)
