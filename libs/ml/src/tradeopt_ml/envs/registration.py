"""Gymnasium registration of ``tradeopt/Trading-v0`` (string entry point, no import cost)."""

from __future__ import annotations

import gymnasium

ENV_ID = "tradeopt/Trading-v0"


def register() -> None:
    """Register the env id once (idempotent)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="tradeopt_ml.envs.trading:TradingEnv")
