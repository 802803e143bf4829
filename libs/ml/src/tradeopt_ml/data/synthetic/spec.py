"""``SyntheticSpec``: the validated request of ``POST /api/v1/datasets {"source": "synthetic"}``."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from tradeopt_ml.data.synthetic.common import (
    DEFAULT_REGIME_MU,
    DEFAULT_REGIME_SIGMA,
    DEFAULT_TRANSITION,
    FREQUENCIES,
    SyntheticKind,
)
from tradeopt_ml.data.synthetic.generators import _transition, generate
from tradeopt_ml.instants import EARLIEST, LATEST, as_utc

_SYMBOL_PATTERN = r"^[A-Za-z0-9.\-_^=]{1,32}$"
Symbol = Annotated[str, StringConstraints(pattern=_SYMBOL_PATTERN)]
_MAX_TIMESTAMP = pd.Timestamp("2262-04-10", tz="UTC")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    s0: float = Field(default=100.0, gt=0, le=1e9)
    correlation: float = Field(default=0.0, ge=-1, le=1)
    volume: float = Field(default=1e6, gt=0, le=1e15)


class GbmParams(_Params):
    """Parameters of ``kind="gbm"``."""

    mu: float = Field(default=0.07, ge=-5, le=5)
    sigma: float = Field(default=0.2, gt=0, le=5)


class JumpParams(GbmParams):
    """Parameters of ``kind="jump"``."""

    intensity: float = Field(default=5.0, ge=0, le=10_000)
    jump_mean: float = Field(default=-0.03, ge=-2, le=2)
    jump_std: float = Field(default=0.05, ge=0, le=2)


class RegimeParams(_Params):
    """Parameters of ``kind="regime"``."""

    regime_mu: list[Annotated[float, Field(ge=-5, le=5)]] = Field(
        default_factory=lambda: list(DEFAULT_REGIME_MU), min_length=2, max_length=8
    )
    regime_sigma: list[Annotated[float, Field(gt=0, le=5)]] = Field(
        default_factory=lambda: list(DEFAULT_REGIME_SIGMA), min_length=2, max_length=8
    )
    transition: list[list[float]] = Field(
        default_factory=lambda: [list(r) for r in DEFAULT_TRANSITION], min_length=2, max_length=8
    )
    initial: list[float] | None = None

    @model_validator(mode="after")
    def _shapes(self) -> RegimeParams:
        k = len(self.transition)
        _transition(self.transition)
        if len(self.regime_mu) != k or len(self.regime_sigma) != k:
            raise ValueError(f"regime_mu and regime_sigma need one value per regime ({k})")
        if self.initial is not None and (
            len(self.initial) != k
            or min(self.initial) < 0
            or not math.isclose(sum(self.initial), 1.0, abs_tol=1e-9)
        ):
            raise ValueError(f"initial must be a probability vector of length {k}")
        return self


_PARAM_MODELS: dict[str, type[_Params]] = {
    "gbm": GbmParams,
    "regime": RegimeParams,
    "jump": JumpParams,
}


class SyntheticSpec(BaseModel):
    """A synthetic dataset request (``POST /api/v1/datasets {"source": "synthetic", ...}``).

    Attributes:
        source: Always ``"synthetic"`` (accepted so the request body validates as is).
        kind: Generator: ``gbm``, ``regime`` or ``jump``.
        symbols: 1 to 50 distinct symbols.
        bars: Bars per symbol (30 to 1,000,000).
        seed: Seed (0 to 2**32 - 1).
        start: First timestamp (UTC).
        frequency: ``1d`` (business days), ``1h`` or ``1min``.
        params: Model parameters of the chosen kind; unknown names are rejected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["synthetic"] = "synthetic"
    kind: SyntheticKind = "gbm"
    symbols: list[Symbol] = Field(default_factory=lambda: ["SYN"], min_length=1, max_length=50)
    bars: int = Field(default=2000, ge=30, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    start: datetime = Field(default=datetime(2000, 1, 3, tzinfo=UTC))
    frequency: Literal["1d", "1h", "1min"] = "1d"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("symbols")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        dupes = sorted({s for s in value if value.count(s) > 1})
        if dupes:
            raise ValueError(f"duplicate symbols: {', '.join(dupes)}")
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _parse_start(cls, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                pass
            else:  # a well-formed instant: only its range can be wrong (named in the error)
                return as_utc(parsed)
        try:
            ts = pd.Timestamp(value)
        except pd.errors.OutOfBoundsDatetime as exc:
            raise ValueError(
                f"start {value!r} is outside the supported range "
                f"{EARLIEST.date().isoformat()} .. {LATEST.date().isoformat()}"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise ValueError(f"start is not an ISO 8601 date or date-time: {value!r}") from exc
        if ts is pd.NaT:
            raise ValueError("start must be a date")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.to_pydatetime()

    @model_validator(mode="after")
    def _check(self) -> SyntheticSpec:
        model = _PARAM_MODELS[self.kind]
        try:
            parsed = model.model_validate(self.params)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"invalid params for kind {self.kind!r}: {details}") from None
        object.__setattr__(self, "params", parsed.model_dump())
        n = len(self.symbols)
        correlation = self.params["correlation"]
        if n > 1 and not -1.0 / (n - 1) < correlation <= 1.0:
            raise ValueError(f"correlation must be in ({-1.0 / (n - 1):.4g}, 1] for {n} symbols")
        offset = pd.tseries.frequencies.to_offset(FREQUENCIES[self.frequency])
        try:
            last = pd.Timestamp(self.start) + (self.bars - 1) * offset
        except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
            last = None
        if last is None or last >= _MAX_TIMESTAMP:
            raise ValueError(
                f"{self.bars} bars of {self.frequency} from {self.start.date()} run past "
                "2262-04-10, the last representable timestamp; use fewer bars or another frequency"
            )
        return self

    def generate(self) -> pd.DataFrame:
        """Build the canonical bar frame this spec describes."""
        return generate(
            self.kind,
            self.symbols,
            self.bars,
            self.seed,
            start=self.start,
            freq=FREQUENCIES[self.frequency],
            **self.params,
        )
