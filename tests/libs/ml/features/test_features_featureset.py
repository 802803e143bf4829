"""FeatureSet: long-frame and Parquet round trip, validity bookkeeping, column access."""

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data import SAMPLE_SYMBOLS, Panel, load_sample
from tradeopt_ml.features import FeatureSet, FeatureSpec, compute_features

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def features() -> FeatureSet:
    bars = pd.concat([load_sample(s).iloc[-400:] for s in SAMPLE_SYMBOLS[:3]])
    return compute_features(Panel.from_bars(bars), FeatureSpec.default())


def assert_same(a: FeatureSet, b: FeatureSet) -> None:
    assert a.columns == b.columns
    assert a.symbols == b.symbols
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert a.values.dtype == b.values.dtype == np.float32
    np.testing.assert_array_equal(a.values, b.values)  # NaN positions included
    assert a.warmup == b.warmup


def test_to_frame_layout(features):
    frame = features.to_frame()
    t, n, _ = features.values.shape
    assert list(frame.columns) == ["symbol", "timestamp", *features.columns]
    assert len(frame) == t * n
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["symbol"].tolist()[::t] == list(features.symbols)
    row = frame.iloc[t + 100]  # second symbol, bar 100
    assert row["symbol"] == features.symbols[1]
    assert row["rsi_14"] == features.column("rsi_14")[100, 1]


def test_frame_round_trip_is_exact(features):
    assert_same(FeatureSet.from_frame(features.to_frame()), features)


def test_round_trip_through_parquet_with_shuffled_rows(features, tmp_path):
    path = tmp_path / "features.parquet"
    features.to_frame().sample(frac=1.0, random_state=1).to_parquet(path)
    again = FeatureSet.from_frame(pd.read_parquet(path), spec_hash=features.spec_hash)
    # shuffling changes the order symbols are first seen in; compare symbol by symbol
    order = [again.symbols.index(s) for s in features.symbols]
    np.testing.assert_array_equal(again.values[:, order, :], features.values)
    assert again.warmup == features.warmup
    assert again.spec_hash == features.spec_hash


def test_incomplete_grid_is_rejected(features):
    frame = features.to_frame().iloc[1:]
    with pytest.raises(ValueError, match="complete symbol x timestamp grid"):
        FeatureSet.from_frame(frame)


def test_valid_from_and_warmup(features):
    spec = FeatureSpec.default()
    assert features.valid_from == spec.warmup() == features.warmup_bars
    assert np.isfinite(features.values[features.valid_from :]).all()
    assert not np.isfinite(features.values[features.valid_from - 1]).all()


def test_valid_from_sees_a_hole_in_the_inputs(make_panel):
    prices = np.linspace(10, 20, 30)
    prices[0] = np.nan  # unvalidated input: the first bar is unusable
    fs = compute_features(make_panel(prices), FeatureSpec(features=["log_return", "calendar"]))
    assert fs.warmup == {
        "log_return_1": 2,
        "dow_sin": 0,
        "dow_cos": 0,
        "month_sin": 0,
        "month_cos": 0,
    }
    assert fs.valid_from == 2


def test_column_access_and_shape_check(features):
    assert features.column("atr_14").shape == features.values.shape[:2]
    with pytest.raises(KeyError, match="no feature column"):
        features.column("nope")
    with pytest.raises(ValueError, match="do not match"):
        FeatureSet.build(features.values[:, :, :2], ["a"], features.symbols, features.timestamps)
