"""The pipeline's study is a study of the tuning service, for ``pipeline run`` and ``pipeline
submit`` alike: :func:`study_request` builds its ``POST /api/v1/studies`` body from the config
(each trial is a training run of exactly what :func:`run_request` asks for, plus the trial's
sampled values), the tuning service's study job asks Optuna, starts the trial runs, tells their
validation Sharpe ratios and records the study's outcome on every trial's model, and
:func:`study_summary` turns the finished study and its trials into the pipeline's summary.

In-process (``pipeline run``) the study job is the service's own body
(:func:`tradeopt_tuning.jobs.run_study`) run by the :class:`InlineDispatcher`; its trial runs go
through :class:`LocalTrainingClient`, which calls the training service's functions where the
fleet's study job calls its HTTP API.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_cli.pipeline.config import PipelineConfig
from tradeopt_cli.pipeline.requests import run_request
from tradeopt_cli.pipeline.results import StudySummary
from tradeopt_common.clients.training import TrainingClient, TrainingRefused
from tradeopt_common.errors import AppError
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.jobs.runtime import JobRuntime
from tradeopt_common.storage import ArtifactStore

#: Run-request fields a study carries over to every trial run.
_RUN_FIELDS = ("env", "split", "n_envs", "symbols", "eval_every")


def study_request(config: PipelineConfig, dataset_id: uuid.UUID | str) -> dict[str, Any]:
    """JSON body of ``POST /api/v1/studies`` for ``config.tuning`` (objective: validation
    Sharpe, or the configured ``objectives``; fixed hyperparameters: ``train.hyperparams`` of
    the algorithm minus the searched ones).
    """
    tune = config.tuning
    assert tune is not None
    run = run_request(config, dataset_id, tune.algorithm, tune.seed)
    searched = set(tune.search_space)
    body: dict[str, Any] = {
        "dataset_id": str(dataset_id),
        "algorithm": tune.algorithm,
        "n_trials": tune.n_trials,
        "parallelism": tune.parallelism,
        "timesteps_per_trial": tune.timesteps_per_trial,
        "seed": tune.seed,
        "sampler": tune.sampler,
        "pruner": "none",
        "search_space": {
            name: param.model_dump(mode="json") for name, param in tune.search_space.items()
        },
        "hyperparams": {k: v for k, v in run["hyperparams"].items() if k not in searched},
    }
    objectives = [o.model_dump(exclude_none=True) for o in tune.objectives]
    if len(objectives) == 1:
        body["objective"] = objectives[0]
    else:
        body["objectives"] = objectives
    body.update({k: run[k] for k in _RUN_FIELDS if k in run})
    return body


def study_summary(study: dict[str, Any], trials: list[dict[str, Any]]) -> StudySummary:
    """The finished study (``GET /api/v1/studies/{id}``) and its trials (``…/trials``) as the
    pipeline's summary: its complete trials (their validation Sharpe), best trial (the
    service's; of a multi-objective study, the Pareto member with the highest validation Sharpe)
    and the variance of the complete trials' Sharpe ratios (the value the service records on
    their models).
    """
    stated = study.get("objectives") or [study.get("objective") or {"metric": "sharpe"}]
    metrics = [o["metric"] for o in stated]
    sharpe = metrics.index("sharpe") if "sharpe" in metrics else 0
    complete = [
        {
            "number": t["number"],
            "params": t["params"],
            "value": t["values"][sharpe] if t.get("values") else t["value"],
            "model_id": str(t["model_id"]) if t.get("model_id") else None,
        }
        for t in trials
        if t["state"] == "complete"
    ]
    if not complete:
        raise ValueError(f"study {study['id']} has no complete trial")
    front = {m["number"] for m in study.get("best_trials") or []}
    summary = StudySummary.from_trials(str(study["id"]), complete, among=front or None)
    best = study.get("best_trial") or {}
    if best.get("number") is not None and best["number"] != summary.best_trial:
        raise ValueError(  # pragma: no cover - both pick the first of the highest values
            f"study {study['id']}: best trial {best['number']} != {summary.best_trial}"
        )
    return summary


class LocalTrainingClient(TrainingClient):
    """The training service's API as the study job uses it, served in this process by the
    training service's own functions (``create_run``, ``get_run``, ``cancel_run``,
    ``record_study_outcome``) on the job runtime's loop. A created run's job runs inline
    (``dispatcher``), so :meth:`create_run` returns once the run has ended.
    """

    def __init__(
        self,
        runtime: JobRuntime,
        store: ArtifactStore,
        dispatcher: Dispatcher,
        *,
        created_by: str | None = None,
    ) -> None:
        # No HTTP client: every call is a function call.
        self.runtime, self.store, self.dispatcher = runtime, store, dispatcher
        self.created_by = created_by

    def _uow(self, fn: Any, what: str) -> Any:
        async def _go() -> Any:
            async with self.runtime.db.unit_of_work() as session:
                return await fn(session)

        try:
            # No timeout: creating a run trains it (inline) before the call returns.
            return self.runtime.run(_go(), timeout=None)
        except AppError as exc:
            if exc.status >= 500:
                raise
            raise TrainingRefused(f"the training service refused {what}: {exc.detail}") from exc

    def create_run(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Create and train a run; a study trial's run that exists already is returned instead
        (what the key's replay gives over HTTP).
        """
        from tradeopt_training import service
        from tradeopt_training.config import get_training_settings
        from tradeopt_training.schemas import RunCreate, RunRead

        try:
            request = RunCreate.model_validate(body)
        except ValidationError as exc:
            raise TrainingRefused(f"the training service refused POST /runs: {exc}") from exc
        ts = get_training_settings()

        async def _create(session: AsyncSession) -> dict[str, Any]:
            if request.study_id is not None:
                page = await service.list_runs(
                    session, limit=1000, cursor=None, study_id=request.study_id
                )
                for run in page.items:
                    if run.trial_number == request.trial_number:
                        return RunRead.model_validate(run).model_dump(mode="json")
            run = await service.create_run(
                session,
                self.store,
                self.dispatcher,
                request,
                torch_threads=ts.torch_threads,
                max_timesteps=ts.training_max_timesteps,
                created_by=self.created_by,
                max_attempts=1,
            )
            return RunRead.model_validate(run).model_dump(mode="json")

        return self._uow(_create, "POST /runs")  # type: ignore[no-any-return]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run as ``GET /api/v1/runs/{id}`` shows it."""
        from tradeopt_training import service
        from tradeopt_training.schemas import RunRead

        async def _get(session: AsyncSession) -> dict[str, Any]:
            run = await service.get_run(session, uuid.UUID(run_id))
            return RunRead.model_validate(run).model_dump(mode="json")

        return self._uow(_get, f"GET /runs/{run_id}")  # type: ignore[no-any-return]

    def cancel_run(self, run_id: str) -> None:
        """Cancel the run (one that has ended already is left alone)."""
        from tradeopt_training import service

        with contextlib.suppress(TrainingRefused):
            self._uow(
                lambda s: service.cancel_run(s, self.dispatcher, uuid.UUID(run_id)),
                f"POST /runs/{run_id}/cancel",
            )

    def record_study(self, model_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
        """Record the study's outcome in the model's lineage."""
        from tradeopt_training import service
        from tradeopt_training.schemas import ModelStudyUpdate

        body = ModelStudyUpdate.model_validate(outcome)

        async def _record(session: AsyncSession) -> dict[str, Any]:
            model = await service.record_study_outcome(
                session, self.store, uuid.UUID(model_id), body
            )
            return {"id": str(model.id)}

        return self._uow(_record, f"PUT /models/{model_id}/study")  # type: ignore[no-any-return]

    def add_alias(self, model_id: str, alias: str, note: str | None = None) -> dict[str, Any]:
        """Give the model ``alias`` in the registry (as ``PATCH /api/v1/models/{id}`` does),
        keeping its other aliases.
        """
        from tradeopt_training import service
        from tradeopt_training.schemas import ModelUpdate

        async def _alias(session: AsyncSession) -> dict[str, Any]:
            model = await service.get_model(session, uuid.UUID(model_id))
            aliases = list(model.aliases or [])
            if alias not in aliases:
                body = ModelUpdate(
                    aliases=sorted({*aliases, alias}), note=(note or "")[:500] or None
                )
                model = await service.update_model(
                    session, model.id, body, changed_by=self.created_by
                )
            return {"id": str(model.id), "aliases": list(model.aliases or [])}

        return self._uow(_alias, f"PATCH /models/{model_id}")  # type: ignore[no-any-return]

    def close(self) -> None:
        """Nothing to release."""
