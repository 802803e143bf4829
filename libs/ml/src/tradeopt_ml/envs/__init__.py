"""Trading environments: the Gymnasium env, the batched SB3 vector env and their factories.

``gymnasium.make("tradeopt/Trading-v0", panel=..., features=..., config=...)`` works once this
package is imported.
"""

from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.envs.core import TradingCore
from tradeopt_ml.envs.factory import make_env, make_vec_env
from tradeopt_ml.envs.registration import ENV_ID, register
from tradeopt_ml.envs.trading import TradingEnv
from tradeopt_ml.envs.vec import BatchedTradingVecEnv

register()

__all__ = [
    "ENV_ID",
    "BatchedTradingVecEnv",
    "EnvConfig",
    "TradingCore",
    "TradingEnv",
    "make_env",
    "make_vec_env",
]
