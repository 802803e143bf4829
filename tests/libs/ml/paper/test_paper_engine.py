"""The paper engine against the evaluation backtest (same bars, costs, actions: equal to
1e-9), crash-safe restore, risk limits (drawdown halt on a synthetic crash, rejections), and
signals whose observation is the env core's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.agents import make_model
from tradeopt_ml.data import load_sample
from tradeopt_ml.envs import make_env
from tradeopt_ml.evaluation import backtest_model
from tradeopt_ml.paper import (
    Applied,
    BarsProblem,
    PaperEngine,
    RiskLimits,
    check_bars,
    compute_signal,
    observation,
    parity_report,
)
from tradeopt_ml.training.experiment import ExperimentSpec, lineage_of, prepare

pytestmark = pytest.mark.unit

FEATURES = {"features": ["log_return", "rsi"]}
SPLIT = {"train_end": "2012-12-31", "validation_end": "2017-12-31"}
CASES = {
    "discrete": ("ppo", {"action_space": "discrete"}),
    "continuous": ("ppo", {"action_space": "continuous"}),
}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("SPY")


@pytest.fixture(scope="module")
def models(bars, tmp_path_factory):
    """Untrained seeded policies: enough to compare two execution paths."""
    out = {}
    root = tmp_path_factory.mktemp("models")
    for name, (algo, env) in CASES.items():
        spec = ExperimentSpec.model_validate(
            {
                "algorithm": algo,
                "symbols": ["SPY"],
                "env": {"window": 8, "bust_fraction": 0.0, **env},
                "features": FEATURES,
                "split": SPLIT,
            }
        )
        data = prepare(bars, spec)
        env_ = make_env(data.panel, data.observations, spec.env, stop=data.splits.train.stop)
        model = make_model(algo, env_, seed=5, device="cpu")
        path = root / f"{name}.zip"
        model.save(path)
        out[name] = (model, path, lineage_of(spec, data))
    return out


def _rows(records):
    return [
        {
            "seq": r.seq,
            "t": str(np.datetime_as_string(r.t, unit="s", timezone="UTC")),
            "value": r.value,
            "units": r.units,
            "cost": r.cost,
            "traded": r.traded,
        }
        for r in records
    ]


def _run(engine: PaperEngine):
    records = []
    while not engine.done:
        records.append(engine.step())
    return records


@pytest.mark.parametrize("name", list(CASES))
def test_replay_equals_the_evaluation_backtest(name, models, bars):
    model, path, lineage = models[name]
    engine = PaperEngine.for_range(lineage, bars, model, RiskLimits(), part="test")
    records = _run(engine)
    backtest, _, _ = backtest_model(path, lineage, bars, part="test", fast=True, model=model)
    report = parity_report(_rows(records), backtest)
    assert report.ok, report.divergences[:3]
    assert report.bars_compared == backtest.n_steps == len(records) > 100
    assert report.max_abs_equity_diff == 0.0
    assert report.fills_session == report.fills_backtest > 0


@pytest.mark.parametrize("name", list(CASES))
def test_restore_lands_in_the_same_state(name, models, bars):
    model, _, lineage = models[name]
    full = _run(PaperEngine.for_range(lineage, bars, model, RiskLimits(), part="test"))
    cut = len(full) // 3
    resumed = PaperEngine.for_range(lineage, bars, model, RiskLimits(), part="test")
    again = resumed.restore([Applied.from_dict(r.applied.to_dict()) for r in full[:cut]])
    assert [r.value for r in again] == [r.value for r in full[:cut]]
    rest = _run(resumed)
    assert [r.value for r in rest] == [r.value for r in full[cut:]]
    assert [r.units for r in rest] == [r.units for r in full[cut:]]


@pytest.mark.parametrize("name", list(CASES))
def test_planned_actions_equal_predict_per_bar(name, models, bars):
    model, _, lineage = models[name]
    per_bar = _run(PaperEngine.for_range(lineage, bars, model, RiskLimits(), part="test"))
    planned = PaperEngine.for_range(lineage, bars, model, RiskLimits(), part="test")
    assert planned.plan() == len(per_bar)
    cut = len(per_bar) // 2
    planned.restore([r.applied for r in per_bar[:cut]])
    rest = _run(planned)
    assert planned.planned  # used to the end
    assert [r.value for r in rest] == [r.value for r in per_bar[cut:]]
    assert [r.applied for r in rest] == [r.applied for r in per_bar[cut:]]


class _AlwaysLong:
    def predict(self, obs, deterministic=True):
        return np.int64(2), None


def _crash_bars(n: int = 400, crash_at: int = 300) -> pd.DataFrame:
    """Steady growth, then a 3 %/day crash from bar ``crash_at``."""
    ts = pd.date_range("2020-01-01", periods=n, freq="B", tz="UTC")
    rets = np.where(np.arange(n) < crash_at, 0.001, -0.03)
    close = 100 * np.cumprod(1 + rets)
    return pd.DataFrame(
        {
            "symbol": "SYN",
            "timestamp": ts,
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "adj_close": close,
            "volume": 1e6,
        }
    )


def _crash_engine(limits: RiskLimits, policy=None) -> PaperEngine:
    bars = _crash_bars()
    spec = ExperimentSpec.model_validate(
        {
            "algorithm": "ppo",
            "symbols": ["SYN"],
            "env": {"window": 4, "bust_fraction": 0.0, "cost_bps": 1, "slippage_bps": 1},
            "features": FEATURES,
            "split": {"train": 0.5, "validation": 0.2, "test": 0.3},
        }
    )
    data = prepare(bars, spec)
    return PaperEngine.for_range(
        lineage_of(spec, data), bars, policy or _AlwaysLong(), limits, part=None
    )


def test_max_drawdown_flattens_and_halts_at_the_first_breaching_bar():
    engine = _crash_engine(RiskLimits(max_drawdown=0.1))
    records = _run(engine)
    last = records[-1]
    assert last.applied.kind == "flatten" and "max_drawdown" in last.applied.reason
    assert last.units == [0.0] and engine.halted == last.applied.reason
    before = records[:-1]
    values = np.array([r.value for r in before])
    peaks = np.maximum.accumulate(np.maximum(values, 100_000.0))
    # the flatten is decided at the first bar whose marked value is 10 % below the peak
    breaching = np.flatnonzero(values / peaks - 1 <= -0.1)
    assert breaching.tolist() == [len(before) - 1]
    assert all(r.applied.kind in ("trade", "hold") for r in before)


def test_max_daily_loss_flattens_at_the_first_day_down_by_the_limit():
    """Daily bars: each bar's day starts at the previous bar's value (the engine's day
    numbers, precomputed from the bar timestamps, drive the day boundaries)."""
    engine = _crash_engine(RiskLimits(max_daily_loss=0.02))
    records = _run(engine)
    last = records[-1]
    assert last.applied.kind == "flatten" and "max_daily_loss" in last.applied.reason
    values = np.array([100_000.0] + [r.value for r in records[:-1]])
    breaching = np.flatnonzero(values[1:] / values[:-1] - 1 <= -0.02)
    assert breaching.tolist()[:1] == [len(records) - 2]


def test_max_position_rejects_discrete_orders_and_kill_switch_flattens():
    engine = _crash_engine(RiskLimits(max_position=0.5))
    first = engine.step()
    assert first.applied.kind == "rejected" and first.units == [0.0]
    assert "max_position" in first.applied.reason
    engine = _crash_engine(RiskLimits())
    engine.step()
    engine.request_halt("kill switch")
    last = engine.step()
    assert last.applied.kind == "flatten" and last.units == [0.0] and engine.done


def test_signal_observation_is_the_env_cores(models, bars):
    model, _, lineage = models["discrete"]
    engine = PaperEngine.for_range(lineage, bars, model, RiskLimits(), part="test")
    core = engine.core
    t = core.t
    from tradeopt_ml.data import Panel

    frame = Panel.from_bars(bars, symbols=["SPY"]).to_bars().iloc[: t + 1]
    obs = observation(lineage, frame, np.asarray([0.0], dtype=np.float32))
    # features are computed on the whole history both ways here: the layouts must agree
    assert np.array_equal(obs, core.observe())
    from tradeopt_ml.paper.signals import panel_of

    direct, pivoted = panel_of(frame, lineage), Panel.from_bars(frame, symbols=["SPY"])
    for name in ("timestamps", "open", "high", "low", "close", "adj_close", "volume"):
        assert np.array_equal(getattr(direct, name), getattr(pivoted, name)), name
    assert direct.has_adjusted == pivoted.has_adjusted
    recent = [
        {"t": str(r.timestamp), **{k: r[k] for k in ("open", "high", "low", "close", "volume")}}
        for _, r in frame.tail(60).iterrows()
    ]
    signal = compute_signal(lineage, model, check_bars(lineage, recent))
    assert signal.action in ("short", "flat", "long") and signal.target_position in (-1, 0, 1)


def test_bars_shortfalls_are_named(models):
    _, _, lineage = models["discrete"]
    base = pd.Timestamp("2021-01-04", tz="UTC")
    good = [
        {"t": (base + pd.Timedelta(days=i)).isoformat(), "open": 10, "high": 11, "low": 9,
         "close": 10, "volume": 5}
        for i in range(40)
    ]  # fmt: skip
    with pytest.raises(BarsProblem, match="too few bars: 3 given"):
        check_bars(lineage, good[:3])
    bad = [dict(b) for b in good]
    bad[5]["close"] = -1
    bad[7]["t"] = bad[6]["t"]
    bad[20]["t"] = (base + pd.Timedelta(days=40)).isoformat()
    with pytest.raises(BarsProblem) as info:
        check_bars(lineage, bad)
    problems = {(e["loc"][2], e["loc"][3], e["msg"]) for e in info.value.errors}
    assert (5, "close", "price must be positive") in problems
    assert (7, "t", "duplicate timestamp") in problems
    assert any(i == 20 and "gap" in m for i, _, m in problems) or any(
        i == 21 and "before" in m for i, _, m in problems
    )
