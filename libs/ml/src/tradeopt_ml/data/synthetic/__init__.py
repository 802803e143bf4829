"""Seeded synthetic market data: GBM, Markov regime switching and Merton jump diffusion.

Every generator returns a canonical bar frame (:mod:`tradeopt_ml.data.bars`: ``symbol,
timestamp, open, high, low, close, adj_close, volume``, UTC, float64, sorted by
``(symbol, timestamp)``) that passes :func:`~tradeopt_ml.data.bars.validate_bars`. The same
arguments and seed give the same frame bit for bit (``numpy.random.default_rng(seed)``, draws in
a fixed order); everything is vectorised over bars and symbols.

Model notes:

- ``mu`` and ``sigma`` are annualised; the bar length ``dt = 1 / bars_per_year`` follows the
  same rule as :meth:`tradeopt_ml.data.Panel.bars_per_year` (252 for daily bars), so metrics
  computed on a generated panel recover the parameters.
- Log returns are ``(mu - sigma^2 / 2) dt + sigma sqrt(dt) Z``; with ``correlation`` = rho, the
  ``Z`` of different symbols are equicorrelated (one common factor).
- Regime switching: one Markov chain (per-bar ``transition`` matrix) drives every symbol; each
  regime has its own drift and volatility. The first regime is drawn from ``initial`` (default:
  the stationary distribution).
- Jump diffusion (Merton 1976): Poisson jumps with ``intensity`` per year and lognormal sizes
  ``N(jump_mean, jump_std^2)`` in log space, drift compensated so that ``mu`` stays the expected
  simple return.
- OHLC from the close path: ``open = previous close * exp(gap noise)``; ``high``/``low`` extend
  ``max/min(open, close)`` by half-normal multiples of the bar volatility (so ``high >=
  max(open, close)``, ``0 < low <= min(open, close)``); volume is lognormal and grows with the
  size of the bar's move. ``adj_close`` equals ``close`` (no corporate actions).
"""

from tradeopt_ml.data.synthetic.common import (
    DEFAULT_REGIME_MU,
    DEFAULT_REGIME_SIGMA,
    DEFAULT_TRANSITION,
    FREQUENCIES,
    SyntheticKind,
)
from tradeopt_ml.data.synthetic.generators import (
    gbm,
    generate,
    jump_diffusion,
    jump_diffusion_with_jumps,
    regime_switching,
    regime_switching_with_path,
    stationary_distribution,
)
from tradeopt_ml.data.synthetic.spec import GbmParams, JumpParams, RegimeParams, SyntheticSpec

__all__ = [
    "DEFAULT_REGIME_MU",
    "DEFAULT_REGIME_SIGMA",
    "DEFAULT_TRANSITION",
    "FREQUENCIES",
    "GbmParams",
    "JumpParams",
    "RegimeParams",
    "SyntheticKind",
    "SyntheticSpec",
    "gbm",
    "generate",
    "jump_diffusion",
    "jump_diffusion_with_jumps",
    "regime_switching",
    "regime_switching_with_path",
    "stationary_distribution",
]
