"""Walk-forward folds: rolling vs expanding, embargo, overlap reporting, ranges, properties."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeopt_ml.data.splits import FoldSpec, walk_forward

pytestmark = pytest.mark.unit


def bdays(n: int, start: str = "2020-01-01") -> np.ndarray:
    return pd.bdate_range(start, periods=n).to_numpy(dtype="datetime64[ns]")


def bounds(folds: list) -> list[tuple[int, int, int, int]]:
    return [(f.train.start, f.train.stop, f.test.start, f.test.stop) for f in folds]


def test_rolling_folds_hand_computed() -> None:
    folds = walk_forward(bdays(100), FoldSpec(train_bars=50, test_bars=10))
    assert bounds(folds) == [
        (0, 50, 50, 60),
        (10, 60, 60, 70),
        (20, 70, 70, 80),
        (30, 80, 80, 90),
        (40, 90, 90, 100),
    ]
    assert [f.index for f in folds] == [0, 1, 2, 3, 4]
    assert all(f.train.n_bars == 50 for f in folds)


def test_expanding_folds_are_anchored_at_start() -> None:
    folds = walk_forward(bdays(100), FoldSpec(train_bars=50, test_bars=20, expanding=True))
    assert bounds(folds) == [(0, 50, 50, 70), (0, 70, 70, 90)]
    assert [f.train.n_bars for f in folds] == [50, 70]


def test_embargo_gap_between_train_and_test() -> None:
    folds = walk_forward(bdays(100), FoldSpec(train_bars=40, test_bars=20, embargo_bars=5))
    assert bounds(folds) == [(0, 40, 45, 65), (20, 60, 65, 85)]
    for f in folds:
        assert f.train.stop + 5 == f.test.start


def test_step_larger_than_test_leaves_gaps() -> None:
    folds = walk_forward(bdays(100), FoldSpec(train_bars=30, test_bars=10, step_bars=25))
    assert bounds(folds) == [(0, 30, 30, 40), (25, 55, 55, 65), (50, 80, 80, 90)]


def test_overlapping_tests_are_allowed_but_reported() -> None:
    spec = FoldSpec(train_bars=50, test_bars=10, step_bars=5)
    assert spec.overlapping_tests
    with pytest.warns(UserWarning, match="overlap"):
        folds = walk_forward(bdays(100), spec)
    assert bounds(folds)[:2] == [(0, 50, 50, 60), (5, 55, 55, 65)]
    assert len(folds) == 9
    assert folds[1].test.start < folds[0].test.stop


def test_non_overlapping_layout_does_not_warn() -> None:
    assert not FoldSpec(train_bars=5, test_bars=5).overlapping_tests
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        walk_forward(bdays(50), FoldSpec(train_bars=20, test_bars=10))


def test_max_folds_keeps_the_first() -> None:
    folds = walk_forward(bdays(100), FoldSpec(train_bars=50, test_bars=10, max_folds=2))
    assert bounds(folds) == [(0, 50, 50, 60), (10, 60, 60, 70)]


def test_start_end_restrict_the_range() -> None:
    ts = bdays(100)  # Jan 2020: bars 0..22; Feb: 23..42; Mar: 43..64
    spec = FoldSpec(
        train_bars=10, test_bars=5, start="2020-02-01", end="2020-03-31", expanding=True
    )
    folds = walk_forward(ts, spec)
    assert folds[0].train.start == 23
    assert folds[0].train.start_time == pd.Timestamp("2020-02-03", tz="UTC")
    assert all(f.train.start == 23 for f in folds)
    assert folds[-1].test.stop <= 65
    assert folds[-1].test.end_time <= pd.Timestamp("2020-03-31", tz="UTC")
    assert len(folds) == (65 - 33 - 5) // 5 + 1


def test_no_fold_fits_explains_why() -> None:
    with pytest.raises(ValueError, match=r"60 bar\(s\).*50 \+ 5 \+ 10 = 65"):
        walk_forward(bdays(60), FoldSpec(train_bars=50, test_bars=10, embargo_bars=5))
    with pytest.raises(ValueError, match="no bars between"):
        walk_forward(bdays(60), FoldSpec(train_bars=5, test_bars=5, start="2030-01-01"))
    with pytest.raises(ValueError, match="between start and end"):
        walk_forward(bdays(60), FoldSpec(train_bars=50, test_bars=5, end="2020-01-31"))


def test_fold_spec_validation() -> None:
    assert FoldSpec(train_bars=10, test_bars=7).step_bars == 7
    with pytest.raises(ValidationError):
        FoldSpec(train_bars=0, test_bars=5)
    with pytest.raises(ValidationError, match="Extra inputs"):
        FoldSpec(train_bars=10, test_bars=5, shuffle=True)
    with pytest.raises(ValidationError, match="must not be before start"):
        FoldSpec(train_bars=10, test_bars=5, start="2021-01-01", end="2020-01-01")


def test_fold_as_dict_json_safe() -> None:
    (fold, *_) = walk_forward(bdays(30), FoldSpec(train_bars=10, test_bars=10))
    payload = json.loads(json.dumps(fold.as_dict()))
    assert payload["index"] == 0
    assert payload["test"]["start_time"] == "2020-01-15T00:00:00Z"
    assert payload["train"]["n_bars"] == 10


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=2000),
    train_bars=st.integers(min_value=1, max_value=400),
    test_bars=st.integers(min_value=1, max_value=200),
    step_bars=st.integers(min_value=1, max_value=250),
    embargo_bars=st.integers(min_value=0, max_value=30),
    expanding=st.booleans(),
)
def test_property_folds_never_leak(
    n: int, train_bars: int, test_bars: int, step_bars: int, embargo_bars: int, expanding: bool
) -> None:
    spec = FoldSpec(
        train_bars=train_bars,
        test_bars=test_bars,
        step_bars=step_bars,
        embargo_bars=embargo_bars,
        expanding=expanding,
    )
    if train_bars + embargo_bars + test_bars > n:
        with pytest.raises(ValueError, match="no walk-forward fold fits"):
            walk_forward(bdays(n), spec)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        folds = walk_forward(bdays(n), spec)
    for f in folds:
        assert 0 <= f.train.start < f.train.stop
        assert f.train.stop + embargo_bars == f.test.start
        assert f.test.stop <= n
        assert f.test.n_bars == test_bars
        assert f.train.n_bars == (f.train.stop if expanding else train_bars)
    for a, b in itertools.pairwise(folds):
        assert b.test.start - a.test.start == step_bars
        if step_bars >= test_bars:
            assert a.test.stop <= b.test.start
    # Maximal: one more step would not fit.
    assert folds[-1].test.stop + step_bars > n
