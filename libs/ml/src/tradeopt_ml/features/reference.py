"""A slow, row-by-row reference implementation of the catalog, for verification and benchmarks.

Written the way a typical pandas user would: one loop over the rows of a single-symbol bar
frame, each indicator recomputed from ``df.iloc[...]`` windows, the recursive averages (EMA,
Wilder) carried as Python floats. It shares no code with the vectorised kernels on purpose;
tests compare the two and ``benchmarks/bench_features.py`` times the difference. Never use it in
production.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tradeopt_ml.features.spec import FeatureSpec

_NAN = float("nan")


class _Ema:
    """SMA-seeded exponential average updated one value at a time."""

    def __init__(self, alpha: float, window: int) -> None:
        self.alpha, self.window = alpha, window
        self.seed: list[float] = []
        self.value = _NAN

    def update(self, x: float) -> float:
        if math.isnan(x):
            return self.value
        if len(self.seed) < self.window:
            self.seed.append(x)
            if len(self.seed) == self.window:
                self.value = sum(self.seed) / self.window
            return self.value
        self.value = self.alpha * x + (1.0 - self.alpha) * self.value
        return self.value


def reference_features(
    frame: pd.DataFrame, spec: FeatureSpec, stop: int | None = None
) -> pd.DataFrame:
    """Compute ``spec`` for one symbol's canonical bars, row by row, for rows ``[0, stop)``.

    Args:
        frame: Canonical bars of a single symbol, oldest first.
        spec: The features to compute.
        stop: Only the first ``stop`` rows (the loop is slow); all rows when None.

    Returns:
        A float64 frame with ``spec.columns()``, one row per bar.
    """
    df = frame.reset_index(drop=True)
    n_rows = len(df) if stop is None else min(stop, len(df))
    rows: list[dict[str, float]] = []
    state: dict[str, object] = {}
    for i in range(n_rows):
        row: dict[str, float] = {}
        for item in spec.features:
            p = item.params
            key = f"{item.name}:{sorted(p.items())}"
            row.update(_one(df, i, item.name, p, state.setdefault(key, {})))  # type: ignore[arg-type]
        rows.append(row)
    return pd.DataFrame(rows, columns=spec.columns(), dtype=np.float64)


def _one(df: pd.DataFrame, i: int, name: str, p: dict, st: dict) -> dict[str, float]:
    price = df["adj_close"]
    if name in ("return", "log_return"):
        h = p["horizon"]
        col = f"{name}_{h}"
        if i < h:
            return {col: _NAN}
        ratio = price.iloc[i] / price.iloc[i - h]
        return {col: ratio - 1.0 if name == "return" else math.log(ratio)}
    if name == "sma_ratio":
        w = p["window"]
        col = f"sma_ratio_{w}"
        if i < w - 1:
            return {col: _NAN}
        return {col: price.iloc[i] / price.iloc[i - w + 1 : i + 1].mean() - 1.0}
    if name == "ema_ratio":
        s = p["span"]
        ema = st.setdefault("ema", _Ema(2.0 / (s + 1), s)).update(price.iloc[i])
        return {f"ema_ratio_{s}": price.iloc[i] / ema - 1.0}
    if name == "rsi":
        w = p["window"]
        col = f"rsi_{w}"
        if i == 0:
            st["gain"], st["loss"] = _Ema(1.0 / w, w), _Ema(1.0 / w, w)
            return {col: _NAN}
        change = price.iloc[i] - price.iloc[i - 1]
        gain = st["gain"].update(max(change, 0.0))
        loss = st["loss"].update(max(-change, 0.0))
        if math.isnan(gain):
            return {col: _NAN}
        return {col: 50.0 if gain + loss == 0 else 100.0 * gain / (gain + loss)}
    if name == "macd":
        f, s, g = p["fast"], p["slow"], p["signal"]
        fast = st.setdefault("fast", _Ema(2.0 / (f + 1), f)).update(price.iloc[i])
        slow = st.setdefault("slow", _Ema(2.0 / (s + 1), s)).update(price.iloc[i])
        line = (fast - slow) / price.iloc[i]
        signal = st.setdefault("signal", _Ema(2.0 / (g + 1), g)).update(line)
        suffix = f"{f}_{s}_{g}"
        return {
            f"macd_{suffix}": line,
            f"macd_signal_{suffix}": signal,
            f"macd_hist_{suffix}": line - signal,
        }
    if name == "bollinger_pctb":
        w, k = p["window"], p["k"]
        col = f"bb_pctb_{w}_{k:g}"
        if i < w - 1:
            return {col: _NAN}
        window = price.iloc[i - w + 1 : i + 1]
        mid, sd = window.mean(), window.std(ddof=0)
        if sd <= 1e-12 * abs(mid):
            return {col: 0.5}
        lower, upper = mid - k * sd, mid + k * sd
        return {col: (price.iloc[i] - lower) / (upper - lower)}
    if name == "atr":
        w = p["window"]
        col = f"atr_{w}"
        if i == 0:
            st["atr"] = _Ema(1.0 / w, w)
            return {col: _NAN}
        factor = df["adj_close"].iloc[i] / df["close"].iloc[i]
        high, low = df["high"].iloc[i] * factor, df["low"].iloc[i] * factor
        prev = price.iloc[i - 1]
        tr = max(high - low, abs(high - prev), abs(low - prev))
        return {col: st["atr"].update(tr) / price.iloc[i]}
    if name == "volatility":
        w = p["window"]
        col = f"volatility_{w}{'_ann' if p['annualize'] else ''}"
        if i < w:
            return {col: _NAN}
        window = price.iloc[i - w : i + 1]
        vol = float(np.log(window / window.shift(1)).iloc[1:].std(ddof=1))
        return {col: vol * math.sqrt(p["bars_per_year"]) if p["annualize"] else vol}
    if name == "volume_zscore":
        w = p["window"]
        col = f"volume_z_{w}"
        if i < w - 1:
            return {col: _NAN}
        window = df["volume"].iloc[i - w + 1 : i + 1]
        mean, sd = window.mean(), window.std(ddof=0)
        if sd <= 1e-12 * abs(mean):
            return {col: 0.0}
        return {col: (df["volume"].iloc[i] - mean) / sd}
    if name == "drawdown":
        w = p["window"]
        col = f"drawdown_{w}"
        if i < w - 1:
            return {col: _NAN}
        return {col: price.iloc[i] / price.iloc[i - w + 1 : i + 1].max() - 1.0}
    if name == "calendar":
        ts = pd.Timestamp(df["timestamp"].iloc[i])
        dow, month = ts.day_of_week, ts.month - 1
        return {
            "dow_sin": math.sin(2 * math.pi * dow / 7),
            "dow_cos": math.cos(2 * math.pi * dow / 7),
            "month_sin": math.sin(2 * math.pi * month / 12),
            "month_cos": math.cos(2 * math.pi * month / 12),
        }
    raise ValueError(f"no reference for {name!r}")
