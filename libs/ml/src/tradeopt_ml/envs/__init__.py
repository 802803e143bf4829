"""Trading environments: the Gymnasium env, the batched SB3 vector env and their factories.

``gymnasium.make("tradeopt/Trading-v0", panel=..., features=..., config=...)`` works once this
package is imported.

The vector env and the factories need stable-baselines3 (the ``rl`` extra). They are imported on
first use, so the configuration and the single env (numpy + gymnasium only) stay importable in
images without torch — e.g. by the typed model lineage that every service reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.envs.core import TradingCore
from tradeopt_ml.envs.registration import ENV_ID, register
from tradeopt_ml.envs.trading import TradingEnv
from tradeopt_ml.lazy import lazy_attributes

if TYPE_CHECKING:
    from tradeopt_ml.envs.factory import make_env, make_vec_env
    from tradeopt_ml.envs.vec import BatchedTradingVecEnv

register()

_NEEDS_RL = {
    "BatchedTradingVecEnv": "tradeopt_ml.envs.vec",
    "make_env": "tradeopt_ml.envs.factory",
    "make_vec_env": "tradeopt_ml.envs.factory",
}


__getattr__, __dir__ = lazy_attributes(__name__, _NEEDS_RL)


__all__ = [
    "ENV_ID",
    "BatchedTradingVecEnv",
    "EnvConfig",
    "TradingCore",
    "TradingEnv",
    "make_env",
    "make_vec_env",
]
