"""No look-ahead: a feature at bar t depends only on bars <= t (hypothesis property tests)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeopt_ml.data import Panel
from tradeopt_ml.features import FeatureSpec, catalog, compute_features

pytestmark = pytest.mark.unit

#: Windows are capped so that 60-bar panels still have valid rows for most features.
WINDOW_CAP = 40


def random_bars(rng: np.random.Generator, t: int, n: int) -> dict[str, np.ndarray]:
    """Valid positive OHLCV: a random walk close, open/high/low around it, adj factor <= 1."""
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, size=(t, n)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.01, size=(t, n)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, size=(t, n)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, size=(t, n)))
    factor = np.cumprod(1 - rng.uniform(0, 0.002, size=(t, n))[::-1], axis=0)[::-1]
    volume = rng.uniform(1e3, 1e6, size=(t, n)) * (rng.uniform(size=(t, n)) > 0.05)
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "adj_close": close * factor,
        "volume": volume,
    }


def make(bars: dict[str, np.ndarray]) -> Panel:
    t, n = bars["close"].shape
    stamps = np.datetime64("2020-01-06", "ns") + np.arange(t) * np.timedelta64(1, "D")
    return Panel(
        timestamps=stamps,
        symbols=tuple(f"S{i}" for i in range(n)),
        **{k: np.ascontiguousarray(v) for k, v in bars.items()},
    )


def perturb_after(bars, t, rng, mode):
    """Replace every bar after ``t`` (all fields, all symbols) with different valid bars."""
    out = {k: v.copy() for k, v in bars.items()}
    rest = out["close"].shape[0] - t - 1
    if rest <= 0:
        return out
    if mode == "scale":
        scale = rng.uniform(0.2, 5.0, size=(rest, out["close"].shape[1]))
        for k in ("open", "high", "low", "close", "adj_close"):
            out[k][t + 1 :] *= scale
        out["volume"][t + 1 :] *= rng.uniform(0, 10, size=scale.shape)
    else:
        new = random_bars(rng, rest, out["close"].shape[1])
        if mode == "extreme":
            level = rng.choice([1e-4, 1e6])
            new = {k: v * (1 if k == "volume" else level) for k, v in new.items()}
        for k in out:
            out[k][t + 1 :] = new[k]
    return out


def identical_prefix(a: np.ndarray, b: np.ndarray, t: int) -> bool:
    """Rows 0..t bit-identical (NaN == NaN)."""
    return np.array_equal(a[: t + 1].view(np.uint32), b[: t + 1].view(np.uint32))


@st.composite
def all_feature_spec(draw) -> FeatureSpec:
    """Every catalog feature once, with random valid parameters."""
    items = []
    for entry in catalog():
        params = {}
        for p in entry["params"]:
            if p["type"] == "bool":
                params[p["name"]] = draw(st.booleans())
            elif p["type"] == "int":
                params[p["name"]] = draw(st.integers(int(p["min"]), min(int(p["max"]), WINDOW_CAP)))
            else:
                params[p["name"]] = draw(st.floats(p["min"], min(p["max"], 1e4)))
        if entry["name"] == "macd" and params["fast"] >= params["slow"]:
            params["fast"], params["slow"] = params["slow"] - 1, params["slow"]
            if params["fast"] < 2:
                params["fast"], params["slow"] = 2, 3
        items.append({"name": entry["name"], "params": params})
    return FeatureSpec(features=items)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=all_feature_spec(),
    n_bars=st.integers(60, 300),
    n_assets=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
    t_frac=st.floats(0.0, 1.0),
    mode=st.sampled_from(["scale", "replace", "extreme"]),
)
def test_future_bars_never_change_past_features(spec, n_bars, n_assets, seed, t_frac, mode):
    rng = np.random.default_rng(seed)
    bars = random_bars(rng, n_bars, n_assets)
    t = min(int(t_frac * n_bars), n_bars - 2)
    base = compute_features(make(bars), spec)
    moved = compute_features(make(perturb_after(bars, t, rng, mode)), spec)
    for j, col in enumerate(base.columns):
        assert identical_prefix(base.values[:, :, j], moved.values[:, :, j], t), (
            f"{col} at rows <= {t} changed when only bars after {t} changed"
        )
    # the declared warm-up is exactly where values start
    expected = {c: min(w, n_bars) for c, w in spec.column_warmups().items()}
    assert base.warmup == expected


@settings(max_examples=80, deadline=None)
@given(
    spec=all_feature_spec(),
    seed=st.integers(0, 2**32 - 1),
    t_frac=st.floats(0.0, 1.0),
    factor=st.sampled_from([0.5, 0.9, 1.1, 3.0]),
)
def test_a_change_at_t_shows_at_t(spec, seed, t_frac, factor):
    """Sanity for the property above: the comparison does see a change made at bar t."""
    rng = np.random.default_rng(seed)
    bars = random_bars(rng, 120, 2)
    t = WINDOW_CAP + 2 + int(t_frac * (120 - WINDOW_CAP - 3))
    moved = {k: v.copy() for k, v in bars.items()}
    for k in ("open", "high", "low", "close", "adj_close"):
        moved[k][t, 1] *= factor
    base = compute_features(make(bars), spec)
    after = compute_features(make(moved), spec)
    warm = spec.column_warmups()
    changed_at_t = {
        c
        for j, c in enumerate(base.columns)
        if not np.array_equal(base.values[t, :, j], after.values[t, :, j])
    }
    # not required here: drawdown can stay 0 (a new high moved higher) and %B over 2 bars is
    # 0.5 +/- 1/(2k) whatever the size of the move
    must_change = {
        c
        for c in spec.columns()
        if warm[c] <= t
        and c.startswith(
            (
                "return_",
                "log_return_",
                "sma_ratio_",
                "ema_ratio_",
                "rsi_",
                "macd",
                "atr_",
                "volatility_",
            )
        )
    }
    assert must_change
    assert must_change <= changed_at_t, must_change - changed_at_t
    # nothing before t moved, and neither did the untouched symbol 0
    for j in range(len(base.columns)):
        assert identical_prefix(base.values[:, :, j], after.values[:, :, j], t - 1)
    # symbol 0 did not move at all
    np.testing.assert_array_equal(base.values[:, 0], after.values[:, 0])


def test_the_prefix_check_catches_a_leaky_feature():
    """A centred moving average (uses t+1) must fail the same check the features pass."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 1))
    y = x.copy()
    y[31:] += 1.0

    def centred(a):
        out = np.full(a.shape, np.nan, dtype=np.float32)
        out[1:-1] = (a[:-2] + a[1:-1] + a[2:]) / 3
        return out

    assert not identical_prefix(centred(x), centred(y), 30)
    assert identical_prefix(centred(x), centred(y), 29)
