"""The rows a replay batch writes (:func:`tradeopt_strategy.service.bar_rows`): time-ordered
ids, and one JSON text per decision object shared between bars."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest

from tradeopt_ml.paper import Applied, BarRecord
from tradeopt_strategy.service import _uuid7_strings, bar_rows

pytestmark = pytest.mark.unit


def test_ids_are_version_7_unique_and_in_order():
    before = time.time_ns() // 1_000_000
    ids = _uuid7_strings(20_000)
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert {int(i[:12], 16) for i in ids} <= set(range(before, after + 1))  # Unix ms
    assert _uuid7_strings(0) == []


def _record(seq: int, applied: Applied, traded: float) -> BarRecord:
    t = np.datetime64("2020-01-01T00:00:00", "ns") + np.timedelta64(seq, "D")
    return BarRecord(
        seq=seq, t=t, fill_t=t + np.timedelta64(1, "D"), mark_t=t + np.timedelta64(1, "D"),
        applied=applied, target=[1.0], traded=[traded], price=[100.0], fill_price=[100.01],
        commission=[0.1], slippage=[0.01], cost=0.11, units=[traded], cash=0.0, value=1e5,
        weights=[1.0], drawdown=0.0, realised_pnl=0.0, unrealised_pnl=0.0, symbols=("SPY",),
    )  # fmt: skip


def test_bar_rows_share_decision_json_and_order_ids():
    trade, hold = Applied(2, kind="trade"), Applied(2, kind="hold")
    records = [_record(0, trade, 5.0), _record(1, hold, 0.0), _record(2, trade, -0.5)]
    bars, orders, fills = bar_rows(uuid.uuid4(), records)
    assert [b[6] for b in bars] == [json.dumps(r.applied.to_dict()) for r in records]
    assert [o[2] for o in orders] == [0, 2] and [f[3] for f in fills] == [0, 2]
    assert [f[1] for f in fills] == [o[0] for o in orders]  # each fill names its order
    ids = [b[0] for b in bars] + [o[0] for o in orders] + [f[0] for f in fills]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 7 for i in ids)
