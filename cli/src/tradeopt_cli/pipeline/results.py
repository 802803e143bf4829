"""What a pipeline produced, and the terminal rendering of it (results table, verdicts).

The verdicts are the evaluation service's (paired tests on the same bars with family-wise
adjusted p-values, seed robustness of run specs): this module only displays them.
"""

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
    #: vs buy-and-hold: annualised Sharpe difference, raw and family-wise adjusted p-values
    sharpe_difference: float | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    #: the service's verdicts against every benchmark (``{benchmark: {verdict, ...}}``)
    verdicts: dict[str, Any] = field(default_factory=dict)
    #: the run spec this model is a seed of, when the evaluation holds several of its seeds
    spec: dict[str, Any] | None = None


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
class PaperSummary:
    """The pipeline's paper step: a replay session of the strategy service over the evaluated
    split, with its parity report against the evaluation backtest of the same model.
    """

    label: str
    model_id: str
    strategy_id: str
    session_id: str
    status: str
    bars: int
    orders: int
    equity: float | None
    halt_reason: str | None
    parity: dict[str, Any]

    @classmethod
    def from_api(cls, label: str, paper: dict[str, Any], parity: dict[str, Any]) -> PaperSummary:
        """From a session as the strategy API shows it (also what the local step reads)."""
        return cls(
            label=label,
            model_id=str(paper["model_id"]),
            strategy_id=str(paper["strategy_id"]),
            session_id=str(paper["id"]),
            status=str(paper["status"]),
            bars=int(paper["n_bars"]),
            orders=int(paper["n_orders"]),
            equity=paper.get("equity"),
            halt_reason=paper.get("halt_reason"),
            parity={k: v for k, v in parity.items() if k != "divergences"}
            | {"divergences": list(parity.get("divergences") or [])[:5]},
        )


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
    def from_trials(
        cls, study_id: str, trials: list[dict[str, Any]], among: set[int] | None = None
    ) -> StudySummary:
        """Summarise finished trials (``number``, ``params``, ``value``: the validation Sharpe,
        ``model_id``): the best one (ties go to the earlier trial; ``among``: only those trial
        numbers, a multi-objective study's Pareto front) and the variance (ddof=1) of their
        Sharpe values, the deflated Sharpe's input.
        """
        values = np.array([t["value"] for t in trials], dtype=float)
        candidates = [t for t in trials if among is None or t["number"] in among] or trials
        best = max(candidates, key=lambda t: (t["value"], -t["number"]))
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
    paper: PaperSummary | None = None
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
                (
                    s.label,
                    s.metrics,
                    s.sharpe_ci,
                    s.deflated_sharpe,
                    s.verdict,
                    s.p_value_adjusted,
                    s.spec,
                )
                for s in self.subjects
            ],
            "folds": [[(s.label, s.metrics) for s in f.rows] for f in self.folds],
            "paper": None
            if self.paper is None
            else (self.paper.label, self.paper.bars, self.paper.orders, self.paper.equity),
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


#: How a verdict against buy-and-hold reads in the table.
VERDICT_TEXT = {
    "beats": "beats buy-and-hold",
    "worse": "worse than buy-and-hold",
    "not distinguishable": "not distinguishable from buy-and-hold",
}


def verdict_text(entry: dict[str, Any] | None) -> str:
    """The service's verdict vs buy-and-hold as a phrase (``n/a`` without one)."""
    if not entry or entry.get("verdict") not in VERDICT_TEXT:
        return "n/a"
    return VERDICT_TEXT[entry["verdict"]]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def subject_rows(
    comparison: list[dict[str, Any]],
    bars: dict[str, Any],
    series: dict[str, list[dict[str, Any]]] | None,
    labels: dict[str, str],
    *,
    resamples: int | None = None,
) -> list[SubjectResult]:
    """Rows of an evaluation comparison, as the evaluation service computed them: metrics, the
    Sharpe ratio's 95% bootstrap CI, the deflated Sharpe ratio of a tuned model, and the verdicts
    (paired test vs buy-and-hold on the same bars, family-wise adjusted p-value, the model's run
    spec over seeds). ``bars``, ``series`` and ``resamples`` are not used any more (the service
    computes everything); they stay for the callers' signature.
    """
    del bars, series, resamples
    rows: list[SubjectResult] = []
    for row in comparison:
        name = row["subject"]
        metrics = {
            k: v
            for k, v in row.items()
            if k not in ("subject", "deflated_sharpe", "sharpe_ci", "verdicts", "spec")
        }
        ci_raw = row.get("sharpe_ci")
        ci = (_finite(ci_raw[0]), _finite(ci_raw[1])) if ci_raw else None
        kind, _, ident = name.partition(":")
        model_id = ident if kind == "model" else None
        verdicts = row.get("verdicts") or {}
        bh = verdicts.get("buy_and_hold") or {}
        rows.append(
            SubjectResult(
                label=labels.get(ident, name) if model_id else name,
                kind="model" if model_id else "baseline",
                metrics=metrics,
                model_id=model_id,
                sharpe_ci=ci,
                deflated_sharpe=_finite(row.get("deflated_sharpe")),
                verdict=verdict_text(bh) if model_id else None,
                sharpe_difference=_finite(bh.get("sharpe_difference")) if model_id else None,
                p_value=_finite(bh.get("p_value")) if model_id else None,
                p_value_adjusted=_finite(bh.get("p_value_adjusted")) if model_id else None,
                verdicts=verdicts if model_id else {},
                spec=row.get("spec") if model_id else None,
            )
        )
    return rows


def _ci(s: SubjectResult) -> str:
    sharpe = fmt("sharpe", s.metrics.get("sharpe"))
    if s.sharpe_ci and None not in s.sharpe_ci:
        lo, hi = s.sharpe_ci
        return f"{sharpe} [{lo:.2f}, {hi:.2f}]"
    return sharpe


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def subjects_table(rows: list[SubjectResult], title: str) -> Table:
    """Metrics side by side (one row per subject), Sharpe with its 95% CI, and for each model
    the service's paired test vs buy-and-hold: Sharpe difference, raw and adjusted p, verdict.
    """
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("subject", no_wrap=True)
    for name in TABLE_METRICS:
        label = "sharpe [95% CI]" if name == "sharpe" else name
        table.add_column(label, justify="right", no_wrap=name == "sharpe")
    table.add_column("DSR", justify="right")
    table.add_column("Δ sharpe vs B&H", justify="right")
    table.add_column("p", justify="right")
    table.add_column("p adj.", justify="right")
    table.add_column("verdict")
    for s in rows:
        style = "bold" if s.kind == "model" else "dim"
        cells = [
            _ci(s) if name == "sharpe" else fmt(name, s.metrics.get(name)) for name in TABLE_METRICS
        ]
        dsr = "-" if s.deflated_sharpe is None else f"{s.deflated_sharpe:.2f}"
        diff = "-" if s.sharpe_difference is None else f"{s.sharpe_difference:+.2f}"
        table.add_row(
            s.label,
            *cells,
            dsr,
            diff,
            _p(s.p_value),
            _p(s.p_value_adjusted),
            s.verdict or "",
            style=style,
        )
    return table


def specs_table(rows: list[SubjectResult]) -> Table | None:
    """One row per run spec evaluated with several seeds: its Sharpe across seeds and the
    service's verdict about the spec (not its luckiest seed) vs buy-and-hold.
    """
    specs: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for s in rows:
        if s.spec:
            specs.setdefault(s.spec["spec"], ([], s.spec))[0].append(s.label)
    if not specs:
        return None
    table = Table(
        title="run specs over seeds (verdict about the spec)",
        title_justify="left",
        header_style="bold",
    )
    for col in ("models", "seeds", "sharpe mean ± sd", "95% CI across seeds", "Δ sharpe vs B&H"):
        table.add_column(col, justify="left" if col in ("models", "seeds") else "right")
    table.add_column("p adj.", justify="right")
    table.add_column("verdict")
    for labels, spec in specs.values():
        sharpe = spec["sharpe"]
        bh = spec.get("verdicts", {}).get("buy_and_hold") or {}
        diff = bh.get("sharpe_difference")
        table.add_row(
            ", ".join(labels),
            ", ".join(str(x) for x in spec["seeds"]),
            f"{sharpe['mean']:.2f} ± {sharpe['std']:.2f}",
            f"[{sharpe['ci_low']:.2f}, {sharpe['ci_high']:.2f}]",
            "-" if diff is None else f"{diff:+.2f}",
            _p(bh.get("p_value_adjusted")),
            verdict_text(bh),
        )
    return table


def verdict_legend(rows: list[SubjectResult]) -> str | None:
    """How to read the verdicts: the test, the level and the family the p-values are adjusted
    over (from the service's results).
    """
    entry = next((s.verdicts.get("buy_and_hold") for s in rows if s.verdicts), None)
    if not entry:
        return None
    return (
        f"verdict vs buy-and-hold at the {entry['level']:.0%} level: {entry['test']}, on the same "
        f"bars; p adj. = Romano-Wolf step-down over the {entry['family_size']} model(s) compared "
        "(family-wise error control); 'not distinguishable' means no evidence either way"
    )


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
        specs = specs_table(result.subjects)
        if specs is not None:
            console.print(specs)
        legend = verdict_legend(result.subjects)
        if legend:
            console.print(f"[dim]{legend}[/dim]")
    for fold in result.folds:
        console.print(
            subjects_table(
                fold.rows,
                f"walk-forward fold {fold.index}: trained to {fold.train_end[:10]}, "
                f"tested {fold.test_start[:10]} → {fold.test_end[:10]}",
            )
        )
    if result.paper is not None:
        render_paper(result.paper, console)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if result.report_path:
        console.print(f"[bold green]report:[/bold green] {result.report_path}")
    console.print(f"done in {result.seconds:.1f}s")


def render_paper(paper: PaperSummary, console: Console) -> None:
    """The paper step: the replay session and its parity with the evaluation backtest."""
    p = paper.parity
    equity = "-" if paper.equity is None else f"{paper.equity:,.2f}"
    console.print(
        f"[bold]paper[/bold] {paper.label}: replay session {paper.session_id} "
        f"(strategy {paper.strategy_id}) {paper.status}, {paper.bars} bars, {paper.orders} "
        f"orders, final equity {equity}"
        + (f", halted: {paper.halt_reason}" if paper.halt_reason else "")
    )
    if not p:
        return
    verdict = (
        "[green]0 divergences[/green]"
        if p.get("ok")
        else (f"[red]{p.get('n_divergences')} divergent bar(s)[/red]")
    )
    console.print(
        f"[bold]parity[/bold] vs the evaluation backtest (same model, bars and costs; tolerance "
        f"{p.get('tolerance')}): {verdict}; {p.get('bars_compared')} bars compared, max |equity "
        f"difference| {p.get('max_abs_equity_diff', 0.0):.3g}, final equity "
        f"{p.get('final_equity_session')} vs {p.get('final_equity_backtest')}, fills "
        f"{p.get('fills_session')} vs {p.get('fills_backtest')}"
    )
    for d in p.get("divergences") or []:
        console.print(f"  bar {d.get('seq')} ({d.get('t')}): {d.get('fields')}")
