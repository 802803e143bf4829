"""Verdicts that hold up: paired tests on the same bars with family-wise error control.

Every candidate is compared with every benchmark **on the same bars** (paired), not by checking
whether a benchmark's point Sharpe falls outside the candidate's own confidence interval.

* **Sharpe difference** — the studentized circular block bootstrap of Ledoit & Wolf (2008):
  the per-bar Sharpe ratios are smooth functions of the first two moments of the returns, the
  standard error of a difference comes from the delta method with a heteroskedasticity and
  autocorrelation consistent long-run covariance (``arch``'s quadratic-spectral kernel,
  Andrews' automatic bandwidth), and the null distribution of the studentized statistic comes
  from ``arch``'s :class:`~arch.bootstrap.CircularBlockBootstrap` (the same resampled dates for
  every series), studentized in each resample with the block-sum ("natural") variance
  estimator. The block length is chosen from the data with ``arch``'s
  :func:`~arch.bootstrap.optimal_block_length` (Politis & White 2004, Patton et al. 2009).
* **Mean-return difference** — the same bootstrap on the mean of the return differential.
* **Multiple testing** — the candidates compared with one benchmark form a family; the
  Romano & Wolf (2005, 2016) step-down max-|t| procedure on the joint bootstrap gives adjusted
  p-values that control the family-wise error rate. The verdict uses the adjusted p-value of the
  Sharpe difference: ``beats`` / ``worse`` when it is below ``level`` (by the sign of the
  difference), else ``not distinguishable``. Hansen's SPA test (``arch``'s
  :class:`~arch.bootstrap.SPA`) of "no candidate has a higher mean return than the benchmark" is
  reported per family next to it.
* **Seed robustness** — candidates that share a run spec and differ only by seed are one spec:
  the distribution of their Sharpe ratios (mean, dispersion, CI across seeds), and a verdict
  about the spec from the mean over seeds of the Sharpe difference, whose standard error adds
  the between-seed variance to the bootstrap one (the spec, not its luckiest seed).

Everything is deterministic given ``seed`` and vectorised over resamples (numpy, chunked).

References:
    Ledoit, O. & Wolf, M. (2008). Robust performance hypothesis testing with the Sharpe ratio.
    Journal of Empirical Finance 15(5).
    Romano, J. P. & Wolf, M. (2005). Stepwise multiple testing as formalized data snooping.
    Econometrica 73(4); (2016) Efficient computation of adjusted p-values for resampling-based
    stepdown multiple testing. Statistics & Probability Letters 113.
    Hansen, P. R. (2005). A test for superior predictive ability. JBES 23(4).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from arch.bootstrap import SPA, CircularBlockBootstrap, optimal_block_length
from arch.covariance.kernel import QuadraticSpectral

Verdict = Literal["beats", "worse", "not distinguishable"]

#: The name of the test behind every verdict (shown with it).
SHARPE_TEST = "Ledoit-Wolf studentized circular block bootstrap of the Sharpe difference"
#: How the p-values of a family are adjusted.
ADJUSTMENT = "Romano-Wolf step-down (max |t|), family = the candidates vs one benchmark"
_EPS = 1e-14
_CHUNK_ELEMENTS = 4_000_000
MIN_OBS = 20


@dataclass(frozen=True)
class ContrastTests:
    """Bootstrap tests of ``k`` linear contrasts of per-bar Sharpe ratios (and of mean returns).

    Arrays have one entry per contrast. Sharpe figures are per bar (multiply by
    ``sqrt(bars_per_year)`` to annualise); ``*_adjusted`` are Romano-Wolf step-down p-values
    over all the contrasts given together.
    """

    sharpe_difference: np.ndarray
    sharpe_se: np.ndarray
    sharpe_ci: np.ndarray
    sharpe_p: np.ndarray
    sharpe_p_adjusted: np.ndarray
    mean_difference: np.ndarray
    mean_se: np.ndarray
    mean_ci: np.ndarray
    mean_p: np.ndarray
    mean_p_adjusted: np.ndarray
    block_length: int
    n_resamples: int
    n_obs: int
    seed: int


def choose_block_length(series: np.ndarray, *, max_fraction: float = 0.2) -> int:
    """Block length from the data: the largest of ``arch``'s :func:`optimal_block_length`
    (circular bootstrap, Politis-White / Patton et al.) over the columns of ``series``,
    rounded up, between 1 and ``max_fraction`` of the sample.

    :func:`contrast_tests` passes the influence series of its contrasts (each contrast's
    delta-method linearisation ``g'(y_t - mean y)``), the series whose dependence the
    bootstrap must keep.
    """
    x = np.asarray(series, dtype=np.float64)
    x = x.reshape(x.shape[0], -1)
    keep = x.std(axis=0) > _EPS
    if not keep.any():
        return 1
    table = optimal_block_length(x[:, keep])
    length = math.ceil(float(np.nanmax(table["circular"].to_numpy())))
    return int(min(max(1, length), max(1, int(x.shape[0] * max_fraction))))


@functools.lru_cache(maxsize=2)
def _cached_indices(n_obs: int, block_length: int, n_resamples: int, seed: int) -> np.ndarray:
    out = bootstrap_indices(n_obs, block_length, n_resamples, seed)
    out.setflags(write=False)
    return out


def bootstrap_indices(n_obs: int, block_length: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n_obs)`` resampled bar indices from ``arch``'s
    :class:`~arch.bootstrap.CircularBlockBootstrap` seeded with ``seed`` (the indices its own
    ``bootstrap``/``apply`` draw with that seed, in the same order).
    """
    bs = CircularBlockBootstrap(block_length, np.empty(n_obs), seed=seed)
    out = np.empty((n_resamples, n_obs), dtype=np.int64)
    for i in range(n_resamples):
        out[i] = bs.update_indices()
    return out


def influence_block_length(moments: np.ndarray, gradients: np.ndarray) -> int:
    """:func:`choose_block_length` of the influence series ``psi_t = (y_t - mean y) @ g`` of
    the contrasts with moment-space gradients ``gradients`` (k x 2m) and of their squares: the
    blocks must keep the dependence of the statistic and of its variance (positions held for
    many bars make ``psi_t²`` persistent), or the studentized bootstrap over-rejects.
    """
    centred = moments - moments.mean(axis=0)
    psi = centred @ np.atleast_2d(gradients).T
    return choose_block_length(np.concatenate([psi, psi * psi], axis=1))


def _sharpe_and_gradient(mu: np.ndarray, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar Sharpe ``mu / sqrt(gamma - mu²)`` and its derivatives in ``(mu, gamma)`` (last
    axis: series). A series without variance has Sharpe 0 and no gradient.
    """
    var = gamma - mu * mu
    ok = var > _EPS * _EPS
    safe = np.where(ok, var, 1.0)
    sr = np.where(ok, mu / np.sqrt(safe), 0.0)
    d_mu = np.where(ok, gamma / safe**1.5, 0.0)
    d_gamma = np.where(ok, -mu / (2.0 * safe**1.5), 0.0)
    return sr, np.concatenate([d_mu, d_gamma], axis=-1)


def _stepdown(t_obs: np.ndarray, t_boot: np.ndarray) -> np.ndarray:
    """Romano-Wolf step-down adjusted p-values from observed ``|t|`` (k) and centred bootstrap
    ``|t*|`` (B x k): the hypothesis ranked ``s`` is compared with the maximum over it and
    every less significant one, and the p-values are made monotone.
    """
    k = t_obs.size
    order = np.argsort(-t_obs, kind="stable")
    # suffix maxima over the ordering: max over hypotheses ranked s..k
    ordered = t_boot[:, order]
    suffix_max = np.maximum.accumulate(ordered[:, ::-1], axis=1)[:, ::-1]
    n = t_boot.shape[0]
    raw = (1.0 + (suffix_max >= t_obs[order][None, :]).sum(axis=0)) / (n + 1.0)
    adjusted = np.maximum.accumulate(raw)
    out = np.empty(k)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def contrast_tests(
    returns: np.ndarray,
    weights: np.ndarray,
    *,
    seed_variance_groups: Sequence[Sequence[int]] | None = None,
    n_resamples: int = 2000,
    level: float = 0.05,
    block_length: int | None = None,
    seed: int = 0,
) -> ContrastTests:
    """Studentized block-bootstrap tests of ``weights @ SR`` (and ``weights @ mean``) = 0.

    Args:
        returns: ``(T, m)`` simple returns of ``m`` series on the same bars.
        weights: ``(k, m)`` contrasts, e.g. ``[+1 candidate, -1 benchmark]``.
        seed_variance_groups: per contrast, the series that are seeds of one spec (a spec's
            mean over seeds): their between-seed variance of the Sharpe ratio divided by their
            number is added to the squared standard error, and the bootstrap null distribution
            gets that spread as Student-t noise with ``N - 1`` degrees of freedom (two seeds
            say little about a spec); ``None`` or empty for plain paired contrasts.
        n_resamples: bootstrap resamples.
        level: ``1 - level`` is the confidence of the two-sided bootstrap-t intervals.
        block_length: circular block length; default :func:`choose_block_length`.
        seed: seed of the bootstrap (same inputs + seed → same result).

    Returns:
        Estimates, standard errors, CIs, raw and step-down adjusted two-sided p-values.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError("returns must be (T, m)")
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    t_obs_n, m = r.shape
    if w.shape[1] != m:
        raise ValueError("weights must have one column per series")
    if t_obs_n < MIN_OBS:
        raise ValueError(f"need at least {MIN_OBS} returns for a paired test")
    if not np.all(np.isfinite(r)):
        raise ValueError("returns contain NaN or inf")
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    groups = [list(g) for g in (seed_variance_groups or [[] for _ in range(w.shape[0])])]
    if len(groups) != w.shape[0]:
        raise ValueError("one seed-variance group per contrast")
    n = t_obs_n
    y = np.concatenate([r, r * r], axis=1)  # (T, 2m) moments
    mean_y = y.mean(axis=0)
    sr, grad = _sharpe_and_gradient(mean_y[:m], mean_y[m:])
    # contrast gradients in moment space: (k, 2m)
    g_sharpe = np.concatenate([w * grad[:m], w * grad[m:]], axis=1)
    length = block_length or influence_block_length(y, g_sharpe)
    g_mean = np.concatenate([w, np.zeros_like(w)], axis=1)
    # HAC long-run covariance of the moments (quadratic spectral kernel, automatic bandwidth)
    varying = y.std(axis=0) > _EPS
    omega = np.zeros((2 * m, 2 * m))
    if varying.any():
        sub = QuadraticSpectral(y[:, varying]).cov.long_run
        omega[np.ix_(varying, varying)] = sub

    def seed_var(values: np.ndarray) -> np.ndarray:
        """Between-seed variance / N of the Sharpe ratios per contrast (last axis: series)."""
        out = np.zeros((*values.shape[:-1], len(groups)))
        for c, g in enumerate(groups):
            if len(g) > 1:
                out[..., c] = values[..., g].var(axis=-1, ddof=1) / len(g)
        return out

    d_sharpe = w @ sr
    d_mean = w @ mean_y[:m]
    se_sharpe = np.sqrt(
        np.maximum(np.einsum("ki,ij,kj->k", g_sharpe, omega, g_sharpe) / n, 0.0) + seed_var(sr)
    )
    se_mean = np.sqrt(np.maximum(np.einsum("ki,ij,kj->k", g_mean, omega, g_mean) / n, 0.0))

    # Seeds are not resampled by the block bootstrap: a spec's null distribution adds the
    # between-seed spread as Student-t noise with N - 1 degrees of freedom (seeded).
    seed_se = np.sqrt(seed_var(sr))
    seed_noise = np.zeros((n_resamples, w.shape[0]))
    noise_rng = np.random.default_rng([seed, 1])
    for c, g in enumerate(groups):
        if len(g) > 1:
            seed_noise[:, c] = seed_se[c] * noise_rng.standard_t(len(g) - 1, size=n_resamples)
    n_blocks = n // length
    boot_sharpe = np.empty((n_resamples, w.shape[0]))
    boot_mean = np.empty((n_resamples, w.shape[0]))
    idx_all = _cached_indices(n, length, n_resamples, seed)
    per_chunk = max(1, _CHUNK_ELEMENTS // (n * 2 * m))
    for lo in range(0, n_resamples, per_chunk):
        idx = idx_all[lo : lo + per_chunk]
        ys = y[idx]  # (b, T, 2m)
        mean_s = ys.mean(axis=1)
        sr_s, grad_s = _sharpe_and_gradient(mean_s[:, :m], mean_s[:, m:])
        # block sums of the centred moments (complete blocks): the natural CBB variance
        blocks = ys[:, : n_blocks * length].reshape(ys.shape[0], n_blocks, length, 2 * m)
        zeta = (blocks - mean_s[:, None, None, :]).sum(axis=2) / math.sqrt(length)
        gs = np.concatenate(
            [w[None] * grad_s[:, None, :m], w[None] * grad_s[:, None, m:]], axis=2
        )  # (b, k, 2m)
        proj_s = np.einsum("blj,bkj->blk", zeta, gs)
        se_s = np.sqrt(np.mean(proj_s * proj_s, axis=1) / n + seed_var(sr_s))
        proj_m = np.einsum("blj,kj->blk", zeta, g_mean)
        se_m = np.sqrt(np.mean(proj_m * proj_m, axis=1) / n)
        noise = seed_noise[lo : lo + len(idx)]
        boot_sharpe[lo : lo + len(idx)] = _t(sr_s @ w.T - d_sharpe + noise, se_s)
        boot_mean[lo : lo + len(idx)] = _t(mean_s[:, :m] @ w.T - d_mean, se_m)

    def finish(
        est: np.ndarray, se: np.ndarray, t_boot: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t_obs = np.abs(_t(est, se))
        p = (1.0 + (t_boot >= t_obs[None, :]).sum(axis=0)) / (n_resamples + 1.0)
        q = np.quantile(t_boot, 1.0 - level, axis=0)
        ci = np.stack([est - q * se, est + q * se], axis=1)
        return np.minimum(p, 1.0), _stepdown(t_obs, t_boot), ci

    p_s, p_s_adj, ci_s = finish(d_sharpe, se_sharpe, np.abs(boot_sharpe))
    p_m, p_m_adj, ci_m = finish(d_mean, se_mean, np.abs(boot_mean))
    return ContrastTests(
        sharpe_difference=d_sharpe,
        sharpe_se=se_sharpe,
        sharpe_ci=ci_s,
        sharpe_p=p_s,
        sharpe_p_adjusted=p_s_adj,
        mean_difference=d_mean,
        mean_se=se_mean,
        mean_ci=ci_m,
        mean_p=p_m,
        mean_p_adjusted=p_m_adj,
        block_length=length,
        n_resamples=n_resamples,
        n_obs=n,
        seed=seed,
    )


def _t(diff: np.ndarray, se: np.ndarray) -> np.ndarray:
    """``diff / se`` with 0 where the difference vanishes (identical series: no evidence)."""
    ok = se > _EPS
    out = np.where(ok, diff / np.where(ok, se, 1.0), np.where(diff > 0, np.inf, -np.inf))
    return np.where(np.abs(diff) <= _EPS, 0.0, out)


def verdict_of(difference: float, p_adjusted: float, level: float) -> Verdict:
    """``beats``/``worse`` if the adjusted p-value is below ``level`` (by the sign), else not."""
    if p_adjusted < level and difference != 0:
        return "beats" if difference > 0 else "worse"
    return "not distinguishable"


@dataclass(frozen=True)
class PairVerdict:
    """One candidate vs one benchmark on the same bars (annualised Sharpe and mean return)."""

    subject: str
    benchmark: str
    verdict: Verdict
    level: float
    test: str
    sharpe_difference: float
    sharpe_difference_ci: tuple[float, float]
    p_value: float
    p_value_adjusted: float
    mean_return_difference: float
    mean_return_difference_ci: tuple[float, float]
    mean_p_value: float
    mean_p_value_adjusted: float
    family_size: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-safe)."""
        out = asdict(self)
        out["sharpe_difference_ci"] = list(self.sharpe_difference_ci)
        out["mean_return_difference_ci"] = list(self.mean_return_difference_ci)
        return out


@dataclass(frozen=True)
class FamilyTest:
    """Hansen's SPA test (``arch``) of a family: can any candidate beat the benchmark's mean
    return? ``p_value`` is the consistent p-value; ``superior`` the candidates the step-down
    (StepM) finds better at ``level``.
    """

    benchmark: str
    candidates: list[str]
    test: str
    p_value: float
    p_value_lower: float
    p_value_upper: float
    superior: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-safe)."""
        return asdict(self)


@dataclass(frozen=True)
class SpecRobustness:
    """A run spec over several seeds: the distribution across seeds and verdicts about the spec."""

    spec: str
    subjects: list[str]
    seeds: list[int]
    sharpe: dict[str, float]
    total_return: dict[str, float]
    verdicts: list[PairVerdict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-safe)."""
        out = asdict(self)
        out["verdicts"] = [v.to_dict() for v in self.verdicts]
        return out


def across_seeds(values: Sequence[float], level: float = 0.05) -> dict[str, float]:
    """Mean, sample standard deviation, min, max and the Student-t ``1 - level`` CI of the mean
    of one figure across seeds (the CI collapses to the value for one seed).
    """
    from scipy import stats

    arr = np.asarray(values, dtype=np.float64)
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    half = (
        float(stats.t.ppf(1 - level / 2, arr.size - 1)) * std / math.sqrt(arr.size)
        if arr.size > 1
        else 0.0
    )
    return {
        "mean": mean,
        "std": std,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "ci_low": mean - half,
        "ci_high": mean + half,
        "n": float(arr.size),
    }


def family_spa(
    candidates: np.ndarray,
    benchmark: np.ndarray,
    *,
    names: Sequence[str],
    benchmark_name: str,
    block_length: int,
    n_resamples: int,
    level: float,
    seed: int,
) -> FamilyTest:
    """``arch``'s SPA and StepM on losses ``-returns`` (stationary bootstrap, ``block_length``)."""
    from arch.bootstrap import StepM

    losses = -np.asarray(candidates, dtype=np.float64)
    bench = -np.asarray(benchmark, dtype=np.float64)
    spa = SPA(bench, losses, block_size=block_length, reps=n_resamples, seed=seed)
    spa.compute()
    stepm = StepM(bench, losses, size=level, block_size=block_length, reps=n_resamples, seed=seed)
    stepm.compute()
    p = spa.pvalues
    if not np.any(losses != bench[:, None]):
        # every candidate is the benchmark: arch's strict ">" would give p = 0; no evidence
        p = {"consistent": 1.0, "lower": 1.0, "upper": 1.0}
    return FamilyTest(
        benchmark=benchmark_name,
        candidates=list(names),
        test="Hansen SPA (arch), mean return, stationary bootstrap",
        p_value=float(p["consistent"]),
        p_value_lower=float(p["lower"]),
        p_value_upper=float(p["upper"]),
        superior=[names[int(str(i))] for i in stepm.superior_models],
    )


@dataclass(frozen=True)
class Verdicts:
    """Everything :func:`compare_with_benchmarks` found (``to_dict`` is what evaluations store)."""

    level: float
    test: str
    adjustment: str
    block_length: int
    n_resamples: int
    n_obs: int
    seed: int
    bars_per_year: float
    pairs: list[PairVerdict]
    families: list[FamilyTest]
    specs: list[SpecRobustness]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-safe)."""
        return {
            "level": self.level,
            "test": self.test,
            "adjustment": self.adjustment,
            "block_length": self.block_length,
            "n_resamples": self.n_resamples,
            "n_obs": self.n_obs,
            "seed": self.seed,
            "bars_per_year": self.bars_per_year,
            "pairs": [p.to_dict() for p in self.pairs],
            "families": [f.to_dict() for f in self.families],
            "specs": [s.to_dict() for s in self.specs],
        }


def compare_with_benchmarks(
    candidates: Mapping[str, np.ndarray],
    benchmarks: Mapping[str, np.ndarray],
    *,
    bars_per_year: float,
    specs: Mapping[str, Sequence[tuple[str, int]]] | None = None,
    level: float = 0.05,
    n_resamples: int = 2000,
    block_length: int | None = None,
    seed: int = 0,
    spa: bool = True,
) -> Verdicts:
    """Paired verdicts of every candidate vs every benchmark, adjusted per benchmark family.

    Args:
        candidates: name → simple returns (same bars for all).
        benchmarks: name → simple returns on the same bars.
        bars_per_year: annualisation of the reported Sharpe and mean-return differences.
        specs: spec name → ``[(candidate name, seed), ...]``: groups of candidates that differ
            only by seed; groups of two or more get a distribution and verdicts about the spec
            (one family per benchmark across the specs).
        level: test level (family-wise for the adjusted p-values).
        n_resamples: bootstrap resamples.
        block_length: circular block length; default chosen from the data.
        seed: bootstrap seed.
        spa: also run ``arch``'s SPA/StepM per benchmark on mean returns.

    Returns:
        The verdicts (pairs, SPA families, specs), all annualised.

    Raises:
        ValueError: no candidate or benchmark, series of different lengths, fewer than
            :data:`MIN_OBS` returns, or non-finite returns.
    """
    names = list(candidates)
    bench_names = list(benchmarks)
    if not names or not bench_names:
        raise ValueError("need at least one candidate and one benchmark")
    series = [np.asarray(candidates[n], dtype=np.float64) for n in names]
    series += [np.asarray(benchmarks[b], dtype=np.float64) for b in bench_names]
    lengths = {s.size for s in series}
    if len(lengths) != 1:
        raise ValueError("candidates and benchmarks must cover the same bars")
    r = np.stack(series, axis=1)
    k, m = len(names), r.shape[1]
    length = block_length or _pairs_block_length(r, k)
    ann = math.sqrt(bars_per_year)
    pairs: list[PairVerdict] = []
    families: list[FamilyTest] = []
    spec_groups = {s: list(g) for s, g in (specs or {}).items() if len(g) > 1}
    spec_rows: dict[str, list[PairVerdict]] = {s: [] for s in spec_groups}
    for b_i, bench in enumerate(bench_names):
        col = k + b_i
        members = [i for i, n in enumerate(names) if n != bench]
        if not members:
            continue
        w = np.zeros((len(members), m))
        for row, i in enumerate(members):
            w[row, i], w[row, col] = 1.0, -1.0
        tests = contrast_tests(
            r, w, n_resamples=n_resamples, level=level, block_length=length, seed=seed
        )
        for row, i in enumerate(members):
            pairs.append(
                _pair(names[i], bench, tests, row, level, len(members), ann, bars_per_year)
            )
        if spa:
            families.append(
                family_spa(
                    r[:, members],
                    r[:, col],
                    names=[names[i] for i in members],
                    benchmark_name=bench,
                    block_length=length,
                    n_resamples=n_resamples,
                    level=level,
                    seed=seed,
                )
            )
        if spec_groups:
            index = {n: i for i, n in enumerate(names)}
            ws, groups = [], []
            for members_of in spec_groups.values():
                cols = [index[n] for n, _ in members_of]
                row_w = np.zeros(m)
                row_w[cols] = 1.0 / len(cols)
                row_w[col] = -1.0
                ws.append(row_w)
                groups.append(cols)
            st = contrast_tests(
                r,
                np.array(ws),
                seed_variance_groups=groups,
                n_resamples=n_resamples,
                level=level,
                block_length=length,
                seed=seed,
            )
            for row, spec in enumerate(spec_groups):
                spec_rows[spec].append(
                    _pair(spec, bench, st, row, level, len(spec_groups), ann, bars_per_year)
                )
    spec_out = []
    for spec, members_of in spec_groups.items():
        cols = [names.index(n) for n, _ in members_of]
        sharpes = [_annual_sharpe(r[:, c], ann) for c in cols]
        totals = [float(np.prod(1.0 + r[:, c]) - 1.0) for c in cols]
        spec_out.append(
            SpecRobustness(
                spec=spec,
                subjects=[n for n, _ in members_of],
                seeds=[s for _, s in members_of],
                sharpe=across_seeds(sharpes, level),
                total_return=across_seeds(totals, level),
                verdicts=spec_rows[spec],
            )
        )
    return Verdicts(
        level=level,
        test=SHARPE_TEST,
        adjustment=ADJUSTMENT,
        block_length=length,
        n_resamples=n_resamples,
        n_obs=int(r.shape[0]),
        seed=seed,
        bars_per_year=bars_per_year,
        pairs=pairs,
        families=families,
        specs=spec_out,
    )


def _pairs_block_length(r: np.ndarray, k: int) -> int:
    """One block length for every family: the largest over the candidate-vs-benchmark Sharpe
    differences' influence series.
    """
    m = r.shape[1]
    y = np.concatenate([r, r * r], axis=1)
    mean_y = y.mean(axis=0)
    _, grad = _sharpe_and_gradient(mean_y[:m], mean_y[m:])
    w = np.zeros((k * (m - k), m))
    row = 0
    for i in range(k):
        for b in range(k, m):
            w[row, i], w[row, b] = 1.0, -1.0
            row += 1
    return influence_block_length(y, np.concatenate([w * grad[:m], w * grad[m:]], axis=1))


def _annual_sharpe(returns: np.ndarray, ann: float) -> float:
    std = float(returns.std(ddof=1))
    return float(returns.mean()) / std * ann if std > _EPS else 0.0


def _pair(
    subject: str,
    benchmark: str,
    tests: ContrastTests,
    row: int,
    level: float,
    family_size: int,
    ann: float,
    bars_per_year: float,
) -> PairVerdict:
    diff = float(tests.sharpe_difference[row])
    p_adj = float(tests.sharpe_p_adjusted[row])
    return PairVerdict(
        subject=subject,
        benchmark=benchmark,
        verdict=verdict_of(diff, p_adj, level),
        level=level,
        test=SHARPE_TEST,
        sharpe_difference=diff * ann,
        sharpe_difference_ci=(
            float(tests.sharpe_ci[row, 0]) * ann,
            float(tests.sharpe_ci[row, 1]) * ann,
        ),
        p_value=float(tests.sharpe_p[row]),
        p_value_adjusted=p_adj,
        mean_return_difference=float(tests.mean_difference[row]) * bars_per_year,
        mean_return_difference_ci=(
            float(tests.mean_ci[row, 0]) * bars_per_year,
            float(tests.mean_ci[row, 1]) * bars_per_year,
        ),
        mean_p_value=float(tests.mean_p[row]),
        mean_p_value_adjusted=float(tests.mean_p_adjusted[row]),
        family_size=family_size,
    )
