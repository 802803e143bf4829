"""Configuration of the trading environment (validated, immutable)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ActionMode = Literal["discrete", "continuous"]
FillMode = Literal["next_open", "close"]
RewardMode = Literal["log_return", "drawdown_penalty", "differential_sharpe"]


class EnvConfig(BaseModel):
    """Everything that shapes an episode of :class:`tradeopt_ml.envs.TradingEnv`.

    Timing (DESIGN §5): the agent observes the window ending at bar ``t``'s close and picks a
    target position. ``fill="next_open"`` fills it at bar ``t+1``'s open, ``fill="close"`` at
    bar ``t``'s close; both pay ``cost_bps`` + ``slippage_bps`` on traded notional. The reward
    of that step is ``log(V_{t+1} / V_t)`` with ``V`` marked at the closes, net of costs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(30, ge=1, le=1_000, description="Observation lookback in bars.")
    action_space: ActionMode = Field(
        "discrete",
        description="discrete: per asset {short, flat, long} ({flat, long} without shorts); "
        "continuous: target weight per asset in [-1, 1] ([0, 1] without shorts).",
    )
    allow_short: bool = Field(True, description="Allow negative positions.")
    max_leverage: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Gross leverage cap sum(|w|). Continuous weights are rescaled when above "
        "it; a discrete 'long'/'short' is +/- max_leverage / N of the portfolio per asset.",
    )
    fill: FillMode = Field("next_open", description="Fill at the next bar's open or this close.")
    cost_bps: float = Field(
        5.0, ge=0, le=1_000, description="Commission in bps of traded notional (<= 10%)."
    )
    slippage_bps: float = Field(
        2.0, ge=0, le=1_000, description="Slippage in bps (<= 10%); buys fill higher, sells lower."
    )
    reward: RewardMode = Field("log_return", description="Reward shape.")
    drawdown_penalty: float = Field(
        0.1,
        ge=0,
        le=1_000,
        description="drawdown_penalty: reward = log return - this * current drawdown.",
    )
    dsr_eta: float = Field(
        0.01, gt=0, lt=1, description="differential_sharpe: moving-average rate (Moody-Saffell)."
    )
    include_unrealised_pnl: bool = Field(
        False, description="Append per-asset unrealised PnL / portfolio value to the observation."
    )
    episode_length: int | None = Field(
        None, ge=1, description="Steps per episode; None runs to the end of the range."
    )
    random_start: bool = Field(
        False, description="Draw the first bar uniformly (seeded) instead of the earliest one."
    )
    initial_cash: float = Field(
        100_000.0, gt=0, le=1e12, description="Starting portfolio value (<= 1e12)."
    )
    bust_fraction: float = Field(
        0.5, ge=0, lt=1, description="Terminate when value <= this fraction of initial_cash."
    )
    adjust_prices: bool = Field(
        True,
        description="Scale open/close by adj_close/close so splits and dividends don't appear "
        "as price jumps (total-return accounting). False uses raw prices.",
    )
