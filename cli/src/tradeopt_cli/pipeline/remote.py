"""``tradeopt pipeline submit``: the same pipeline through a running fleet's HTTP API.

Requests are built by :mod:`tradeopt_cli.pipeline.requests` (exactly what ``pipeline run``
validates in-process). Long work returns ``202``; this client polls the resources
(``GET /api/v1/{datasets,runs,evaluations}/{id}``) and moves a progress bar per step. Training
runs of one step are all submitted first so a fleet with several workers trains them in
parallel. The study is ``POST /api/v1/studies`` (the same body as in-process): the tuning
service's job starts the trial runs on the training workers and records the study's outcome on
each trial's model, so the evaluation service reports the tuned model's deflated Sharpe ratio;
this client follows ``GET /api/v1/studies/{id}`` and reads its trials.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from tradeopt_cli.pipeline.config import PipelineConfig, UploadDataset
from tradeopt_cli.pipeline.progress import StepBars
from tradeopt_cli.pipeline.requests import (
    compare_request,
    dataset_request,
    paper_model,
    paper_request,
    run_request,
)
from tradeopt_cli.pipeline.results import (
    PaperSummary,
    PipelineResult,
    RunSummary,
    fmt,
    render,
    subject_rows,
)
from tradeopt_cli.pipeline.tuning import study_request, study_summary

TERMINAL = {"ready", "succeeded", "failed", "canceled", "completed", "halted", "stopped"}
#: Terminal states that are a success (a paper session halted by its risk limits ran fine).
SUCCEEDED = {"ready", "succeeded", "completed", "halted"}


#: How often a rate-limited (429) request is retried before giving up.
RATE_LIMIT_RETRIES = 5


class RemoteError(RuntimeError):
    """An HTTP call failed or a resource ended badly; the message carries the problem."""


class Client:
    """A thin JSON client for the gateway (Bearer key, RFC 9457 problems → :class:`RemoteError`)."""

    def __init__(self, api: str, api_key: str | None, *, transport: Any = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(
            base_url=api.rstrip("/") + "/api/v1", headers=headers, timeout=60, transport=transport
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; the decoded JSON body. A 429 from the gateway's rate limit is retried
        after ``Retry-After`` (the request was not processed, so a retry is safe).
        """
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise RemoteError(f"{method} {path}: {exc}") from exc
            if response.status_code != 429 or attempt == RATE_LIMIT_RETRIES:
                break
            try:
                delay = float(response.headers.get("retry-after", "1"))
            except ValueError:
                delay = 1.0
            time.sleep(min(max(delay, 0.5), 10.0))
        if response.status_code >= 400:
            try:
                problem = response.json()
                detail = problem.get("detail") or problem.get("title")
                errors = problem.get("errors") or []
            except ValueError:
                detail, errors = response.text[:300], []
            lines = [f"{method} {path}: {response.status_code} {detail}"]
            lines += [f"  - {'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in errors]
            raise RemoteError("\n".join(lines))
        return response.json() if response.content else None

    def wait(
        self, path: str, bars: StepBars, task: Any, *, poll: float, deadline: float
    ) -> dict[str, Any]:
        """Poll a resource until it is terminal; its ``progress`` moves the bar."""
        while True:
            body = self.call("GET", path)
            if body.get("progress") is not None:
                bars.progress.update(task, completed=float(body["progress"]))
            if body.get("status") in TERMINAL:
                if body["status"] not in SUCCEEDED:
                    raise RemoteError(f"{path} {body['status']}: {body.get('error')}")
                return body
            if time.monotonic() > deadline:
                raise RemoteError(f"{path} still {body.get('status')} after the timeout")
            time.sleep(poll)


def create_dataset(client: Client, config: PipelineConfig) -> dict[str, Any]:
    """``POST /datasets``: JSON for sample/synthetic, multipart for an upload."""
    body = dataset_request(config)
    if isinstance(config.dataset, UploadDataset):
        path = Path(config.dataset.path)
        form = {k: str(v) for k, v in body.items() if k != "source"}
        with path.open("rb") as fh:
            return client.call("POST", "/datasets", files={"file": (path.name, fh)}, data=form)  # type: ignore[no-any-return]
    return client.call("POST", "/datasets", json=body)  # type: ignore[no-any-return]


def submit_pipeline(
    config: PipelineConfig,
    *,
    api: str,
    api_key: str | None,
    console: Console | None = None,
    poll: float = 1.0,
    timeout: float = 3600,
    transport: Any = None,
) -> PipelineResult:
    """Drive the fleet through the pipeline and print the same results as ``pipeline run``."""
    console = console or Console()
    client = Client(api, api_key, transport=transport)
    deadline = time.monotonic() + timeout
    result = PipelineResult(name=config.name, dataset={})
    started = time.monotonic()
    bars = StepBars(console)
    console.print(f"[bold]tradeopt pipeline[/bold] {config.name!r} → {api}")
    if config.walk_forward is not None:
        result.notes.append(
            "walk_forward runs in-process only for now (`tradeopt pipeline run`); the fleet's "
            "POST /api/v1/evaluations/walk-forward is not driven by submit yet"
        )
    with bars:
        task = bars.start(f"dataset ({config.dataset.source})")
        dataset = create_dataset(client, config)
        dataset = client.wait(
            f"/datasets/{dataset['id']}", bars, task, poll=poll, deadline=deadline
        )
        bars.done(task, f"{dataset['name']}: {dataset['rows']} bars")
        result.dataset = {k: dataset.get(k) for k in ("id", "name", "symbols", "rows")}
        ds_id = dataset["id"]

        labels: dict[str, str] = {}
        pending = []
        for algorithm in config.train.algorithms:
            for seed in config.train.seeds:
                label = f"{algorithm} seed {seed}"
                run = client.call("POST", "/runs", json=run_request(config, ds_id, algorithm, seed))
                pending.append((label, run, bars.start(f"train {label}"), time.monotonic()))
        for label, run, task, t0 in pending:
            done = client.wait(f"/runs/{run['id']}", bars, task, poll=poll, deadline=deadline)
            summary = _summary(label, done, time.monotonic() - t0)
            bars.done(task, f"validation Sharpe {fmt('sharpe', summary.validation_sharpe)}")
            result.runs.append(summary)
            labels[str(done["model_id"])] = label

        tune = config.tuning
        if tune is not None:
            task = bars.start(f"tune {tune.algorithm} ({tune.n_trials} trials)")
            study = client.call("POST", "/studies", json=study_request(config, ds_id))
            study = client.wait(f"/studies/{study['id']}", bars, task, poll=poll, deadline=deadline)
            trials = client.call("GET", f"/studies/{study['id']}/trials")
            result.study = study_summary(study, trials)
            best = result.study
            bars.done(task, f"best #{best.best_trial}: validation Sharpe {best.best_value:.2f}")
            if best.best_model_id:
                labels[best.best_model_id] = f"{tune.algorithm} tuned #{best.best_trial}"

        if labels:
            task = bars.start("evaluate")
            body = compare_request(config, ds_id, list(labels))
            ev = client.call("POST", "/evaluations/compare", json=body)
            ev = client.wait(f"/evaluations/{ev['id']}", bars, task, poll=poll, deadline=deadline)
            series = {
                row["subject"]: client.call(
                    "GET", f"/evaluations/{ev['id']}/equity", params={"subject": row["subject"]}
                )
                for row in ev["comparison"]
            }
            result.subjects = subject_rows(ev["comparison"], ev["bars"], series, labels)
            result.evaluation_id = ev["id"]
            result.evaluation_bars = ev["bars"]
            result.report_path = f"{api.rstrip('/')}/api/v1/evaluations/{ev['id']}/report"
            bars.done(task, f"{len(result.subjects)} subjects")
        if config.paper.enabled:
            chosen = paper_model(result.subjects)
            if chosen is None:
                result.notes.append("paper step skipped: no evaluated model to replay")
            else:
                task = bars.start(f"paper ({chosen.label})")
                body = {"model_id": chosen.model_id, "name": f"{config.name}: {chosen.label}"}
                strategy = client.call("POST", "/strategies", json=body)
                paper = client.call(
                    "POST", "/paper-sessions", json=paper_request(config, ds_id, strategy["id"])
                )
                paper = client.wait(
                    f"/paper-sessions/{paper['id']}", bars, task, poll=poll, deadline=deadline
                )
                parity = client.call("GET", f"/paper-sessions/{paper['id']}/parity")
                result.paper = PaperSummary.from_api(chosen.label, paper, parity)
                verdict = "0 divergences" if parity.get("ok") else "FAILED"
                bars.done(task, f"{paper['n_bars']} bars, parity {verdict}")
    result.seconds = time.monotonic() - started
    render(result, console)
    return result


def _summary(label: str, run: dict[str, Any], seconds: float) -> RunSummary:
    metrics = run.get("metrics") or {}
    return RunSummary(
        label=label,
        algorithm=run.get("algorithm", ""),
        seed=int(run.get("seed", 0)),
        run_id=str(run["id"]),
        model_id=str(run.get("model_id")),
        status=run["status"],
        validation_sharpe=(metrics.get("validation") or {}).get("sharpe"),
        steps_per_s=metrics.get("steps_per_s"),
        seconds=seconds,
    )
