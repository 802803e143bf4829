"""Where a dataset's bars come from: one loader per ``source``, each returning canonical bars.

Every loader ends in the same checks (:func:`finalize`): canonical columns, validation with a row
report, alignment facts, and metadata that states which prices are used for what (DESIGN §5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tradeopt_common.errors import UnsupportedMediaType, ValidationFailed
from tradeopt_ml.data import BarValidationError, Panel, load_sample, validate_bars
from tradeopt_ml.data.ingest import BarsInvalid, UploadRejected, prepare_upload
from tradeopt_ml.data.providers import ProviderError, fetch_yahoo
from tradeopt_ml.data.synthetic import SyntheticSpec


@dataclass
class LoadedBars:
    """Canonical bars plus what the loader learned about them."""

    frame: pd.DataFrame
    has_adjusted: bool
    meta: dict[str, Any] = field(default_factory=dict)


def upload_problem(exc: UploadRejected | BarsInvalid) -> ValidationFailed | UnsupportedMediaType:
    """Map the library's upload errors to problem+json errors (415 for the media type)."""
    if isinstance(exc, UploadRejected):
        if exc.kind == "media_type":
            return UnsupportedMediaType(str(exc))
        return ValidationFailed(str(exc), reason=exc.kind)
    report = exc.report
    return ValidationFailed(
        str(exc),
        errors=[_jsonable(p) for p in report.problems],
        counts=dict(report.counts),
        total=int(report.total),
    )


def _jsonable(problem: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in problem.items():
        if value is None or isinstance(value, str | int | float | bool):
            out[key] = value
        elif hasattr(value, "item"):  # numpy scalar
            out[key] = value.item()
        else:
            out[key] = str(value)
    return out


def load_upload(
    path: Path,
    *,
    filename: str | None,
    content_type: str | None,
    symbol: str | None,
    repairs: list[str],
    min_rows: int,
) -> LoadedBars:
    """Parse, repair (only as asked), validate. Raises 415/422 problems."""
    try:
        prepared = prepare_upload(
            path,
            filename=filename,
            content_type=content_type,
            symbol=symbol,
            repairs=repairs,
            min_rows=min_rows,
        )
    except (UploadRejected, BarsInvalid) as exc:
        raise upload_problem(exc) from exc
    meta = {"repairs": prepared.report.to_dict() if hasattr(prepared.report, "to_dict") else {}}
    return LoadedBars(prepared.frame, prepared.has_adjusted, meta)


def load_sample_bars(symbols: list[str]) -> LoadedBars:
    """Bundled samples; several symbols are aligned on the dates they all have."""
    frames = [load_sample(s) for s in symbols]
    if len(frames) == 1:
        return LoadedBars(frames[0], True)
    panel = Panel.from_bars(pd.concat(frames, ignore_index=True), symbols=sorted(symbols))
    aligned = panel.to_bars().reset_index(drop=True)
    return LoadedBars(
        aligned, True, {"alignment": {"kind": "common dates", "dropped": panel.dropped}}
    )


def load_synthetic(request: dict[str, Any]) -> LoadedBars:
    """Seeded generator output (same request → same bars)."""
    spec = synthetic_spec(request)
    frame = spec.generate()
    return LoadedBars(frame, False, {"generator": spec.model_dump(mode="json")})


def synthetic_spec(request: dict[str, Any]) -> SyntheticSpec:
    """The library spec for a synthetic request (raises 422 for bad generator parameters)."""
    fields = {k: v for k, v in request.items() if k not in {"source", "name"}}
    try:
        return SyntheticSpec.model_validate(fields)
    except ValueError as exc:
        raise ValidationFailed(f"invalid synthetic generator request: {exc}") from exc


def load_provider(request: dict[str, Any]) -> LoadedBars:
    """Bars from Yahoo Finance; a clear job error when the network is unavailable."""
    try:
        end = request.get("end") or datetime.now(UTC).date().isoformat()
        frame = fetch_yahoo(request["symbol"], request["start"], end, request.get("interval", "1d"))
    except ProviderError as exc:
        raise ValidationFailed(f"provider failed: {exc}", reason="provider") from exc
    has_adjusted = not frame["adj_close"].equals(frame["close"])
    return LoadedBars(frame, has_adjusted, {"provider": "yahoo"})


def finalize(loaded: LoadedBars, *, min_rows: int = 2, max_rows: int | None = None) -> LoadedBars:
    """Last line of defence for every source: the canonical invariants hold, and the dataset is
    at most ``max_rows`` rows (a 422 naming the limit).
    """
    if max_rows is not None and len(loaded.frame) > max_rows:
        raise ValidationFailed(
            f"the data has {len(loaded.frame)} rows; the limit is {max_rows} rows per dataset "
            "(TRADING_OPT_DATASET_MAX_ROWS)"
        )
    try:
        validate_bars(loaded.frame, min_rows=min_rows)
    except BarValidationError as exc:
        raise ValidationFailed(f"bars failed validation: {exc}", errors=exc.problems) from exc
    loaded.meta.update(
        {
            "price_for_returns": "adj_close" if loaded.has_adjusted else "close",
            "price_for_fills": (
                "adjusted open/close (open, close x adj_close/close: total-return accounting; "
                "raw open/close for a run or evaluation with env.adjust_prices=false)"
            ),
            "adjusted_prices": loaded.has_adjusted,
        }
    )
    if not loaded.has_adjusted:
        loaded.meta["adjustment_note"] = (
            "the source has no adjusted close; adj_close equals close, so returns ignore "
            "dividends and splits"
        )
    return loaded
