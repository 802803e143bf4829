"""FeatureSpec validation, canonical hashing, columns and warm-up; the catalog document."""

import hashlib
import json

import pytest
from pydantic import ValidationError

from tradeopt_ml.features import FeatureItem, FeatureSpec, catalog

pytestmark = pytest.mark.unit


def test_default_spec_columns_and_warmup():
    spec = FeatureSpec.default()
    cols = spec.columns()
    assert 12 <= len(cols) <= 20
    assert cols[:3] == ["log_return_1", "log_return_5", "log_return_20"]
    assert {
        "rsi_14",
        "macd_12_26_9",
        "macd_signal_12_26_9",
        "macd_hist_12_26_9",
        "bb_pctb_20_2",
        "atr_14",
        "volatility_20",
        "volume_z_20",
        "drawdown_60",
        "dow_sin",
        "month_cos",
        "sma_ratio_10",
        "sma_ratio_50",
        "ema_ratio_20",
    } <= set(cols)
    assert spec.warmup() == 59  # drawdown over 60 bars
    assert spec.column_warmups()["macd_signal_12_26_9"] == 26 + 9 - 2


def test_defaults_are_filled_and_typed():
    item = FeatureItem(name="bollinger_pctb", params={"k": 3})
    assert item.params == {"window": 20, "k": 3.0}
    assert isinstance(item.params["k"], float)
    assert FeatureItem.model_validate("rsi").params == {"window": 14}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"features": [{"name": "nope"}]}, "unknown feature 'nope'"),
        ({"features": [{"name": "rsi", "params": {"window": 1}}]}, "window: must be >= 2"),
        ({"features": [{"name": "rsi", "params": {"window": 2.5}}]}, "expected an integer"),
        ({"features": [{"name": "rsi", "params": {"window": "14"}}]}, "expected int"),
        ({"features": [{"name": "rsi", "params": {"window": True}}]}, "expected int"),
        ({"features": [{"name": "rsi", "params": {"span": 3}}]}, "unknown parameter(s) span"),
        ({"features": [{"name": "volatility", "params": {"annualize": 1}}]}, "expected a boolean"),
        ({"features": [{"name": "macd", "params": {"fast": 30}}]}, "fast (30) must be smaller"),
        ({"features": [{"name": "atr", "params": {"window": 501}}]}, "must be <= 500"),
        ({"features": []}, "at least 1 item"),
        ({"features": ["rsi", "rsi"]}, "duplicate feature column(s): rsi_14"),
        ({"features": ["rsi"], "extra": 1}, "Extra inputs are not permitted"),
        ({"features": [{"name": "rsi", "window": 14}]}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_specs_raise_validation_error(payload, message):
    with pytest.raises(ValidationError) as info:
        FeatureSpec.model_validate(payload)
    assert message in str(info.value)


def test_error_location_points_at_the_item():
    with pytest.raises(ValidationError) as info:
        FeatureSpec.model_validate({"features": ["rsi", {"name": "rsi", "params": {"window": 0}}]})
    (error,) = info.value.errors()
    assert error["loc"] == ("features", 1, "params")


def test_hash_is_canonical():
    a = FeatureSpec(features=[{"name": "bollinger_pctb", "params": {"k": 2}}, "calendar"])
    b = FeatureSpec.model_validate(
        [{"name": "bollinger_pctb", "params": {"window": 20, "k": 2.0}}, {"name": "calendar"}]
    )
    c = FeatureSpec(features=[{"name": "bollinger_pctb", "params": {"k": 2.5}}, "calendar"])
    swapped = FeatureSpec(features=["calendar", {"name": "bollinger_pctb", "params": {"k": 2}}])
    assert a.hash() == b.hash()
    assert len(a.hash()) == 16
    assert a.hash() != c.hash()
    assert a.hash() != swapped.hash()  # the order fixes the column layout
    # the documented canonical form: version + items with sorted, default-filled params
    text = json.dumps(
        {
            "features": [
                {"name": "bollinger_pctb", "params": {"k": 2.0, "window": 20}},
                {"name": "calendar", "params": {}},
            ],
            "version": 1,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert a.hash() == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_spec_round_trips_through_json():
    spec = FeatureSpec.default()
    again = FeatureSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert again.hash() == spec.hash()


def test_catalog_is_json_and_consistent():
    entries = json.loads(json.dumps(catalog()))
    names = [e["name"] for e in entries]
    assert names == [
        "return",
        "log_return",
        "sma_ratio",
        "ema_ratio",
        "rsi",
        "macd",
        "bollinger_pctb",
        "atr",
        "volatility",
        "volume_zscore",
        "drawdown",
        "calendar",
    ]
    for entry in entries:
        assert entry["description"]
        defaults = {p["name"]: p["default"] for p in entry["params"]}
        for p in entry["params"]:
            assert p["type"] in {"int", "float", "bool"}
            if p["type"] != "bool":
                assert p["min"] <= p["default"] <= p["max"]
        item = FeatureItem(name=entry["name"])
        assert entry["default_columns"] == item.columns()
        # the published warm-up formulas evaluate to what the code uses
        formulas = [eval(f, {"__builtins__": {}}, defaults) for f in entry["warmup"]]
        assert max(formulas) == entry["default_warmup"] == max(item.warmups())
        if len(formulas) == len(item.warmups()):
            assert formulas == item.warmups()
        assert len(entry["columns"]) >= 1
