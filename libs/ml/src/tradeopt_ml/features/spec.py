"""``FeatureSpec``: which indicators to compute, validated against the catalog."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tradeopt_ml.features.catalog import REGISTRY, get_indicator
from tradeopt_ml.features.params import ParamValue

#: Bumped when a kernel's definition changes, so cached feature files of old specs miss.
FEATURES_VERSION = 1


class FeatureItem(BaseModel):
    """One indicator with its parameters. Parameters are validated and defaults filled in.

    Accepts a bare name as shorthand: ``"rsi"`` is ``{"name": "rsi", "params": {}}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="catalog name, see GET /api/v1/features")
    params: dict[str, ParamValue] = Field(default_factory=dict, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        get_indicator(value)
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _resolve_params(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.data.get("name")
        if name is None:  # the name already failed; report only that
            return value
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ValueError("params must be an object")
        return REGISTRY[name].resolve(value)

    def columns(self) -> list[str]:
        """Output column names."""
        return REGISTRY[self.name].columns(self.params)

    def warmups(self) -> list[int]:
        """Warm-up bars per output column."""
        return REGISTRY[self.name].warmups(self.params)


class FeatureSpec(BaseModel):
    """An ordered list of indicators; the column order of the computed features follows it.

    A bare list is accepted as shorthand for ``{"features": [...]}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[FeatureItem] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"features": data} if isinstance(data, list | tuple) else data

    @model_validator(mode="after")
    def _unique_columns(self) -> FeatureSpec:
        seen: set[str] = set()
        duplicated: list[str] = []
        for item in self.features:
            for col in item.columns():
                if col in seen:
                    duplicated.append(col)
                seen.add(col)
        if duplicated:
            raise ValueError(f"duplicate feature column(s): {', '.join(duplicated)}")
        return self

    @classmethod
    def default(cls) -> FeatureSpec:
        """The default set (19 columns): log returns 1/5/20, SMA ratio 10/50, EMA ratio 20,
        RSI 14, MACD 12/26/9, %B 20, ATR 14, volatility 20, volume z-score 20, drawdown 60,
        calendar.
        """
        return cls(
            features=[
                FeatureItem(name="log_return", params={"horizon": 1}),
                FeatureItem(name="log_return", params={"horizon": 5}),
                FeatureItem(name="log_return", params={"horizon": 20}),
                FeatureItem(name="sma_ratio", params={"window": 10}),
                FeatureItem(name="sma_ratio", params={"window": 50}),
                FeatureItem(name="ema_ratio", params={"span": 20}),
                FeatureItem(name="rsi", params={"window": 14}),
                FeatureItem(name="macd", params={"fast": 12, "slow": 26, "signal": 9}),
                FeatureItem(name="bollinger_pctb", params={"window": 20, "k": 2.0}),
                FeatureItem(name="atr", params={"window": 14}),
                FeatureItem(name="volatility", params={"window": 20}),
                FeatureItem(name="volume_zscore", params={"window": 20}),
                FeatureItem(name="drawdown", params={"window": 60}),
                FeatureItem(name="calendar"),
            ]
        )

    def canonical(self) -> dict[str, Any]:
        """The normalised form that is hashed: defaults filled, typed values, sorted keys."""
        return {
            "version": FEATURES_VERSION,
            "features": [
                {"name": item.name, "params": dict(sorted(item.params.items()))}
                for item in self.features
            ],
        }

    def hash(self) -> str:
        """Stable identity: the first 16 hex digits of SHA-256 over :meth:`canonical` as JSON.

        Equal specs (after defaults are filled and ``2`` vs ``2.0`` is typed) hash equal; the
        item order is part of the identity because it fixes the column order.
        """
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def columns(self) -> list[str]:
        """Output column names, in order."""
        return [col for item in self.features for col in item.columns()]

    def column_warmups(self) -> dict[str, int]:
        """Warm-up bars per output column."""
        return {
            col: w
            for item in self.features
            for col, w in zip(item.columns(), item.warmups(), strict=True)
        }

    def warmup(self) -> int:
        """The largest warm-up: bars before every column has a value."""
        return max(self.column_warmups().values())
