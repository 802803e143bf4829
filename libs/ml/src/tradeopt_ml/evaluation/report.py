"""Self-contained HTML tear sheet with hand-made inline SVG charts (no plotting dependency).

The page has no external reference (no script, stylesheet, font or image URL), so it can be
stored as one object (``evaluations/{id}/report.html``) and opened offline. Long series are
down-sampled to at most ``max_points`` points per chart (keeping each bucket's min and max so
drawdowns stay visible).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

from tradeopt_ml.evaluation.metrics import (
    drawdown_series,
    metrics_table,
    monthly_returns,
    rolling_sharpe,
)

_W, _H, _PAD = 860, 220, 44
_COLORS = ("#1f77b4", "#7f7f7f", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
_PERCENT_METRICS = {
    "total_return",
    "cagr",
    "volatility",
    "max_drawdown",
    "hit_rate",
    "exposure",
    "var_95",
    "cvar_95",
    "cost_drag",
    "cost_drag_annual",
    "trade_hit_rate",
    "alpha",
    "benchmark_total_return",
    "total_costs",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border:1px solid #e3e3e3}
th{background:#f6f6f6;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
svg{background:#fff;border:1px solid #eee}.legend span{margin-right:14px;font-size:13px}
"""


def _fmt(name: str, value: object) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:d}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "&ndash;"
        if name in _PERCENT_METRICS:
            return f"{value * 100:.2f}%"
        return f"{value:.3f}"
    return html.escape(str(value))


def _downsample(x: np.ndarray, ys: Sequence[np.ndarray], max_points: int) -> tuple:
    n = x.shape[0]
    if n <= max_points:
        return x, list(ys)
    step = math.ceil(n / (max_points // 2))
    keep: set[int] = {0, n - 1}
    for y in ys:
        finite = np.where(np.isfinite(y), y, 0.0)
        for start in range(0, n, step):  # one iteration per output bucket, not per bar
            seg = finite[start : start + step]
            keep.add(start + int(seg.argmin()))
            keep.add(start + int(seg.argmax()))
    idx = np.array(sorted(keep))
    return x[idx], [y[idx] for y in ys]


def _line_chart(
    x: np.ndarray,
    series: Sequence[tuple[str, np.ndarray]],
    *,
    title: str,
    y_format: str = "{:.2f}",
    fill: bool = False,
    step: bool = False,
    max_points: int = 1500,
) -> str:
    """An SVG line chart; ``x`` is numeric (e.g. epoch days)."""
    xs, ys = _downsample(
        np.asarray(x, dtype=np.float64), [np.asarray(s, float) for _, s in series], max_points
    )
    finite = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.empty(0)
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if fill:
        hi = max(hi, 0.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    x0, x1 = float(xs[0]), float(xs[-1]) if xs[-1] > xs[0] else float(xs[0]) + 1.0

    def px(v: np.ndarray) -> np.ndarray:
        return _PAD + (v - x0) / (x1 - x0) * (_W - 2 * _PAD)

    def py(v: np.ndarray) -> np.ndarray:
        return _H - _PAD + (v - lo) / (hi - lo) * -(_H - 2 * _PAD)

    parts = [
        f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{_PAD}" y="16" font-size="13" font-weight="600">{html.escape(title)}</text>',
    ]
    for frac in (0.0, 0.5, 1.0):
        v = lo + frac * (hi - lo)
        y = float(py(np.array(v)))
        parts.append(
            f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="2" y="{y + 4:.1f}" font-size="10">{html.escape(y_format.format(v))}</text>'
        )
    for i, ((name, _), y) in enumerate(zip(series, ys, strict=True)):
        ok = np.isfinite(y)
        if not ok.any():
            continue
        xx, yy = px(xs[ok]), py(y[ok])
        if step:
            xx = np.repeat(xx, 2)[1:]
            yy = np.repeat(yy, 2)[:-1]
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xx, yy, strict=True))
        color = _COLORS[i % len(_COLORS)]
        if fill:
            base = float(py(np.array(0.0)))
            pts = f"{xx[0]:.1f},{base:.1f} {pts} {xx[-1]:.1f},{base:.1f}"
            parts.append(f'<polygon points="{pts}" fill="{color}" fill-opacity="0.35"/>')
        else:
            parts.append(
                f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.3">'
                f"<title>{html.escape(name)}</title></polyline>"
            )
    parts.append("</svg>")
    legend = "".join(
        f'<span style="color:{_COLORS[i % len(_COLORS)]}">&#9632; {html.escape(n)}</span>'
        for i, (n, _) in enumerate(series)
    )
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def _heat_color(v: float, scale: float) -> str:
    if not math.isfinite(v):
        return "#f4f4f4"
    a = min(abs(v) / scale, 1.0) if scale > 0 else 0.0
    r, g, b = (214, 39, 40) if v < 0 else (44, 160, 44)
    mix = [round(255 + (c - 255) * a) for c in (r, g, b)]
    return "#{:02x}{:02x}{:02x}".format(*mix)


def _monthly_heatmap(equity: np.ndarray, timestamps: np.ndarray) -> str:
    m = monthly_returns(equity, timestamps)
    finite = np.abs(m.table[np.isfinite(m.table)])
    scale = float(np.quantile(finite, 0.95)) if finite.size else 0.0
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    head = "".join(f"<th>{mo}</th>" for mo in months)
    rows = []
    for y, row, total in zip(m.years, m.table, m.yearly, strict=True):
        cells = "".join(
            f'<td class="num" style="background:{_heat_color(v, scale)}">'
            f"{'' if not math.isfinite(v) else f'{v * 100:.1f}'}</td>"
            for v in row
        )
        rows.append(
            f'<tr><th>{int(y)}</th>{cells}<td class="num"><b>{total * 100:.1f}</b></td></tr>'
        )
    return (
        '<table class="monthly"><tr><th>year</th>'
        + head
        + "<th>year</th></tr>"
        + "".join(rows)
        + "</table><p>Monthly returns in percent.</p>"
    )


def _metrics_table_html(metrics: Mapping[str, Mapping[str, float | int | None]]) -> str:
    names, columns, cells = metrics_table(metrics)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><th>{html.escape(n)}</th>"
        + "".join(f'<td class="num">{_fmt(n, v)}</td>' for v in row)
        + "</tr>"
        for n, row in zip(names, cells, strict=True)
    )
    return f'<table class="metrics"><tr><th>metric</th>{head}</tr>{body}</table>'


def render_report(
    *,
    timestamps: np.ndarray,
    equity: np.ndarray,
    metrics: Mapping[str, Mapping[str, float | int | None]],
    benchmark_equity: np.ndarray | None = None,
    positions: np.ndarray | None = None,
    bars_per_year: float = 252.0,
    rolling_window: int | None = None,
    title: str = "Evaluation report",
    strategy_name: str = "strategy",
    benchmark_name: str = "buy_and_hold",
    notes: Sequence[str] = (),
    max_points: int = 1500,
) -> str:
    """Render the tear sheet as one HTML string.

    Sections (each an ``<h2>`` with an ``id``): ``metrics`` (side-by-side table of the
    ``metrics`` dicts, e.g. ``{"strategy": ..., "buy_and_hold": ...}``), ``equity`` (strategy vs
    benchmark, both rebased to 1), ``drawdown``, ``monthly`` (monthly returns heatmap),
    ``rolling-sharpe`` (window ``rolling_window`` bars, default ``bars_per_year // 2``) and
    ``positions`` (net position per bar, when ``positions`` is given). ``notes`` are shown
    under the title (e.g. fill timing and costs).
    """
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    eq = np.asarray(equity, dtype=np.float64)
    if ts.shape != eq.shape:
        raise ValueError("timestamps and equity must have the same length")
    x = ts.astype("datetime64[D]").astype(np.int64).astype(np.float64)
    start, end = str(ts[0].astype("datetime64[D]")), str(ts[-1].astype("datetime64[D]"))

    curves = [(strategy_name, eq / eq[0])]
    dds = [(strategy_name, drawdown_series(eq))]
    window = rolling_window or max(2, int(bars_per_year // 2))
    rolls = [(strategy_name, rolling_sharpe(eq, window, bars_per_year))]
    if benchmark_equity is not None:
        bench = np.asarray(benchmark_equity, dtype=np.float64)
        if bench.shape != eq.shape:
            raise ValueError("benchmark_equity must have the same length as equity")
        curves.append((benchmark_name, bench / bench[0]))
        dds.append((benchmark_name, drawdown_series(bench)))
        rolls.append((benchmark_name, rolling_sharpe(bench, window, bars_per_year)))

    sections = [
        ("metrics", "Metrics", _metrics_table_html(metrics)),
        (
            "equity",
            "Equity (rebased to 1)",
            _line_chart(x, curves, title="Equity", max_points=max_points),
        ),
        (
            "drawdown",
            "Drawdown",
            "".join(
                _line_chart(
                    x,
                    [d],
                    title=f"Drawdown: {d[0]}",
                    y_format="{:.0%}",
                    fill=True,
                    max_points=max_points,
                )
                for d in dds
            ),
        ),
        ("monthly", "Monthly returns", _monthly_heatmap(eq, ts)),
        (
            "rolling-sharpe",
            f"Rolling Sharpe ({window} bars, annualised)",
            _line_chart(x, rolls, title="Rolling Sharpe", max_points=max_points),
        ),
    ]
    if positions is not None:
        pos = np.asarray(positions, dtype=np.float64)
        net = pos.sum(axis=1) if pos.ndim == 2 else pos
        sections.append(
            (
                "positions",
                "Position over time",
                _line_chart(
                    x,
                    [("net position", net)],
                    title="Net position",
                    step=True,
                    max_points=max_points,
                ),
            )
        )
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    body = "".join(f'<h2 id="{sid}">{html.escape(t)}</h2>{content}' for sid, t, content in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{start} → {end}, {eq.shape[0]} bars</p>"
        f"<ul>{note_html}</ul>{body}</body></html>"
    )
