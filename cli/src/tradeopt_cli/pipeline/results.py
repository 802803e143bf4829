"""What a pipeline produced, and the terminal rendering of it (results table, verdicts)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

#: Metric columns of the results table, in order (DESIGN §3.1 names).
TABLE_METRICS = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "max_drawdown",
    "calmar",
    "turnover",
    "exposure",
    "n_trades",
)
PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "exposure"}


@dataclass
class SubjectResult:
    """One row of the comparison: a trained model or a baseline, out of sample."""

    label: str
    kind: str  # "model" | "baseline"
    metrics: dict[str, Any]
    model_id: str | None = None
    sharpe_ci: tuple[float | None, float | None] | None = None
    deflated_sharpe: float | None = None
    verdict: str | None = None


@dataclass
class RunSummary:
    """A finished training run."""

    label: str
    algorithm: str
    seed: int
    run_id: str
    model_id: str | None
    status: str
    validation_sharpe: float | None
    steps_per_s: float | None
    seconds: float


@dataclass
class StudySummary:
    """The pipeline's study of the tuning service (which records its outcome on every trial's
    model, so the evaluation service reports the tuned model's deflated Sharpe ratio).
    """

    study_id: str
    n_trials: int
    trials: list[dict[str, Any]]
    best_trial: int
    best_params: dict[str, Any]
    best_value: float
    best_model_id: str | None
    trials_sharpe_variance: float

    @classmethod
    def from_trials(cls, study_id: str, trials: list[dict[str, Any]]) -> StudySummary:
        """Summarise finished trials (``number``, ``params``, ``value``, ``model_id``): the best
        one (ties go to the earlier trial) and the variance (ddof=1) of their Sharpe values, the
        deflated Sharpe's input.
        """
        values = np.array([t["value"] for t in trials], dtype=float)
        best = max(trials, key=lambda t: (t["value"], -t["number"]))
        return cls(
            study_id=study_id,
            n_trials=len(trials),
            trials=trials,
            best_trial=best["number"],
            best_params=best["params"],
            best_value=best["value"],
            best_model_id=best["model_id"],
            trials_sharpe_variance=float(values.var(ddof=1)) if values.size > 1 else 0.0,
        )


@dataclass
class FoldResult:
    """One walk-forward fold, evaluated on its own test window."""

    index: int
    train_end: str
    test_start: str
    test_end: str
    evaluation_id: str
    rows: list[SubjectResult]


@dataclass
class PipelineResult:
    """Everything ``pipeline run`` did; :meth:`numbers` is what must repeat exactly."""

    name: str
    dataset: dict[str, Any]
    runs: list[RunSummary] = field(default_factory=list)
    study: StudySummary | None = None
    evaluation_id: str | None = None
    evaluation_bars: dict[str, Any] = field(default_factory=dict)
    subjects: list[SubjectResult] = field(default_factory=list)
    folds: list[FoldResult] = field(default_factory=list)
    report_path: Path | str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def numbers(self) -> dict[str, Any]:
        """The seeded outputs (no ids, no timings): equal across runs of the same config."""
        return {
            "runs": [(r.label, r.validation_sharpe) for r in self.runs],
            "study": None
            if self.study is None
            else {
                "trials": [(t["number"], t["params"], t["value"]) for t in self.study.trials],
                "best": self.study.best_trial,
                "variance": self.study.trials_sharpe_variance,
            },
            "subjects": [
                (s.label, s.metrics, s.sharpe_ci, s.deflated_sharpe, s.verdict)
                for s in self.subjects
            ],
            "folds": [[(s.label, s.metrics) for s in f.rows] for f in self.folds],
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (written next to the report)."""
        out = asdict(self)
        out["report_path"] = str(self.report_path) if self.report_path else None
        return out


def fmt(name: str, value: Any) -> str:
    """A metric for the table."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if name == "n_trades":
        return str(int(value))
    if name in PERCENT:
        return f"{value:+.1%}" if name != "volatility" and name != "exposure" else f"{value:.1%}"
    return f"{value:.2f}"


def verdict(sharpe_ci: tuple[float | None, float | None] | None, bh_sharpe: float | None) -> str:
    """Verdict vs buy-and-hold from the Sharpe CI: beats / worse / not distinguishable."""
    if not sharpe_ci or None in sharpe_ci or bh_sharpe is None:
        return "n/a"
    lo, hi = sharpe_ci
    if lo is None or hi is None:  # pragma: no cover - excluded above
        return "n/a"
    if lo > bh_sharpe:
        return "beats buy-and-hold"
    if hi < bh_sharpe:
        return "worse than buy-and-hold"
    return "not distinguishable from buy-and-hold"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def subject_rows(
    comparison: list[dict[str, Any]],
    bars: dict[str, Any],
    series: dict[str, list[dict[str, Any]]],
    labels: dict[str, str],
    *,
    resamples: int = 2000,
) -> list[SubjectResult]:
    """Rows of an evaluation comparison: the service's metrics per subject and, for a tuned
    model, the deflated Sharpe ratio the evaluation service computed from the model's lineage
    (its study's trial count and trial-Sharpe variance), plus a bootstrap Sharpe CI from each
    subject's stored equity series (same estimator and seed as the service uses for its primary
    subject).
    """
    import numpy as np

    from tradeopt_ml.evaluation.statistics import bootstrap_sharpe_ci

    bpy = float(bars.get("bars_per_year") or 252.0)
    by_name = {row["subject"]: row for row in comparison}
    bh = by_name.get("buy_and_hold", {}).get("sharpe")
    rows: list[SubjectResult] = []
    for name, row in by_name.items():
        metrics = {k: v for k, v in row.items() if k not in ("subject", "deflated_sharpe")}
        equity = np.array([p["equity"] for p in series.get(name, [])], dtype=float)
        returns = equity[1:] / equity[:-1] - 1.0 if equity.size > 1 else np.array([])
        ci = None
        if returns.size >= 3 and np.std(returns) > 0:
            c = bootstrap_sharpe_ci(returns, bars_per_year=bpy, n_resamples=resamples, seed=0)
            ci = (_finite(c.low), _finite(c.high))
        kind, _, ident = name.partition(":")
        model_id = ident if kind == "model" else None
        rows.append(
            SubjectResult(
                label=labels.get(ident, name) if model_id else name,
                kind="model" if model_id else "baseline",
                metrics=metrics,
                model_id=model_id,
                sharpe_ci=ci,
                deflated_sharpe=_finite(row.get("deflated_sharpe")),
                verdict=verdict(ci, bh) if model_id else None,
            )
        )
    return rows


def _ci(s: SubjectResult) -> str:
    sharpe = fmt("sharpe", s.metrics.get("sharpe"))
    if s.sharpe_ci and None not in s.sharpe_ci:
        lo, hi = s.sharpe_ci
        return f"{sharpe} [{lo:.2f}, {hi:.2f}]"
    return sharpe


def subjects_table(rows: list[SubjectResult], title: str) -> Table:
    """Metrics side by side (one row per subject), Sharpe with its 95% CI, verdict."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("subject", no_wrap=True)
    for name in TABLE_METRICS:
        label = "sharpe [95% CI]" if name == "sharpe" else name
        table.add_column(label, justify="right", no_wrap=name == "sharpe")
    table.add_column("DSR", justify="right")
    table.add_column("verdict")
    for s in rows:
        style = "bold" if s.kind == "model" else "dim"
        cells = [
            _ci(s) if name == "sharpe" else fmt(name, s.metrics.get(name)) for name in TABLE_METRICS
        ]
        dsr = "-" if s.deflated_sharpe is None else f"{s.deflated_sharpe:.2f}"
        table.add_row(s.label, *cells, dsr, s.verdict or "", style=style)
    return table


def render(result: PipelineResult, console: Console) -> None:
    """Print the runs, the study, the comparison table, the folds and where the report is."""
    if result.runs:
        runs = Table(title="training runs", title_justify="left", header_style="bold")
        for col in ("run", "status", "validation sharpe", "steps/s", "seconds"):
            runs.add_column(col, justify="left" if col in ("run", "status") else "right")
        for r in result.runs:
            runs.add_row(
                r.label,
                r.status,
                fmt("sharpe", r.validation_sharpe),
                "-" if r.steps_per_s is None else f"{r.steps_per_s:.0f}",
                f"{r.seconds:.1f}",
            )
        console.print(runs)
    if result.study is not None:
        st = result.study
        console.print(
            f"[bold]study[/bold] {st.study_id} (tuning service, seeded): {st.n_trials} "
            f"complete trials, best trial "
            f"#{st.best_trial} validation Sharpe {st.best_value:.2f} with {st.best_params}; "
            f"variance of the trials' Sharpe {st.trials_sharpe_variance:.4f}"
        )
    if result.subjects:
        bars = result.evaluation_bars
        span = f"{str(bars.get('start', ''))[:10]} → {str(bars.get('end', ''))[:10]}"
        console.print(
            subjects_table(
                result.subjects,
                f"out of sample ({span}, {bars.get('decisions', '?')} decisions, costs "
                f"{bars.get('cost_bps', '?')} bps + slippage {bars.get('slippage_bps', '?')} bps)",
            )
        )
    for fold in result.folds:
        console.print(
            subjects_table(
                fold.rows,
                f"walk-forward fold {fold.index}: trained to {fold.train_end[:10]}, "
                f"tested {fold.test_start[:10]} → {fold.test_end[:10]}",
            )
        )
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if result.report_path:
        console.print(f"[bold green]report:[/bold green] {result.report_path}")
    console.print(f"done in {result.seconds:.1f}s")
