"""Train / validation / test splits by fractions and by dates."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.data.splits import SplitSpec, make_splits

pytestmark = pytest.mark.unit


def bdays(n: int, start: str = "2020-01-01") -> np.ndarray:
    """``n`` business days as naive datetime64[ns] (like Panel.timestamps)."""
    return pd.bdate_range(start, periods=n).to_numpy(dtype="datetime64[ns]")


class TestSplitSpec:
    def test_default_is_70_15_15(self) -> None:
        spec = SplitSpec()
        assert (spec.train, spec.validation, spec.test) == (0.70, 0.15, 0.15)
        assert spec.mode == "fractions"

    def test_validation_defaults_to_zero(self) -> None:
        spec = SplitSpec(train=0.8, test=0.2)
        assert spec.validation == 0.0

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"train": 0.7, "validation": 0.2, "test": 0.2}, "sum to 1"),
            ({"train": 0.7, "test": 0.3, "train_end": "2020-01-01"}, "not both"),
            ({"train": 0.7}, "need both train and test"),
            ({"validation_end": "2020-01-01"}, "needs train_end"),
            ({"train_end": "2020-06-01", "validation_end": "2020-05-01"}, "must be after"),
            ({"train": 0.0, "test": 1.0}, "greater than 0"),
            ({"train": 0.5, "test": 0.5, "embargo": -1}, "greater than or equal to 0"),
            ({"train": 0.5, "test": 0.5, "shuffle": True}, "Extra inputs"),
        ],
    )
    def test_invalid_combinations(self, fields: dict[str, object], message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            SplitSpec(**fields)

    def test_sum_tolerance(self) -> None:
        SplitSpec(train=0.1 + 0.2, validation=0.3, test=0.4)  # 0.30000000000000004 is fine
        with pytest.raises(ValidationError):
            SplitSpec(train=0.3 + 1e-6, validation=0.3, test=0.4)

    def test_design_payload_parses(self) -> None:
        spec = SplitSpec.model_validate_json(
            '{"train_end": "2015-12-31", "validation_end": "2018-12-31"}'
        )
        assert spec.mode == "dates"


class TestFractions:
    def test_hand_computed_boundaries(self) -> None:
        ts = bdays(100)
        s = make_splits(ts)
        assert (s.train.start, s.train.stop) == (0, 70)
        assert s.validation is not None
        assert (s.validation.start, s.validation.stop) == (70, 85)
        assert (s.test.start, s.test.stop) == (85, 100)
        assert s.train.end_time == pd.Timestamp(ts[69], tz="UTC")
        assert s.test.start_time == pd.Timestamp(ts[85], tz="UTC")
        assert s.test.n_bars == 15

    def test_rounding_is_half_up(self) -> None:
        s = make_splits(bdays(11), SplitSpec(train=0.5, test=0.5))  # 5.5 -> 6
        assert s.train.stop == 6
        assert s.test.start == 6

    def test_no_validation(self) -> None:
        s = make_splits(bdays(50), SplitSpec(train=0.8, test=0.2))
        assert s.validation is None
        assert [seg.name for seg in s] == ["train", "test"]
        assert (s.train.stop, s.test.start, s.test.stop) == (40, 40, 50)
        with pytest.raises(KeyError):
            s.get("validation")

    def test_embargo_drops_bars_at_start_of_later_parts(self) -> None:
        s = make_splits(bdays(100), SplitSpec(embargo=3))
        assert s.validation is not None
        assert (s.train.start, s.train.stop) == (0, 70)
        assert (s.validation.start, s.validation.stop) == (73, 85)
        assert (s.test.start, s.test.stop) == (88, 100)

    def test_too_small_part_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="validation part has 0 bar"):
            make_splits(bdays(5), SplitSpec(train=0.8, validation=0.05, test=0.15))
        with pytest.raises(ValueError, match="need at least 20"):
            make_splits(bdays(100), min_bars=20)
        with pytest.raises(ValueError, match="after an embargo of 15"):
            make_splits(bdays(100), SplitSpec(embargo=15))

    def test_unsorted_and_duplicate_timestamps(self) -> None:
        ts = bdays(10)
        with pytest.raises(ValueError, match="unsorted timestamp at position 5"):
            make_splits(np.concatenate([ts[:5], ts[3:4], ts[6:]]))
        with pytest.raises(ValueError, match="duplicate timestamp at position 4"):
            make_splits(np.concatenate([ts[:4], ts[3:4], ts[5:]]))
        with pytest.raises(ValueError, match="empty"):
            make_splits(ts[:0])

    def test_tz_aware_index_is_accepted(self) -> None:
        idx = pd.bdate_range("2020-01-01", periods=20, tz="UTC")
        s = make_splits(idx, SplitSpec(train=0.5, test=0.5))
        assert s.test.start_time == idx[10]


class TestDates:
    def test_inclusive_end_dates(self) -> None:
        ts = bdays(100)  # 2020-01-01 (Wed) ...
        s = make_splits(ts, SplitSpec(train_end="2020-01-31", validation_end="2020-02-28"))
        # January 2020 has 23 business days; February 20.
        assert s.train.stop == 23
        assert s.train.end_time == pd.Timestamp("2020-01-31", tz="UTC")
        assert s.validation is not None
        assert (s.validation.start, s.validation.stop) == (23, 43)
        assert s.validation.start_time == pd.Timestamp("2020-02-03", tz="UTC")
        assert (s.test.start, s.test.stop) == (43, 100)

    def test_non_trading_day_picks_last_bar_before(self) -> None:
        ts = bdays(30)
        # 2020-01-04 is a Saturday: train ends on Friday 2020-01-03 (bar 2).
        s = make_splits(ts, SplitSpec(train_end="2020-01-04"))
        assert s.train.stop == 3
        assert s.train.end_time == pd.Timestamp("2020-01-03", tz="UTC")
        assert s.validation is None
        assert s.test.start_time == pd.Timestamp("2020-01-06", tz="UTC")

    def test_date_time_bound_is_an_instant(self) -> None:
        ts = pd.date_range("2020-01-01", periods=48, freq="h").to_numpy()
        by_day = make_splits(ts, SplitSpec(train_end="2020-01-01"))
        by_instant = make_splits(ts, SplitSpec(train_end="2020-01-01T05:00:00Z"))
        assert by_day.train.stop == 24  # the whole day
        assert by_instant.train.stop == 6  # 00:00 .. 05:00 inclusive

    def test_embargo_with_dates(self) -> None:
        s = make_splits(
            bdays(100),
            SplitSpec(train_end="2020-01-31", validation_end="2020-02-28", embargo=2),
        )
        assert s.validation is not None
        assert (s.train.stop, s.validation.start, s.validation.stop, s.test.start) == (
            23,
            25,
            43,
            45,
        )

    def test_dates_outside_the_data(self) -> None:
        ts = bdays(100)
        with pytest.raises(ValueError, match="before the first bar"):
            make_splits(ts, SplitSpec(train_end="2019-06-30"))
        with pytest.raises(ValueError, match="on or after the last bar"):
            make_splits(ts, SplitSpec(train_end="2030-01-01"))
        with pytest.raises(ValueError, match="on or after the last bar"):
            make_splits(ts, SplitSpec(train_end="2020-01-31", validation_end="2030-01-01"))

    def test_validation_end_in_same_gap_as_train_end_is_empty(self) -> None:
        # Saturday and Sunday after the same Friday: validation would hold no bar.
        with pytest.raises(ValueError, match="validation part has 0 bar"):
            make_splits(bdays(30), SplitSpec(train_end="2020-01-04", validation_end="2020-01-05"))


def test_as_dict_is_json_safe_iso_utc() -> None:
    s = make_splits(bdays(100))
    payload = json.loads(json.dumps(s.as_dict()))
    assert payload["train"] == {
        "name": "train",
        "start": 0,
        "stop": 70,
        "start_time": "2020-01-01T00:00:00Z",
        "end_time": "2020-04-07T00:00:00Z",
        "n_bars": 70,
    }
    assert payload["n_bars"] == 100
    assert payload["embargo"] == 0


def test_real_sample_split_slices_panel() -> None:
    panel = Panel.from_bars(load_sample("SPY"))
    s = make_splits(
        panel.timestamps, SplitSpec(train_end="2015-12-31", validation_end="2018-12-31")
    )
    assert s.validation is not None
    assert s.train.end_time.year == 2015
    assert s.validation.start_time.year == 2016
    assert s.test.start_time.year == 2019
    train = panel.slice(s.train.start, s.train.stop)
    assert train.n_bars == s.train.n_bars
    assert np.array_equal(s.test.take(panel.close), panel.close[s.test.start :])


def test_fraction_cut_rounds_half_up_despite_float_noise() -> None:
    # 45 * 0.7 is 31.499999999999996 in floating point; the intended 31.5 rounds up to 32.
    assert 45 * 0.7 < 31.5
    s = make_splits(bdays(45), SplitSpec(train=0.7, validation=0.15, test=0.15))
    assert (s.train.stop, s.validation.stop) == (32, 38)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=3, max_value=3000),
    train=st.floats(min_value=0.05, max_value=0.9),
    val_share=st.floats(min_value=0.0, max_value=1.0),
    embargo=st.integers(min_value=0, max_value=20),
)
def test_property_parts_disjoint_ordered_and_cover(
    n: int, train: float, val_share: float, embargo: int
) -> None:
    validation = round((1.0 - train) * val_share * 0.9, 6)
    test = 1.0 - train - validation
    # Within float noise of a half bar the cut is a matter of the documented 1e-9 tolerance
    # (0.7 * n may come out as k.4999999999); the expectation below holds away from those ties.
    for position in (n * train, n * (train + validation)):
        assume(abs(position % 1.0 - 0.5) > 1e-6)
    spec = SplitSpec(train=train, validation=validation, test=test, embargo=embargo)
    ts = bdays(n)
    try:
        s = make_splits(ts, spec)
    except ValueError as exc:
        error = str(exc)
    else:
        error = ""
    # Independent expectation: round-half-up cuts, embargo taken from the later parts.
    cut1 = math.floor(n * train + 0.5)
    cut2 = math.floor(n * (train + validation) + 0.5) if validation > 0 else cut1
    sizes = [cut1, n - cut2 - embargo]
    if validation > 0:
        sizes.append(cut2 - cut1 - embargo)
    assert bool(error) == (min(sizes) < 1), (error, sizes)
    if error:
        assert "part has" in error
        return
    assert s.train.stop == cut1
    assert s.test.n_bars == n - cut2 - embargo
    parts = list(s)
    covered = np.zeros(n, dtype=int)
    for prev, nxt in itertools.pairwise(parts):
        # Ordered, no train index at or after a later part's start, gap is exactly the embargo.
        assert prev.stop - 1 < nxt.start
        assert nxt.start - prev.stop == embargo
    for seg in parts:
        assert seg.n_bars >= 1
        covered[seg.start : seg.stop] += 1
    for prev, nxt in itertools.pairwise(parts):
        covered[prev.stop : nxt.start] += 1  # embargo gap
    assert parts[0].start == 0
    assert parts[-1].stop == n
    assert (covered == 1).all()  # union covers the data exactly once


@pytest.mark.parametrize("text", ["", "  ", "NaT", "nan", "not a date"])
def test_a_split_date_that_is_no_time_at_all_is_a_validation_error(text: str) -> None:
    """pandas reads "", "NaT" and "nan" as NaT instead of failing; a split bound given one was
    a TypeError deep in the validator (a 500 from the evaluation API, found by schemathesis)."""
    with pytest.raises(ValidationError, match="not an ISO 8601 date or date-time"):
        SplitSpec.model_validate({"train_end": "2000-01-01", "validation_end": text})
    with pytest.raises(ValidationError, match="not an ISO 8601 date or date-time"):
        SplitSpec.model_validate({"train_end": text})
