"""``tradeopt pipeline run``: the whole pipeline in this process on embedded defaults.

Every step goes through the services' own functions (``create_dataset``, ``create_run``,
``create_evaluation``) with an :class:`InlineDispatcher`, so the job code that runs is exactly
what the fleet's workers run (claim → heartbeat → progress → finish, end hooks included).

The study is a study of the tuning service (``create_study``): its job, the service's own
parked parent body, runs inline too and starts every trial as an ordinary training run through
the training service's functions (:class:`~tradeopt_cli.pipeline.tuning.LocalTrainingClient`),
parks on it and resumes at once (the inline run has ended), and finally records the study's
outcome (trial count, variance of the trials' Sharpe ratios) on every trial's model, so the
evaluation service reports the tuned model's deflated Sharpe ratio from its lineage.
"""

from __future__ import annotations

import functools
import hashlib
import json
import mimetypes
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_cli.pipeline.config import PipelineConfig, UploadDataset
from tradeopt_cli.pipeline.progress import ProgressRuntime, StepBars
from tradeopt_cli.pipeline.requests import (
    compare_request,
    dataset_request,
    paper_model,
    paper_request,
    run_request,
)
from tradeopt_cli.pipeline.results import (
    FoldResult,
    PaperSummary,
    PipelineResult,
    RunSummary,
    StudySummary,
    SubjectResult,
    render,
    subject_rows,
)
from tradeopt_cli.pipeline.tuning import LocalTrainingClient, study_request, study_summary
from tradeopt_common.asyncutil import run_sync
from tradeopt_common.config import CommonSettings, get_settings
from tradeopt_common.db.session import Database
from tradeopt_common.errors import AppError
from tradeopt_common.jobs.runner import InlineDispatcher
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.configured import store_from_settings

CREATED_BY = "pipeline"


class PipelineError(RuntimeError):
    """A step failed; the message says which and why."""


def _problem(step: str, exc: AppError) -> PipelineError:
    errors = getattr(exc, "errors", None) or []
    lines = [f"{step}: {exc.detail}"]
    lines += [f"  - {'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in errors[:10]]
    return PipelineError("\n".join(lines))


class LocalPipeline:
    """Runs one :class:`PipelineConfig` against the configured database and artifact store."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        console: Console | None = None,
        settings: CommonSettings | None = None,
    ) -> None:
        self.config = config
        self.console = console or Console()
        self.settings = settings or get_settings()
        self.store: ArtifactStore = store_from_settings(self.settings)
        self.bars = StepBars(self.console)
        self.result = PipelineResult(name=config.name, dataset={})

    # -- plumbing --------------------------------------------------------------------------

    async def _uow(self, fn: Any, step: str) -> Any:
        try:
            async with self.db.unit_of_work() as session:
                return await fn(session)
        except AppError as exc:
            raise _problem(step, exc) from exc

    # -- steps -----------------------------------------------------------------------------

    async def dataset(self) -> uuid.UUID:
        """Create the dataset (its ingest job runs inline) and wait until it is ready."""
        from tradeopt_data import service
        from tradeopt_data.config import get_data_settings
        from tradeopt_data.schemas import DatasetCreate

        ds = self.config.dataset
        task = self.bars.start(f"dataset ({ds.source})")
        if isinstance(ds, UploadDataset):
            data_settings = get_data_settings()
            upload = _staged(ds, dataset_request(self.config))

            async def _create(session: AsyncSession) -> Any:
                dataset, _ = await service.create_from_upload(
                    session,
                    self.store,
                    self.dispatcher,
                    upload,
                    inline_max_bytes=data_settings.upload_inline_max_bytes,
                    min_rows=data_settings.dataset_min_rows,
                    created_by=CREATED_BY,
                    max_attempts=1,
                )
                return dataset
        else:
            try:
                body = TypeAdapter(DatasetCreate).validate_python(dataset_request(self.config))
            except ValidationError as exc:
                raise PipelineError(f"dataset: {exc}") from exc

            async def _create(session: AsyncSession) -> Any:
                return await service.create_dataset(
                    session, self.dispatcher, body, created_by=CREATED_BY, max_attempts=1
                )

        created = await self._uow(_create, "dataset")
        dataset = await self._uow(lambda s: service.get_dataset(s, created.id), "dataset")
        if dataset.status != "ready":
            raise PipelineError(f"dataset: ingest {dataset.status}: {dataset.error}")
        self.result.dataset = {
            "id": str(dataset.id),
            "name": dataset.name,
            "symbols": list(dataset.symbols),
            "rows": dataset.rows,
            "start": str(dataset.start),
            "end": str(dataset.end),
        }
        self.bars.done(task, f"{dataset.name}: {dataset.rows} bars")
        return dataset.id

    async def train_one(
        self, label: str, body: dict[str, Any], step: str = "train"
    ) -> tuple[RunSummary, Any]:
        """One training run through the training service (its job runs inline)."""
        from tradeopt_training import service
        from tradeopt_training.config import get_training_settings
        from tradeopt_training.schemas import RunCreate

        ts = get_training_settings()
        try:
            request = RunCreate.model_validate(body)
        except ValidationError as exc:
            raise PipelineError(f"{step} {label}: {exc}") from exc
        task = self.bars.start(f"{step} {label}")
        started = time.perf_counter()

        async def _create(session: AsyncSession) -> Any:
            return await service.create_run(
                session,
                self.store,
                self.dispatcher,
                request,
                torch_threads=ts.torch_threads,
                max_timesteps=ts.training_max_timesteps,
                created_by=CREATED_BY,
                max_attempts=1,
            )

        created = await self._uow(_create, f"{step} {label}")
        run = await self._uow(lambda s: service.get_run(s, created.id), step)
        if run.status != "succeeded":
            raise PipelineError(f"{step} {label}: run {run.id} {run.status}: {run.error}")
        metrics = run.metrics or {}
        summary = RunSummary(
            label=label,
            algorithm=run.algorithm,
            seed=run.seed,
            run_id=str(run.id),
            model_id=str(run.model_id) if run.model_id else None,
            status=run.status,
            validation_sharpe=(metrics.get("validation") or {}).get("sharpe"),
            steps_per_s=metrics.get("steps_per_s"),
            seconds=time.perf_counter() - started,
        )
        self.bars.done(task, f"validation Sharpe {_num(summary.validation_sharpe)}")
        return summary, run

    async def train(self, dataset_id: uuid.UUID) -> list[RunSummary]:
        """Every algorithm x seed."""
        runs = []
        for algorithm in self.config.train.algorithms:
            for seed in self.config.train.seeds:
                body = run_request(self.config, dataset_id, algorithm, seed)
                summary, _ = await self.train_one(f"{algorithm} seed {seed}", body)
                runs.append(summary)
        self.result.runs.extend(runs)
        return runs

    async def tune(self, dataset_id: uuid.UUID) -> StudySummary:
        """A study of the tuning service (its job and every trial run inline); objective =
        validation Sharpe.
        """
        from tradeopt_tuning import service
        from tradeopt_tuning.schemas import StudyCreate, StudyRead, TrialRead

        tune = self.config.tuning
        assert tune is not None
        try:
            body = StudyCreate.model_validate(study_request(self.config, dataset_id))
        except ValidationError as exc:
            raise PipelineError(f"tune: {exc}") from exc
        settings = self.tuning_settings
        task = self.bars.start(f"tune {tune.algorithm} ({tune.n_trials} trials)")

        async def _create(session: AsyncSession) -> Any:
            return await service.create_study(
                session,
                self.store,
                self.dispatcher,
                body,
                created_by=CREATED_BY,
                max_attempts=1,
                max_trials=settings.tuning_max_trials,
                max_parallelism=settings.tuning_max_parallelism,
            )

        created = await self._uow(_create, "tune")

        async def _read(session: AsyncSession) -> tuple[Any, list[Any]]:
            study = await service.get_study(session, created.id)
            trials = await service.list_trials(session, created.id)
            return study, list(trials)

        study, trials = await self._uow(_read, "tune")
        if study.status != "succeeded":
            raise PipelineError(f"tune: study {study.id} {study.status}: {study.error}")
        result = study_summary(
            StudyRead.model_validate(study).model_dump(mode="json"),
            [TrialRead.model_validate(t).model_dump(mode="json") for t in trials],
        )
        self.bars.done(
            task, f"best #{result.best_trial}: validation Sharpe {_num(result.best_value)}"
        )
        self.result.study = result
        return result

    async def compare(
        self,
        dataset_id: uuid.UUID,
        labels: dict[str, str],
        *,
        start: str | None = None,
        end: str | None = None,
        step: str = "evaluate",
    ) -> tuple[Any, list[SubjectResult]]:
        """Evaluate the models with the baselines on the same bars (evaluation service)."""
        from tradeopt_evaluation import service
        from tradeopt_evaluation.schemas import EvaluationCompare

        body = compare_request(self.config, dataset_id, list(labels), start=start, end=end)
        try:
            request = EvaluationCompare.model_validate(body)
        except ValidationError as exc:
            raise PipelineError(f"{step}: {exc}") from exc
        task = self.bars.start(step)

        async def _create(session: AsyncSession) -> Any:
            return await service.create_evaluation(
                session, self.store, self.dispatcher, request, created_by=CREATED_BY, max_attempts=1
            )

        created = await self._uow(_create, step)
        evaluation = await self._uow(lambda s: service.get_evaluation(s, created.id), step)
        if evaluation.status != "succeeded":
            raise PipelineError(
                f"{step}: evaluation {evaluation.id} {evaluation.status}: {evaluation.error}"
            )
        rows = self._subjects(evaluation, labels)
        self.bars.done(task, f"{len(rows)} subjects")
        return evaluation, rows

    def _subjects(self, evaluation: Any, labels: dict[str, str]) -> list[SubjectResult]:
        from tradeopt_evaluation.config import get_evaluation_settings
        from tradeopt_evaluation.service import read_json_artifact

        return subject_rows(
            evaluation.comparison,
            evaluation.bars,
            read_json_artifact(self.store, evaluation, "equity.json"),
            labels,
            resamples=get_evaluation_settings().evaluation_bootstrap_resamples,
        )

    async def walk_forward(self, dataset_id: uuid.UUID) -> list[FoldResult]:
        """Expanding-window folds from the library's :func:`walk_forward`; per fold one run per
        algorithm (first seed) trained on the bars before the fold's test window, then one
        comparison on that window only.
        """
        import tempfile

        from tradeopt_common.contracts.datasets import read_manifest
        from tradeopt_ml.data import FoldSpec, Panel, read_bars_parquet, walk_forward

        wf = self.config.walk_forward
        assert wf is not None
        manifest = read_manifest(self.store, dataset_id)
        assert manifest is not None
        with tempfile.TemporaryDirectory(prefix="tradeopt-wf-") as tmp:
            path = Path(tmp) / "bars.parquet"
            self.store.download_file(manifest.bars_key, path)
            panel = Panel.from_bars(read_bars_parquet(path), symbols=self.config.symbols)
        stamps = panel.timestamps
        spec = FoldSpec(
            train_bars=wf.train_bars,
            test_bars=wf.test_bars,
            step_bars=wf.step_bars,
            expanding=True,
            max_folds=wf.max_folds,
        )
        try:
            folds = walk_forward(stamps, spec)
        except ValueError as exc:
            raise PipelineError(f"walk_forward: {exc}") from exc

        def iso(i: int) -> str:
            return np.datetime_as_string(stamps[i], unit="s") + "Z"

        results = []
        for fold in folds:
            n_train = fold.train.stop - fold.train.start
            val_start = fold.train.stop - max(int(n_train * wf.validation_fraction), 10)
            split = {"train_end": iso(val_start - 1), "validation_end": iso(fold.train.stop - 1)}
            labels = {}
            for algorithm in self.config.train.algorithms:
                seed = self.config.train.seeds[0]
                body = run_request(self.config, dataset_id, algorithm, seed, split=split)
                summary, _ = await self.train_one(
                    f"{algorithm} fold {fold.index}", body, step="walk-forward"
                )
                self.result.runs.append(summary)
                labels[str(summary.model_id)] = f"{algorithm} fold {fold.index}"
            evaluation, rows = await self.compare(
                dataset_id,
                labels,
                start=iso(fold.test.start),
                end=iso(fold.test.stop - 1),
                step=f"evaluate fold {fold.index}",
            )
            results.append(
                FoldResult(
                    index=fold.index,
                    train_end=iso(fold.train.stop - 1),
                    test_start=iso(fold.test.start),
                    test_end=iso(fold.test.stop - 1),
                    evaluation_id=str(evaluation.id),
                    rows=rows,
                )
            )
        self.result.folds = results
        return results

    async def paper(self, dataset_id: uuid.UUID) -> PaperSummary | None:
        """Promote the best evaluated model to a strategy and replay the evaluated split through
        the strategy service's functions (its replay job runs inline: the worker's code); the
        session and its parity report against the evaluation backtest.
        """
        from tradeopt_strategy import service
        from tradeopt_strategy.schemas import PaperSessionCreate, PaperSessionRead, StrategyCreate

        chosen = paper_model(self.result.subjects)
        if chosen is None:
            self.result.notes.append("paper step skipped: no evaluated model to replay")
            return None
        step = f"paper ({chosen.label})"
        task = self.bars.start(step)
        strategy_body = StrategyCreate.model_validate(
            {"model_id": chosen.model_id, "name": f"{self.config.name}: {chosen.label}"}
        )
        strategy = await self._uow(
            lambda s: service.create_strategy(s, self.store, strategy_body, created_by=CREATED_BY),
            step,
        )
        body = PaperSessionCreate.model_validate(
            paper_request(self.config, dataset_id, strategy.id)
        )
        created = await self._uow(
            lambda s: service.create_session(
                s, self.store, self.dispatcher, body, created_by=CREATED_BY, max_attempts=1
            ),
            step,
        )
        paper = await self._uow(lambda s: service.get_session(s, created.id), step)
        if paper.status not in ("completed", "halted"):
            raise PipelineError(f"{step}: paper session {paper.id} {paper.status}: {paper.error}")
        read = PaperSessionRead.model_validate(paper).model_dump(mode="json")
        summary = PaperSummary.from_api(chosen.label, read, service.parity_of(paper))
        self.result.paper = summary
        ok = summary.parity.get("ok")
        self.bars.done(task, f"{summary.bars} bars, parity {'0 divergences' if ok else 'FAILED'}")
        return summary

    # -- the whole thing -------------------------------------------------------------------

    async def _run(self) -> PipelineResult:
        self.db = Database(self.settings.db_uri)
        try:
            dataset_id = await self.dataset()
            labels: dict[str, str] = {}
            if self.config.walk_forward is None:
                for run in await self.train(dataset_id):
                    labels[str(run.model_id)] = run.label
            if self.config.tuning is not None:
                study = await self.tune(dataset_id)
                if study.best_model_id:
                    labels[study.best_model_id] = (
                        f"{self.config.tuning.algorithm} tuned #{study.best_trial}"
                    )
            if labels:
                evaluation, rows = await self.compare(dataset_id, labels)
                self.result.evaluation_id = str(evaluation.id)
                self.result.evaluation_bars = dict(evaluation.bars)
                self.result.subjects = rows
                self.result.report_path = self._report_location(evaluation.id)
            if self.config.walk_forward is not None:
                await self.walk_forward(dataset_id)
                if self.result.report_path is None and self.result.folds:
                    last = uuid.UUID(self.result.folds[-1].evaluation_id)
                    self.result.report_path = self._report_location(last)
            if self.config.paper.enabled:
                await self.paper(dataset_id)
        finally:
            await self.db.dispose()
        return self.result

    def _report_location(self, evaluation_id: uuid.UUID) -> Path | str:
        from tradeopt_evaluation.service import artifact_key

        key = artifact_key(evaluation_id, "report.html")
        if self.settings.storage_endpoint:
            return f"s3://{self.settings.storage_bucket}/{key}"
        return (Path(self.settings.artifact_dir) / key).resolve()

    def run(self) -> PipelineResult:
        """Migrate, run every configured step with progress bars, return the results."""
        import optuna

        import tradeopt_data.jobs  # noqa: F401 - registers the job bodies
        import tradeopt_evaluation.jobs  # noqa: F401
        import tradeopt_strategy.jobs  # noqa: F401
        import tradeopt_training.jobs  # noqa: F401
        from tradeopt_common.db.migrations import upgrade
        from tradeopt_common.jobs.names import TaskName
        from tradeopt_tuning.config import TuningSettings
        from tradeopt_tuning.jobs import run_study

        started = time.perf_counter()
        upgrade(self.settings.db_uri)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the bars show the study
        runtime = ProgressRuntime(self.settings, self.bars.on_event)
        self.dispatcher = InlineDispatcher(runtime)
        # The study's trial runs go through the training service's functions, not its API.
        trainer = LocalTrainingClient(runtime, self.store, self.dispatcher, created_by=CREATED_BY)
        # The pipeline's own settings (database, data folder) plus the tuning ones: never a cached
        # copy from another run in this process.
        self.tuning_settings = TuningSettings(**self.settings.model_dump())
        self.dispatcher.override(
            TaskName.TUNING_RUN_STUDY,
            functools.partial(run_study, client=trainer, settings=self.tuning_settings),
        )
        try:
            with self.bars:
                run_sync(self._run())
        finally:
            runtime.close()
        self.result.seconds = time.perf_counter() - started
        return self.result


def _staged(ds: UploadDataset, form: dict[str, Any]) -> Any:
    from tradeopt_data.service import StagedUpload

    if not ds.path.is_file():
        raise PipelineError(f"dataset: upload file {ds.path} does not exist")
    data = ds.path.read_bytes()
    return StagedUpload(
        path=ds.path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        filename=ds.path.name,
        content_type=mimetypes.guess_type(ds.path.name)[0],
        symbol=ds.symbol,
        name=ds.name,
        timeframe=ds.timeframe,
        repairs=list(ds.repair),
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def run_pipeline(
    config: PipelineConfig, *, console: Console | None = None, summary_path: Path | None = None
) -> PipelineResult:
    """Run ``config`` in-process, print the results, optionally write them as JSON."""
    console = console or Console()
    settings = get_settings()
    console.print(
        f"[bold]tradeopt pipeline[/bold] {config.name!r} — database {settings.db_uri}, "
        f"artifacts {settings.storage_endpoint or settings.artifact_dir}"
    )
    result = LocalPipeline(config, console=console, settings=settings).run()
    render(result, console)
    if summary_path is not None:
        summary_path.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result
