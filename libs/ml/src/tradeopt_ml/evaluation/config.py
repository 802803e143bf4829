"""The one evaluation env config builder (every backtest of an evaluation, validation during
training, cost-sensitivity re-runs and walk-forward folds use it).
"""

from __future__ import annotations

from tradeopt_ml.envs.config import EnvConfig


def evaluation_config(
    base: EnvConfig,
    *,
    cost_bps: float | None = None,
    slippage_bps: float | None = None,
    cost_multiplier: float = 1.0,
) -> EnvConfig:
    """The env config an evaluation runs with: the whole range from its first bar (no random
    start, no episode limit), trading costs optionally overridden and scaled.

    Args:
        base: the config the model was trained with (or the default for baselines).
        cost_bps: commission override in bps, else ``base.cost_bps``.
        slippage_bps: slippage override in bps, else ``base.slippage_bps``.
        cost_multiplier: scales commission and slippage (cost sensitivity; 0 = frictionless).

    Returns:
        A validated :class:`EnvConfig`.
    """
    if cost_multiplier < 0:
        raise ValueError(f"cost_multiplier must be >= 0, got {cost_multiplier}")
    cost = base.cost_bps if cost_bps is None else float(cost_bps)
    slippage = base.slippage_bps if slippage_bps is None else float(slippage_bps)
    return EnvConfig.model_validate(
        {
            **base.model_dump(),
            "random_start": False,
            "episode_length": None,
            "cost_bps": cost * cost_multiplier,
            "slippage_bps": slippage * cost_multiplier,
        }
    )
