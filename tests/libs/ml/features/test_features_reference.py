"""The vectorised features agree with the slow row-by-row pandas reference on real SPY bars."""

import numpy as np
import pytest

from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.features import FeatureSpec, compute_features
from tradeopt_ml.features.reference import reference_features

pytestmark = pytest.mark.unit

ROWS = 1200  # the reference loop costs ~1 ms per row

SPEC = FeatureSpec.model_validate(
    [
        *FeatureSpec.default().model_dump()["features"],
        {"name": "return", "params": {"horizon": 3}},
        {"name": "volatility", "params": {"window": 10, "annualize": True}},
        {"name": "bollinger_pctb", "params": {"window": 15, "k": 1.5}},
        {"name": "macd", "params": {"fast": 5, "slow": 35, "signal": 5}},
    ]
)


@pytest.fixture(scope="module")
def spy():
    return load_sample("SPY")


def assert_agrees(vectorised: np.ndarray, reference: np.ndarray, columns: list[str]) -> None:
    assert vectorised.shape == reference.shape
    for j, col in enumerate(columns):
        v, r = vectorised[:, j].astype(np.float64), reference[:, j]
        np.testing.assert_array_equal(np.isnan(v), np.isnan(r), err_msg=f"{col}: NaN layout")
        ok = ~np.isnan(r)
        assert ok.sum() > ROWS // 2, col
        # relative 1e-5; the absolute floor only matters where a series crosses zero
        np.testing.assert_allclose(v[ok], r[ok], rtol=1e-5, atol=1e-9, err_msg=col)


def test_first_rows_of_spy_match_the_reference(spy):
    fs = compute_features(Panel.from_bars(spy), SPEC)  # the full history, 8k+ bars
    ref = reference_features(spy, SPEC, stop=ROWS)
    assert_agrees(fs.values[:ROWS, 0, :], ref.to_numpy(), SPEC.columns())


def test_latest_rows_of_spy_match_the_reference(spy):
    tail = spy.iloc[-ROWS:].reset_index(drop=True)
    fs = compute_features(Panel.from_bars(tail), SPEC)
    ref = reference_features(tail, SPEC)
    assert_agrees(fs.values[:, 0, :], ref.to_numpy(), SPEC.columns())
