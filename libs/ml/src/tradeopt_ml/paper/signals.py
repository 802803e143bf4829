"""Signals from recent bars: the same feature code and normalisation as training (from the
model's lineage), the observation laid out as the env core lays it out, a deterministic policy.

:func:`check_bars` names the exact shortfall of a request (too few bars, gaps, bad values) so
the API can answer 422 with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_ml import execution as ex
from tradeopt_ml.data import Panel
from tradeopt_ml.data.panel import FIELDS
from tradeopt_ml.features import compute_features
from tradeopt_ml.lineage import ModelRecipe
from tradeopt_ml.paper.engine import Policy
from tradeopt_ml.paper.risk import RiskLimits, check_order

#: Consecutive daily bars further apart than this are a gap (weekends and holidays are not).
MAX_DAILY_GAP = np.timedelta64(5, "D")
#: Action names of the discrete levels (one asset: short / flat / long).
_NAMES = {-1: "short", 0: "flat", 1: "long"}


class BarsProblem(ValueError):
    """Bars a signal cannot be computed from; ``errors`` lists ``{index, field, problem}``."""

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


def required_bars(lineage: ModelRecipe) -> int:
    """Bars a signal needs: the features' warm-up plus the observation window."""
    return int(lineage.features.warmup()) + int(lineage.env.window)


def check_bars(lineage: ModelRecipe, bars: list[dict[str, Any]]) -> pd.DataFrame:
    """Validate recent bars (oldest first) and return them as a canonical frame for one symbol.

    Raises:
        BarsProblem: too few bars (with how many are needed), unsorted or duplicate timestamps,
            gaps (daily bars more than 5 days apart), non-finite or non-positive prices,
            high/low inconsistent with open/close, negative volume.
    """
    need = required_bars(lineage)
    errors: list[dict[str, Any]] = []
    if len(bars) < need:
        raise BarsProblem(
            f"too few bars: {len(bars)} given, the model needs {need} "
            f"({lineage.features.warmup()} bars of feature warm-up + a window of "
            f"{lineage.env.window}); send {need - len(bars)} more, oldest first",
            [{"loc": ["body", "bars"], "msg": f"need at least {need} bars", "type": "too_short"}],
        )
    n = len(bars)
    cols = {
        c: np.fromiter((b[c] for b in bars), dtype=np.float64, count=n)
        for c in ("open", "high", "low", "close", "volume")
    }
    adj_given = [b.get("adj_close") for b in bars]
    stamps = pd.DatetimeIndex(pd.to_datetime([b["t"] for b in bars], utc=True))
    stamps = stamps.tz_convert(None).as_unit("ns")
    for col in ("open", "high", "low", "close", "volume"):
        values = cols[col]
        for i in np.flatnonzero(~np.isfinite(values))[:20]:
            errors.append(_err(int(i), col, "not a finite number"))
        if col != "volume":
            for i in np.flatnonzero(values <= 0)[:20]:
                errors.append(_err(int(i), col, "price must be positive"))
        else:
            for i in np.flatnonzero(values < 0)[:20]:
                errors.append(_err(int(i), col, "volume must not be negative"))
    o, h, lo, c = (cols[x] for x in ("open", "high", "low", "close"))
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(h < np.maximum(o, c))[:20]:
            errors.append(_err(int(i), "high", "high below max(open, close)"))
        for i in np.flatnonzero(lo > np.minimum(o, c))[:20]:
            errors.append(_err(int(i), "low", "low above min(open, close)"))
    step = np.diff(stamps.asi8)
    for i in np.flatnonzero(step <= 0)[:20]:
        problem = "duplicate timestamp" if step[i] == 0 else "timestamp before the previous bar"
        errors.append(_err(int(i) + 1, "t", problem))
    if lineage.bars_per_year <= 400:
        gaps = np.flatnonzero(step > MAX_DAILY_GAP.astype("timedelta64[ns]").astype(np.int64))
        for i in gaps[:20]:
            days = step[i] / 86_400e9
            errors.append(_err(int(i) + 1, "t", f"gap of {days:.1f} days after the previous bar"))
    if errors:
        raise BarsProblem(f"{len(errors)} problem(s) in the bars", errors)
    symbol = lineage.symbols[0]
    return pd.DataFrame(
        {
            "symbol": symbol,
            "timestamp": stamps,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "adj_close": np.asarray(adj_given, dtype=np.float64)
            if all(a is not None for a in adj_given)
            else c,
            "volume": cols["volume"],
        }
    )


def _err(index: int, column: str, problem: str) -> dict[str, Any]:
    return {"loc": ["body", "bars", index, column], "msg": problem, "type": "value_error"}


@dataclass(frozen=True, slots=True)
class Signal:
    """A policy's decision at the close of the last bar."""

    target_position: float
    action: str
    raw_action: Any
    as_of: np.datetime64
    allowed: bool
    reason: str | None


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float64, copy=True, order="C").reshape(-1, 1)
    out.setflags(write=False)
    return out


def panel_of(frame: pd.DataFrame, lineage: ModelRecipe) -> Panel:
    """The panel of a one-symbol frame whose timestamps are strictly increasing (what
    :func:`check_bars` returns) built straight from its columns — the arrays
    :meth:`Panel.from_bars` would build, without its pivot (most of a signal's time); any other
    frame goes through :meth:`Panel.from_bars`.
    """
    symbols = frame["symbol"].unique()
    stamps = pd.DatetimeIndex(frame["timestamp"])
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    values = stamps.as_unit("ns").asi8
    if (
        len(lineage.symbols) != 1
        or len(symbols) != 1
        or symbols[0] != lineage.symbols[0]
        or not (np.diff(values) > 0).all()
    ):
        return Panel.from_bars(frame, symbols=list(lineage.symbols))
    arrays = {f: _frozen(frame[f].to_numpy()) for f in FIELDS}
    ts = np.array(stamps.as_unit("ns").to_numpy(dtype="datetime64[ns]"), copy=True)
    ts.setflags(write=False)
    return Panel(
        timestamps=ts,
        symbols=(str(symbols[0]),),
        open=arrays["open"],
        high=arrays["high"],
        low=arrays["low"],
        close=arrays["close"],
        adj_close=arrays["adj_close"],
        volume=arrays["volume"],
        has_adjusted=not bool(np.array_equal(arrays["adj_close"], arrays["close"])),
    )


def observation(
    lineage: ModelRecipe,
    frame: pd.DataFrame,
    weights: np.ndarray,
    unrealised: np.ndarray | None = None,
) -> np.ndarray:
    """The observation of the frame's last bar, laid out as the env core lays it out: the
    window of normalised features ending at the bar, then the held weights (and, when the env
    observes it, unrealised PnL / value).
    """
    panel = panel_of(frame, lineage)
    feats = compute_features(panel, lineage.features)
    values = np.ascontiguousarray(
        lineage.normalizer.normalizer().transform(feats), dtype=np.float32
    )  # (T, N, F)
    window = lineage.env.window
    block = values[-window:]
    if block.shape[0] < window or not np.isfinite(block).all():
        raise BarsProblem(
            "too few bars after the features' warm-up to fill the observation window",
            [{"loc": ["body", "bars"], "msg": "warm-up not complete", "type": "too_short"}],
        )
    n = panel.n_assets
    extra = n * (2 if lineage.env.include_unrealised_pnl else 1)
    obs = np.zeros(block.size + extra, dtype=np.float32)
    obs[: block.size] = block.reshape(-1)
    obs[block.size : block.size + n] = weights
    if lineage.env.include_unrealised_pnl and unrealised is not None:
        obs[block.size + n :] = unrealised
    return obs


def compute_signal(
    lineage: ModelRecipe,
    policy: Policy,
    frame: pd.DataFrame,
    *,
    position: float = 0.0,
    limits: RiskLimits | None = None,
) -> Signal:
    """Decide at the close of the frame's last bar holding ``position`` (weight).

    The target is the env's: a discrete action's level (``±max_leverage / N``), a continuous
    action clipped to ``[low, 1]`` and the leverage cap; then ``limits`` (max position, order
    size, allowed hours) — a discrete target above them is not allowed (``allowed`` False,
    ``target_position`` the held one), a continuous one is clipped.
    """
    env = lineage.env
    obs = observation(lineage, frame, np.asarray([position], dtype=np.float32))
    action, _ = policy.predict(obs, deterministic=True)
    a = np.asarray(action).reshape(-1)
    if env.action_space == "discrete":
        per_asset = env.max_leverage
        levels = [-per_asset, 0.0, per_asset] if env.allow_short else [0.0, per_asset]
        target = float(levels[int(a[0])])
        name = _NAMES[int(np.sign(target))]
    else:
        low = -1.0 if env.allow_short else 0.0
        target = float(ex.clip_weight(float(a[0]), low, env.max_leverage))
        name = "long" if target > 0 else ("short" if target < 0 else "flat")
    as_of = np.datetime64(frame["timestamp"].iloc[-1], "ns")
    allowed, reason = True, None
    if limits is not None:
        verdict = check_order(
            limits,
            np.asarray([position]),
            np.asarray([target]),
            as_of,
            can_reduce=env.action_space != "discrete",
        )
        allowed, reason = verdict.allowed, verdict.reason
        target = float(verdict.target[0])
        if not allowed:
            name = "hold"
    raw = a[0].item() if a.size == 1 else a.tolist()
    return Signal(target, name, raw, as_of, allowed, reason)
