"""Seeded synthetic generators: determinism, validity, statistics, the API spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tradeopt_ml.data import BAR_COLUMNS, Panel, bars_checksum, validate_bars
from tradeopt_ml.data.synthetic import (
    SyntheticSpec,
    gbm,
    generate,
    jump_diffusion,
    jump_diffusion_with_jumps,
    regime_switching,
    regime_switching_with_path,
    stationary_distribution,
)
from tradeopt_ml.data.synthetic.generators import _markov_path

pytestmark = pytest.mark.unit

N_STAT = 20_000


def log_returns(frame: pd.DataFrame) -> np.ndarray:
    """``(T - 1, N)`` close-to-close log returns, symbols sorted."""
    return np.diff(np.log(Panel.from_bars(frame).close), axis=0)


class TestDeterminismAndShape:
    @pytest.mark.parametrize("kind", ["gbm", "regime", "jump"])
    def test_same_seed_same_frame_other_seed_differs(self, kind: str) -> None:
        a = generate(kind, ["AAA", "BBB"], 500, seed=7)
        b = generate(kind, ["AAA", "BBB"], 500, seed=7)
        c = generate(kind, ["AAA", "BBB"], 500, seed=8)
        assert bars_checksum(a) == bars_checksum(b)
        pd.testing.assert_frame_equal(a, b)
        assert bars_checksum(a) != bars_checksum(c)

    @pytest.mark.parametrize("kind", ["gbm", "regime", "jump"])
    @pytest.mark.parametrize("freq", ["1d", "1h", "1min"])
    def test_canonical_and_valid(self, kind: str, freq: str) -> None:
        frame = generate(kind, ["ZZZ", "AAA", "MMM"], 400, seed=3, freq=freq, correlation=0.3)
        validate_bars(frame)
        assert tuple(frame.columns) == BAR_COLUMNS
        assert len(frame) == 1200
        assert frame["symbol"].tolist() == sorted(frame["symbol"].tolist())
        assert str(frame["timestamp"].dt.tz) == "UTC"
        for col in BAR_COLUMNS[2:]:
            assert frame[col].dtype == np.float64
        body_hi = np.maximum(frame["open"], frame["close"])
        body_lo = np.minimum(frame["open"], frame["close"])
        assert (frame["high"] >= body_hi).all()
        assert (frame["low"] <= body_lo).all()
        assert (frame["low"] > 0).all()
        assert (frame["high"] > body_hi).mean() > 0.9  # a real envelope, not a degenerate one
        assert (frame["volume"] > 0).all()
        assert (frame["adj_close"] == frame["close"]).all()
        per_symbol = frame.groupby("symbol")["timestamp"]
        assert per_symbol.apply(lambda s: s.is_monotonic_increasing).all()

    def test_open_is_previous_close_with_a_small_gap(self) -> None:
        panel = Panel.from_bars(gbm("X", 5000, seed=1, s0=50.0))
        gaps = np.log(panel.open[1:, 0] / panel.close[:-1, 0])
        assert abs(panel.open[0, 0] / 50.0 - 1) < 0.02
        bar_vol = 0.2 / np.sqrt(252)
        assert 0.1 * bar_vol < gaps.std() < 0.5 * bar_vol

    def test_business_day_timestamps(self) -> None:
        frame = gbm("X", 10, seed=0, start="2024-01-05")
        assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-05", tz="UTC")
        assert frame["timestamp"].iloc[1] == pd.Timestamp("2024-01-08", tz="UTC")  # Monday

    def test_symbol_order_does_not_matter(self) -> None:
        a = gbm(["B", "A"], 100, seed=5, correlation=0.2)
        b = gbm(["A", "B"], 100, seed=5, correlation=0.2)
        assert bars_checksum(a) == bars_checksum(b)

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="duplicate symbols"):
            gbm(["A", "A"], 100, seed=0)
        with pytest.raises(ValueError, match="sigma must be finite and > 0"):
            gbm("A", 100, seed=0, sigma=0.0)
        with pytest.raises(ValueError, match="correlation must be in"):
            gbm(["A", "B", "C"], 100, seed=0, correlation=-0.6)
        with pytest.raises(ValueError, match="2262"):
            gbm("A", 1_000_000, seed=0, freq="B")
        with pytest.raises(ValueError, match="each transition row must sum to 1"):
            regime_switching("A", 100, seed=0, transition=[[0.5, 0.4], [0.1, 0.9]])
        with pytest.raises(ValueError, match="one value per regime"):
            regime_switching("A", 100, seed=0, regime_mu=[0.1, 0.2, 0.3])
        with pytest.raises(ValueError, match="unknown synthetic kind"):
            generate("brownian", "A", 100, seed=0)  # type: ignore[arg-type]

    def test_a_million_bars_vectorised(self) -> None:
        frame = gbm("X", 1_000_000, seed=11, freq="1min")
        assert len(frame) == 1_000_000
        validate_bars(frame, min_rows=1_000_000)


class TestStatistics:
    def test_gbm_drift_and_volatility(self) -> None:
        mu, sigma = 0.30, 0.10
        r = log_returns(gbm("X", N_STAT, seed=42, mu=mu, sigma=sigma))[:, 0]
        dt = 1 / 252
        drift = r.mean() / dt
        se_drift = sigma / np.sqrt(dt) / np.sqrt(r.size)
        assert abs(drift - (mu - sigma**2 / 2)) < 4 * se_drift
        assert r.std(ddof=1) / np.sqrt(dt) == pytest.approx(sigma, rel=0.03)

    def test_gbm_correlation_and_per_symbol_params(self) -> None:
        r = log_returns(gbm(["A", "B"], N_STAT, seed=9, sigma=[0.1, 0.4], correlation=0.6))
        assert np.corrcoef(r.T)[0, 1] == pytest.approx(0.6, abs=0.03)
        vols = r.std(axis=0, ddof=1) * np.sqrt(252)
        assert vols == pytest.approx([0.1, 0.4], rel=0.03)

    def test_hourly_annualisation_matches_panel(self) -> None:
        frame = gbm("X", N_STAT, seed=4, sigma=0.25, freq="1h")
        panel = Panel.from_bars(frame)
        r = np.diff(np.log(panel.close[:, 0]))
        assert r.std(ddof=1) * np.sqrt(panel.bars_per_year()) == pytest.approx(0.25, rel=0.03)

    def test_regime_occupancy_transitions_and_vols(self) -> None:
        transition = [[0.9, 0.1], [0.3, 0.7]]
        frame, regimes = regime_switching_with_path(
            "X",
            N_STAT,
            seed=21,
            regime_mu=[0.2, -0.4],
            regime_sigma=[0.1, 0.5],
            transition=transition,
        )
        pi = stationary_distribution(transition)
        assert pi == pytest.approx([0.75, 0.25])
        occupancy = np.bincount(regimes, minlength=2) / regimes.size
        assert occupancy == pytest.approx(pi, abs=0.03)
        prev, nxt = regimes[:-1], regimes[1:]
        assert (nxt[prev == 0] == 1).mean() == pytest.approx(0.1, abs=0.015)
        assert (nxt[prev == 1] == 0).mean() == pytest.approx(0.3, abs=0.03)
        r = log_returns(frame)[:, 0]
        in_regime = regimes[1:]
        vols = [r[in_regime == k].std(ddof=1) * np.sqrt(252) for k in (0, 1)]
        assert vols == pytest.approx([0.1, 0.5], rel=0.05)

    def test_markov_scan_matches_sequential_simulation(self) -> None:
        p = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.25, 0.25, 0.5]])
        initial = np.array([0.2, 0.3, 0.5])
        states = _markov_path(np.random.default_rng(123), 5000, p, initial)
        u = np.random.default_rng(123).random(5000)
        cum = np.cumsum(p, axis=1)
        expected = np.empty(5000, dtype=np.int64)
        expected[0] = min(np.searchsorted(np.cumsum(initial), u[0], side="right"), 2)
        for t in range(1, 5000):
            expected[t] = min(np.searchsorted(cum[expected[t - 1]], u[t], side="right"), 2)
        np.testing.assert_array_equal(states, expected)
        assert set(np.unique(states)) == {0, 1, 2}

    def test_jump_frequency_and_size(self) -> None:
        intensity, jump_mean, jump_std = 20.0, -0.05, 0.01
        frame, jumps = jump_diffusion_with_jumps(
            "X",
            N_STAT,
            seed=5,
            sigma=0.1,
            intensity=intensity,
            jump_mean=jump_mean,
            jump_std=jump_std,
        )
        rate = intensity / 252
        expected = rate * N_STAT
        assert abs(jumps.sum() - expected) < 4 * np.sqrt(expected)
        r = log_returns(frame)[:, 0]
        one_jump = jumps[1:, 0] == 1
        no_jump = jumps[1:, 0] == 0
        assert r[one_jump].mean() == pytest.approx(jump_mean, abs=0.005)
        # Without a jump the bar drifts up by the compensator -intensity * E[e^J - 1].
        compensator = intensity * (np.exp(jump_mean + jump_std**2 / 2) - 1)
        no_jump_drift = (0.07 - 0.1**2 / 2 - compensator) / 252
        se = 0.1 / np.sqrt(252) / np.sqrt(no_jump.sum())
        assert r[no_jump].mean() == pytest.approx(no_jump_drift, abs=4 * se)
        # Fat tails: excess kurtosis well above the Gaussian's 0.
        z = (r - r.mean()) / r.std()
        assert (z**4).mean() - 3 > 2

    def test_jump_compensation_keeps_expected_return(self) -> None:
        # E[exp(r)] per bar is exp(mu dt) whatever the jumps: compare with and without jumps.
        base = log_returns(jump_diffusion("X", N_STAT, seed=8, intensity=0.0, mu=0.1))[:, 0]
        jumpy = log_returns(
            jump_diffusion("X", N_STAT, seed=8, intensity=10.0, jump_mean=-0.02, mu=0.1)
        )[:, 0]
        annual = [np.expm1(x).mean() * 252 for x in (base, jumpy)]
        se = 0.25 / np.sqrt(N_STAT / 252)
        assert annual[0] == pytest.approx(0.1, abs=4 * se)
        assert annual[1] == pytest.approx(0.1, abs=4 * se)
        # The extra variance lowers the mean *log* return even though E[simple return] is kept.
        assert jumpy.mean() < base.mean()


class TestSyntheticSpec:
    def test_design_payload(self) -> None:
        spec = SyntheticSpec.model_validate(
            {"source": "synthetic", "kind": "gbm", "symbols": ["SYN"], "bars": 2000, "seed": 7}
        )
        frame = spec.generate()
        validate_bars(frame)
        assert len(frame) == 2000
        assert bars_checksum(frame) == bars_checksum(gbm("SYN", 2000, seed=7))
        assert spec.params["mu"] == 0.07  # defaults filled in

    def test_params_validated_per_kind(self) -> None:
        spec = SyntheticSpec(kind="jump", params={"intensity": 3, "jump_mean": -0.1})
        assert spec.params["intensity"] == 3.0
        validate_bars(spec.generate())
        with pytest.raises(ValidationError, match="invalid params for kind 'gbm': intensity"):
            SyntheticSpec(kind="gbm", params={"intensity": 3})
        with pytest.raises(ValidationError, match="sigma"):
            SyntheticSpec(kind="gbm", params={"sigma": -1})
        with pytest.raises(ValidationError, match="one value per regime"):
            SyntheticSpec(kind="regime", params={"regime_mu": [0.1, 0.2, 0.3]})

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"symbols": []}, "at least 1"),
            ({"symbols": ["BAD SYMBOL"]}, "pattern"),
            ({"symbols": ["A", "B", "A"]}, "duplicate symbols: A"),
            ({"symbols": [f"S{i}" for i in range(51)]}, "at most 50"),
            ({"bars": 29}, "greater than or equal to 30"),
            ({"bars": 1_000_001}, "less than or equal to 1000000"),
            ({"seed": 2**32}, "less than or equal to"),
            ({"frequency": "5min"}, "1d"),
            ({"kind": "heston"}, "gbm"),
            ({"bars": 1_000_000, "frequency": "1d"}, "2262"),
            ({"symbols": ["A", "B", "C"], "params": {"correlation": -0.9}}, "correlation"),
            ({"extra": 1}, "Extra inputs"),
        ],
    )
    def test_rejections(self, fields: dict[str, object], message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            SyntheticSpec(**fields)

    def test_symbols_with_special_characters_and_intraday(self) -> None:
        spec = SyntheticSpec(
            symbols=["^GSPC", "EURUSD=X", "BRK.B"], bars=60, frequency="1h", start="2024-03-01"
        )
        frame = spec.generate()
        validate_bars(frame)
        stamps = frame.loc[frame["symbol"] == "^GSPC", "timestamp"]
        assert stamps.iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")
        assert (stamps.diff().dropna() == pd.Timedelta(hours=1)).all()
