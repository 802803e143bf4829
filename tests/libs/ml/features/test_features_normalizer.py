"""Normalizer: statistics come from the training rows only; transform, clip, storage."""

import json

import numpy as np
import pytest

from tradeopt_ml.features import FeatureSet, FeatureSpec, Normalizer, compute_features

pytestmark = pytest.mark.unit

TRAIN = (0, 200)


def features_for(prices: np.ndarray, make_panel) -> FeatureSet:
    return compute_features(make_panel(prices), FeatureSpec.default())


@pytest.fixture
def prices() -> np.ndarray:
    rng = np.random.default_rng(11)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(300, 2)), axis=0))


def test_pooled_stats_equal_hand_computed_train_stats(prices, make_panel):
    fs = features_for(prices, make_panel)
    norm = Normalizer.fit(fs, slice(*TRAIN))
    block = fs.values[slice(*TRAIN)].astype(np.float64)  # (200, 2, F)
    for j, col in enumerate(fs.columns):
        vals = block[:, :, j].ravel()
        vals = vals[np.isfinite(vals)]
        assert vals.size == (TRAIN[1] - fs.warmup[col]) * 2
        assert norm.mean[j] == pytest.approx(vals.mean(), rel=1e-12, abs=1e-15)
        expected_std = vals.std() if vals.std() >= 1e-12 else 1.0
        assert norm.std[j] == pytest.approx(expected_std, rel=1e-12)


def test_per_asset_stats(prices, make_panel):
    fs = features_for(prices, make_panel)
    norm = Normalizer.fit(fs, TRAIN, per_asset=True)
    assert norm.mean.shape == (2, len(fs.columns))
    rsi = fs.column("rsi_14")[14:200, 1].astype(np.float64)
    j = fs.columns.index("rsi_14")
    assert norm.mean[1, j] == pytest.approx(rsi.mean(), rel=1e-12)
    assert norm.std[1, j] == pytest.approx(rsi.std(), rel=1e-12)


def test_only_train_rows_move_the_stats(prices, make_panel):
    fs = features_for(prices, make_panel)
    fitted = Normalizer.fit(fs, TRAIN).to_dict()

    later = prices.copy()
    later[TRAIN[1] :] *= np.linspace(0.5, 3.0, prices.shape[0] - TRAIN[1])[:, None]
    assert Normalizer.fit(features_for(later, make_panel), TRAIN).to_dict() == fitted

    earlier = prices.copy()
    earlier[150, 0] *= 1.05
    assert Normalizer.fit(features_for(earlier, make_panel), TRAIN).to_dict() != fitted


def test_transform_scales_clips_and_keeps_nan(prices, make_panel):
    fs = features_for(prices, make_panel)
    norm = Normalizer.fit(fs, TRAIN, clip=2.0)
    z = norm.transform(fs)
    assert z.dtype == np.float32 and z.shape == fs.values.shape
    np.testing.assert_array_equal(np.isnan(z), np.isnan(fs.values))
    assert np.nanmax(np.abs(z)) <= 2.0
    raw = (fs.values[250, 1].astype(np.float64) - norm.mean) / norm.std
    np.testing.assert_allclose(z[250, 1], np.clip(raw, -2, 2), rtol=1e-6, atol=1e-6)
    # the finite training rows of a feature come out with mean 0 and std 1 (pooled)
    unclipped = Normalizer.fit(fs, TRAIN, clip=1e9).transform(fs)
    rsi = fs.columns.index("rsi_14")
    train_rsi = unclipped[fs.warmup["rsi_14"] : TRAIN[1], :, rsi].astype(np.float64)
    assert abs(train_rsi.mean()) < 1e-5
    assert train_rsi.std() == pytest.approx(1.0, rel=1e-5)

    dense, mask = norm.transform_with_mask(fs)
    assert not np.isnan(dense).any()
    np.testing.assert_array_equal(mask, np.isfinite(fs.values))
    assert (dense[~mask] == 0).all()


def test_round_trip_through_json(prices, make_panel):
    fs = features_for(prices, make_panel)
    for per_asset in (False, True):
        norm = Normalizer.fit(fs, TRAIN, per_asset=per_asset)
        again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
        np.testing.assert_array_equal(again.mean, norm.mean)
        np.testing.assert_array_equal(again.std, norm.std)
        assert again.train == TRAIN and again.per_asset is per_asset
        np.testing.assert_array_equal(again.transform(fs), norm.transform(fs))


def test_bad_inputs(prices, make_panel):
    fs = features_for(prices, make_panel)
    with pytest.raises(ValueError, match=r"no finite training values for: .*drawdown_60"):
        Normalizer.fit(fs, (0, 30))
    with pytest.raises(ValueError, match="bad training rows"):
        Normalizer.fit(fs, (0, 10_000))
    with pytest.raises(ValueError, match="contiguous"):
        Normalizer.fit(fs, slice(0, 200, 2))
    with pytest.raises(ValueError, match="clip must be positive"):
        Normalizer.fit(fs, TRAIN, clip=0)
    other = compute_features(make_panel(prices), FeatureSpec(features=["rsi"]))
    with pytest.raises(ValueError, match="feature columns differ"):
        Normalizer.fit(fs, TRAIN).transform(other)
    broken = Normalizer.fit(fs, TRAIN).to_dict() | {"mean": [0.0]}
    with pytest.raises(ValueError, match="shape"):
        Normalizer.from_dict(broken)
