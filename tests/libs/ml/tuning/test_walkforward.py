"""Walk-forward optimisation's pure parts: the in-sample window of a fold as a run's start and
date split, the dispersion of the folds' best parameters, and the rank correlation of trial
objectives between neighbouring folds (Spearman, checked against scipy)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tradeopt_ml.data import FoldSpec, walk_forward
from tradeopt_ml.tuning import parse_search_space
from tradeopt_ml.tuning.walkforward import (
    in_sample_window,
    neighbour_rank_correlations,
    parameter_stability,
    spearman,
)

pytestmark = pytest.mark.unit


def test_the_in_sample_window_ends_at_the_folds_last_training_bar():
    stamps = pd.date_range("2020-01-01", periods=400, freq="D").to_numpy()
    folds = walk_forward(stamps, FoldSpec(train_bars=200, test_bars=50, embargo_bars=3))
    assert len(folds) == 3
    for fold in folds:
        window = in_sample_window(stamps, (fold.train.start, fold.train.stop), 0.15)
        last = pd.Timestamp(stamps[fold.train.stop - 1], tz="UTC")
        assert pd.Timestamp(window.validation_end) == last  # nothing after the window
        assert pd.Timestamp(window.start) == pd.Timestamp(stamps[fold.train.start], tz="UTC")
        n_val = round(200 * 0.15)  # the tail validates: 30 bars after train_end
        assert pd.Timestamp(window.train_end) == pd.Timestamp(
            stamps[fold.train.stop - n_val - 1], tz="UTC"
        )
        assert pd.Timestamp(stamps[fold.test.start], tz="UTC") > last
        assert window.split() == {
            "train_end": window.train_end,
            "validation_end": window.validation_end,
        }
    with pytest.raises(ValueError, match="need at least 10"):
        in_sample_window(stamps, (0, 11), 0.15)


def test_parameter_stability_numbers_and_categoricals():
    space = parse_search_space(
        "ppo",
        {
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
            "n_epochs": {"type": "int", "low": 1, "high": 11},
            "gamma": {"type": "categorical", "choices": [0.9, 0.99]},
        },
    )
    best = [
        {"learning_rate": 1e-4, "n_epochs": 3, "gamma": 0.99},
        {"learning_rate": 1e-3, "n_epochs": 5, "gamma": 0.9},
        {"learning_rate": 1e-2, "n_epochs": 7, "gamma": 0.99},
        {"learning_rate": 1e-3, "n_epochs": 9, "gamma": 0.99},
    ]
    out = parameter_stability(best, space)
    epochs = out["n_epochs"]
    assert epochs["kind"] == "numeric" and epochs["values"] == [3, 5, 7, 9]
    assert epochs["mean"] == 6 and epochs["std"] == pytest.approx(np.std([3, 5, 7, 9], ddof=1))
    assert epochs["iqr"] == pytest.approx(7.5 - 4.5) and (epochs["min"], epochs["max"]) == (3, 9)
    assert epochs["std_over_range"] == pytest.approx(epochs["std"] / 10)
    assert "log10" not in epochs
    lr = out["learning_rate"]
    assert lr["log10"]["mean"] == pytest.approx(-3.0)
    assert lr["log10"]["std"] == pytest.approx(np.std([-4, -3, -2, -3], ddof=1))
    gamma = out["gamma"]
    assert gamma == {
        "kind": "categorical",
        "values": [0.99, 0.9, 0.99, 0.99],
        "mode": 0.99,
        "mode_share": 0.75,
        "distinct": 2,
    }
    one = parameter_stability(best[:1], space)
    assert one["n_epochs"]["std"] is None and one["gamma"]["mode_share"] == 1.0


def test_spearman_matches_scipy_with_ties_and_refuses_too_few_or_constant():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, size=8).astype(float)  # ties
        y = x + rng.normal(0, 2, size=8)
        expected = stats.spearmanr(x, y).statistic
        if math.isnan(expected):
            assert spearman(x, y) is None
        else:
            assert spearman(x, y) == pytest.approx(expected, abs=1e-12)
    assert spearman([1, 2], [2, 1]) is None
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_neighbour_correlations_pair_trials_by_identical_parameters():
    a = {"lr": 0.1, "gamma": 0.9}
    b = {"lr": 0.2, "gamma": 0.9}
    c = {"lr": 0.3, "gamma": 0.99}
    d = {"lr": 0.4, "gamma": 0.99}
    folds = [
        [(a, 1.0), (b, 2.0), (c, 3.0), ({"lr": 0.9, "gamma": 0.9}, 9.0)],
        [(c, 0.3), (b, 0.2), (a, 0.1), (d, -5.0)],  # same order of a, b, c; d only here
        [(dict(reversed(list(c.items()))), 1.0), (b, 2.0), (a, 3.0)],  # key order is irrelevant
    ]
    out = neighbour_rank_correlations(folds)
    assert out == [
        {"folds": [0, 1], "matched": 3, "spearman": pytest.approx(1.0)},
        {"folds": [1, 2], "matched": 3, "spearman": pytest.approx(-1.0)},
    ]
    assert neighbour_rank_correlations(folds[:1]) == []
    sparse = neighbour_rank_correlations([[(a, 1.0), (b, 2.0)], [(a, 1.0), (c, 2.0)]])
    assert sparse == [{"folds": [0, 1], "matched": 1, "spearman": None}]
