"""tradeopt_ml: pure computation for tradeopt — market data, features, environments, agents,
evaluation. Takes arrays, DataFrames and paths; returns frozen dataclasses. No DB, HTTP, Celery
or object storage imports (torch/SB3/Optuna only through the optional ``rl`` extra).
"""

__version__ = "0.1.0"
