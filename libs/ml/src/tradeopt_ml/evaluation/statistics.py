"""Statistical inference on the Sharpe ratio: bootstrap CI, PSR, DSR, minimum track record.

Conventions
-----------
* Inputs are **simple bar returns** (see :mod:`tradeopt_ml.evaluation.metrics`). The Sharpe
  ratio is ``mean / std(ddof=1)`` with a risk-free rate of 0.
* The moment-based formulas (Bailey & López de Prado) work with the **per-bar (non-annualised)**
  Sharpe ratio, the sample **skewness** ``skew`` and the **raw kurtosis** ``kurt`` (3 for a normal
  distribution, *not* excess kurtosis), both the plain (biased) moment estimators used in the
  papers. Functions that accept ``bars_per_year`` convert annualised inputs with
  ``SR_bar = SR_annual / sqrt(bars_per_year)`` and variances with ``/ bars_per_year``.

References:
    Bailey, D. H. & López de Prado, M. (2012). The Sharpe Ratio Efficient Frontier.
    Journal of Risk 15(2). (PSR, minimum track record length.)
    Bailey, D. H. & López de Prado, M. (2014). The Deflated Sharpe Ratio: Correcting for
    Selection Bias, Backtest Overfitting and Non-Normality. Journal of Portfolio Management
    40(5). (Expected maximum Sharpe of N trials, DSR.)
    Politis, D. N. & Romano, J. P. (1994). The Stationary Bootstrap. JASA 89(428).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

EULER_MASCHERONI = 0.5772156649015329
_NORMAL = NormalDist()
_EPS = 1e-12
_CHUNK_ELEMENTS = 2_000_000


def _returns(returns: np.ndarray) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64).ravel()
    if r.size < 3:
        raise ValueError("need at least 3 returns")
    if not np.all(np.isfinite(r)):
        raise ValueError("returns contain NaN or inf")
    return r


def sharpe_moments(returns: np.ndarray) -> tuple[float, float, float, int]:
    """Per-bar Sharpe, skewness, raw kurtosis (normal = 3) and the number of returns.

    Skewness and kurtosis are the plain moment ratios ``m3 / m2^1.5`` and ``m4 / m2^2`` used by
    Bailey & López de Prado; a constant series gives ``(0, 0, 3, n)``.
    """
    r = _returns(returns)
    std = float(r.std(ddof=1))
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    if m2 <= _EPS * _EPS:
        return 0.0, 0.0, 3.0, int(r.size)
    sr = float(r.mean()) / std
    skew = float(np.mean(d**3)) / m2**1.5
    kurt = float(np.mean(d**4)) / m2**2
    return sr, skew, kurt, int(r.size)


def _sr_std_factor(sr: float, skew: float, kurtosis: float) -> float:
    """``sqrt(1 - skew·SR + (kurt - 1)/4·SR²)``, the non-normality correction of the SR's std."""
    value = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if value <= 0:
        raise ValueError("moments give a non-positive Sharpe variance (check kurtosis is raw)")
    return math.sqrt(value)


def psr_from_moments(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, benchmark_sharpe: float = 0.0
) -> float:
    """Probabilistic Sharpe ratio ``P[SR_true > SR*]`` (Bailey & López de Prado 2012, eq. 11).

    ``PSR = Φ((SR - SR*) · sqrt(n - 1) / sqrt(1 - skew·SR + (kurt - 1)/4·SR²))`` with per-bar
    Sharpe ratios, ``n_obs`` returns, skewness ``skew`` and raw kurtosis ``kurt``.
    """
    if n_obs < 2:
        raise ValueError("n_obs must be >= 2")
    z = (sharpe - benchmark_sharpe) * math.sqrt(n_obs - 1) / _sr_std_factor(sharpe, skew, kurtosis)
    return _NORMAL.cdf(z)


def probabilistic_sharpe_ratio(
    returns: np.ndarray, *, benchmark_sharpe: float = 0.0, bars_per_year: float | None = None
) -> float:
    """PSR of a return series against ``benchmark_sharpe``.

    ``benchmark_sharpe`` is per bar, or annualised when ``bars_per_year`` is given.
    """
    sr, skew, kurt, n = sharpe_moments(returns)
    bench = benchmark_sharpe / math.sqrt(bars_per_year) if bars_per_year else benchmark_sharpe
    return psr_from_moments(sr, n, skew, kurt, bench)


def expected_max_sharpe(n_trials: int, trials_sharpe_variance: float) -> float:
    """Expected maximum Sharpe of ``n_trials`` unskilled trials (Bailey & López de Prado 2014).

    ``E[max SR] ≈ sqrt(V) · ((1 - gamma) Φ⁻¹(1 - 1/N) + gamma Φ⁻¹(1 - 1/(N e)))`` with
    ``gamma`` the Euler-Mascheroni constant and ``V`` the variance of the trials' Sharpe
    ratios (same units as the result). One trial gives 0 (no selection bias).
    """
    if n_trials < 1:
        raise ValueError("n_trials must be >= 1")
    if trials_sharpe_variance < 0:
        raise ValueError("trials_sharpe_variance must be >= 0")
    if n_trials == 1:
        return 0.0
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(trials_sharpe_variance) * (
        (1.0 - EULER_MASCHERONI) * z1 + EULER_MASCHERONI * z2
    )


def dsr_from_moments(
    sharpe: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
    *,
    n_trials: int,
    trials_sharpe_variance: float,
) -> float:
    """Deflated Sharpe ratio: the PSR against the expected maximum Sharpe of ``n_trials``.

    All Sharpe quantities per bar (variance of per-bar Sharpe ratios across the trials).
    """
    sr0 = expected_max_sharpe(n_trials, trials_sharpe_variance)
    return psr_from_moments(sharpe, n_obs, skew, kurtosis, sr0)


def deflated_sharpe_ratio(
    returns: np.ndarray,
    *,
    n_trials: int,
    trials_sharpe_variance: float,
    bars_per_year: float | None = None,
) -> float:
    """DSR of the selected strategy's returns after ``n_trials`` tried configurations.

    ``trials_sharpe_variance`` is the variance of the trials' Sharpe ratios: per bar, or of
    annualised Sharpe ratios when ``bars_per_year`` is given (divided by ``bars_per_year``).
    """
    sr, skew, kurt, n = sharpe_moments(returns)
    variance = trials_sharpe_variance / bars_per_year if bars_per_year else trials_sharpe_variance
    return dsr_from_moments(sr, n, skew, kurt, n_trials=n_trials, trials_sharpe_variance=variance)


def min_track_record_length(
    sharpe: float,
    skew: float,
    kurtosis: float,
    *,
    benchmark_sharpe: float = 0.0,
    confidence: float = 0.95,
) -> float:
    """Minimum number of returns for ``PSR(SR*) >= confidence`` (Bailey & López de Prado 2012).

    ``MinTRL = 1 + (1 - skew·SR + (kurt - 1)/4·SR²) · (Φ⁻¹(confidence) / (SR - SR*))²`` with
    per-bar Sharpe ratios; ``inf`` when ``SR <= SR*``.
    """
    if sharpe <= benchmark_sharpe:
        return math.inf
    z = _NORMAL.inv_cdf(confidence)
    factor = _sr_std_factor(sharpe, skew, kurtosis) ** 2
    return 1.0 + factor * (z / (sharpe - benchmark_sharpe)) ** 2


# --------------------------------------------------------------------------------------------
# block bootstrap
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SharpeCI:
    """Bootstrap confidence interval of the annualised Sharpe ratio (percentile method)."""

    sharpe: float
    low: float
    high: float
    level: float
    n_resamples: int
    block_length: int
    method: str
    seed: int

    def to_dict(self) -> dict[str, float | int | str]:
        """Plain dict (JSON-safe)."""
        return asdict(self)


def default_block_length(n_obs: int) -> int:
    """``round(n^(1/3))``, at least 1: the usual rate for block bootstraps of a mean-like stat."""
    return max(1, round(n_obs ** (1.0 / 3.0)))


def bootstrap_indices(
    n_obs: int,
    n_resamples: int,
    block_length: int,
    rng: np.random.Generator,
    method: Literal["stationary", "circular"] = "stationary",
) -> np.ndarray:
    """``(n_resamples, n_obs)`` resampling indices, built without Python loops over time.

    ``circular``: blocks of exactly ``block_length`` bars starting at uniform positions, wrapping
    around the end. ``stationary`` (Politis & Romano): each bar starts a new block with
    probability ``1 / block_length`` (geometric block lengths with that mean), else continues
    the previous block (wrapping around).
    """
    if block_length < 1:
        raise ValueError("block_length must be >= 1")
    if method == "circular":
        n_blocks = -(-n_obs // block_length)
        starts = rng.integers(0, n_obs, size=(n_resamples, n_blocks))
        idx = starts[:, :, None] + np.arange(block_length)
        return (idx.reshape(n_resamples, -1)[:, :n_obs]) % n_obs
    if method != "stationary":
        raise ValueError(f"unknown bootstrap method {method!r}")
    new_block = rng.random((n_resamples, n_obs)) < 1.0 / block_length
    new_block[:, 0] = True
    starts = rng.integers(0, n_obs, size=(n_resamples, n_obs))
    pos = np.arange(n_obs)
    last_start = np.maximum.accumulate(np.where(new_block, pos, 0), axis=1)
    start_value = np.take_along_axis(starts, last_start, axis=1)
    return (start_value + (pos - last_start)) % n_obs


def bootstrap_sharpe_ci(
    returns: np.ndarray,
    *,
    bars_per_year: float,
    n_resamples: int = 2000,
    level: float = 0.95,
    block_length: int | None = None,
    method: Literal["stationary", "circular"] = "stationary",
    seed: int = 0,
) -> SharpeCI:
    """Block-bootstrap percentile confidence interval for the annualised Sharpe ratio.

    Blocks keep the serial dependence (volatility clustering) that an i.i.d. bootstrap would
    destroy. Resamples are drawn in chunks of about ``2e6`` indices to bound memory (the chunk
    size depends only on the series length, so the result depends only on the arguments).
    Block length defaults to :func:`default_block_length`.
    """
    r = _returns(returns)
    n = r.size
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    length = block_length or default_block_length(n)
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_ELEMENTS // n)
    stats = np.empty(n_resamples)
    done = 0
    while done < n_resamples:
        k = min(per_chunk, n_resamples - done)
        sample = r[bootstrap_indices(n, k, length, rng, method)]
        mean = sample.mean(axis=1)
        std = sample.std(axis=1, ddof=1)
        safe = std > _EPS
        stats[done : done + k] = np.where(safe, mean / np.where(safe, std, 1.0), 0.0)
        done += k
    stats *= math.sqrt(bars_per_year)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    std_full = float(r.std(ddof=1))
    point = float(r.mean()) / std_full * math.sqrt(bars_per_year) if std_full > _EPS else 0.0
    return SharpeCI(
        sharpe=point,
        low=float(low),
        high=float(high),
        level=level,
        n_resamples=n_resamples,
        block_length=length,
        method=method,
        seed=seed,
    )
