"""Degenerate-policy diagnostics: did the agent learn anything beyond a trivial rule?

A bar is **long** when the net position (sum of signed weights across assets) is above
``flat_tolerance``, **short** when below ``-flat_tolerance``, and **flat** when every asset's
``|weight| <= flat_tolerance``. An **order** is a (bar, asset) whose held units change (the book
starts flat, so entering at bar 0 counts) — the metrics' ``n_orders``, one meaning everywhere;
weights alone also drift with prices between orders, so they are only the fallback when no units
are given. (``n_trades`` in the metrics counts closed round trips, as the trade list does.)

Flags and their default thresholds (:class:`DiagnosticThresholds`):

* ``never_trades`` — no order at all.
* ``always_flat`` — flat on >= 95 % of bars.
* ``always_short`` — short on >= 95 % of bars.
* ``collapsed_to_buy_and_hold`` — long on >= 95 % of bars **and** the correlation of the
  strategy's bar returns with equal-weight buy-and-hold returns is >= 0.99. Needs
  ``asset_returns``; without them only the long-fraction condition can be checked, the
  correlation is ``None`` and the flag uses the long fraction alone.
* ``overtrades`` — orders on more than 50 % of bars.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from tradeopt_ml.evaluation.metrics import order_mask, position_changes


@dataclass(frozen=True)
class DiagnosticThresholds:
    """Thresholds of the degenerate-policy flags (fractions of bars / correlation)."""

    long_fraction: float = 0.95
    bh_correlation: float = 0.99
    short_fraction: float = 0.95
    flat_fraction: float = 0.95
    order_fraction: float = 0.50
    flat_tolerance: float = 1e-9


@dataclass(frozen=True)
class PolicyDiagnostics:
    """Behaviour summary and flags of a policy over an evaluation period."""

    n_bars: int
    frac_long: float
    frac_short: float
    frac_flat: float
    n_orders: int
    order_fraction: float
    turnover_per_bar: float
    bh_correlation: float | None
    action_distribution: dict[str, float]
    never_trades: bool
    always_flat: bool
    always_short: bool
    collapsed_to_buy_and_hold: bool
    overtrades: bool
    thresholds: DiagnosticThresholds = field(default_factory=DiagnosticThresholds)

    @property
    def flags(self) -> list[str]:
        """Names of the raised flags."""
        names = (
            "never_trades",
            "always_flat",
            "always_short",
            "collapsed_to_buy_and_hold",
            "overtrades",
        )
        return [n for n in names if getattr(self, n)]

    @property
    def degenerate(self) -> bool:
        """True when any flag is raised."""
        return bool(self.flags)

    def to_dict(self) -> dict:
        """JSON-safe dict (includes ``flags``)."""
        out = asdict(self)
        out["flags"] = self.flags
        return out


def action_distribution(actions: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Fraction of each action value (integer-valued actions) or a histogram on [-1, 1].

    Discrete actions give ``{"0": 0.2, "1": 0.5, ...}``; continuous ones give ``bins`` equal
    bins labelled ``"[lo,hi)"`` (values outside [-1, 1] are clipped into the end bins).
    """
    a = np.asarray(actions, dtype=np.float64).ravel()
    if a.size == 0:
        return {}
    if np.all(a == np.round(a)):
        values, counts = np.unique(a.astype(np.int64), return_counts=True)
        return {str(int(v)): float(c) / a.size for v, c in zip(values, counts, strict=True)}
    edges = np.linspace(-1.0, 1.0, bins + 1)
    counts, _ = np.histogram(np.clip(a, -1.0, 1.0), bins=edges)
    return {f"[{edges[i]:.2f},{edges[i + 1]:.2f})": float(counts[i]) / a.size for i in range(bins)}


def diagnose_policy(
    positions: np.ndarray,
    *,
    actions: np.ndarray | None = None,
    asset_returns: np.ndarray | None = None,
    units: np.ndarray | None = None,
    thresholds: DiagnosticThresholds | None = None,
) -> PolicyDiagnostics:
    """Summarise a policy's positions and flag degenerate behaviour.

    Args:
        positions: ``(T,)`` or ``(T, N)`` signed weights held at the end of each bar.
        actions: optional raw actions (discrete ids or continuous values) for the distribution.
        asset_returns: optional ``(T,)``/``(T, N)`` simple returns of the assets, where row
            ``t`` is the return from bar ``t-1`` to ``t`` (row 0 is ignored). The strategy's
            return at ``t`` is ``sum(w_{t-1} * r_t)``; buy-and-hold is the equal-weight mean.
        units: optional ``(T,)``/``(T, N)`` units held at the end of each bar; orders are counted
            on them (as the metrics' ``n_orders``), else on ``positions``.
        thresholds: flag thresholds (defaults documented in the module docstring).
    """
    th = thresholds or DiagnosticThresholds()
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 1:
        pos = pos[:, None]
    if pos.ndim != 2 or pos.shape[0] < 2:
        raise ValueError("positions must be (T,) or (T, N) with T >= 2")
    t_bars = pos.shape[0]
    tol = th.flat_tolerance
    net = pos.sum(axis=1)
    flat = (np.abs(pos) <= tol).all(axis=1)
    long_ = (net > tol) & ~flat
    short = (net < -tol) & ~flat
    changes = position_changes(pos)
    ordered = order_mask(units) if units is not None else changes > tol
    n_orders = int(ordered.sum())
    order_bars = int(ordered.any(axis=1).sum())

    corr: float | None = None
    if asset_returns is not None:
        ar = np.asarray(asset_returns, dtype=np.float64)
        if ar.ndim == 1:
            ar = ar[:, None]
        if ar.shape != pos.shape:
            raise ValueError("asset_returns must have the same shape as positions")
        strat = (pos[:-1] * ar[1:]).sum(axis=1)
        bh = ar[1:].mean(axis=1)
        varies = strat.std() > 0 and bh.std() > 0
        corr = float(np.corrcoef(strat, bh)[0, 1]) if varies else 0.0

    frac_long = float(long_.mean())
    order_fraction = order_bars / t_bars
    collapsed = frac_long >= th.long_fraction and (corr is None or corr >= th.bh_correlation)
    return PolicyDiagnostics(
        n_bars=t_bars,
        frac_long=frac_long,
        frac_short=float(short.mean()),
        frac_flat=float(flat.mean()),
        n_orders=n_orders,
        order_fraction=order_fraction,
        turnover_per_bar=float(changes.sum()) / t_bars,
        bh_correlation=corr,
        action_distribution=action_distribution(actions) if actions is not None else {},
        never_trades=n_orders == 0,
        always_flat=float(flat.mean()) >= th.flat_fraction,
        always_short=float(short.mean()) >= th.short_fraction,
        collapsed_to_buy_and_hold=bool(collapsed),
        overtrades=order_fraction > th.order_fraction,
        thresholds=th,
    )
