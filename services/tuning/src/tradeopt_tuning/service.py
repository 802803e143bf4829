"""Study rules and state; called by routes and by the study job (no FastAPI, no Celery). A study
follows its job through :data:`STUDY`, a declared
:class:`~tradeopt_common.jobs.resources.ResourceBinding`; its trials are rows the job writes as
it asks Optuna, starts runs and records their ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.repository import Page
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.resources import (
    Reference,
    ResourceBinding,
    create_with_job,
    register_binding,
    statuses_by_name,
)
from tradeopt_common.storage import ArtifactStore
from tradeopt_ml.tuning import (
    MULTI_OBJECTIVE_SAMPLERS,
    SearchSpaceError,
    available_samplers,
    parse_search_space,
    space_to_json,
)
from tradeopt_tuning.errors import StudyStateConflict
from tradeopt_tuning.models import Study, StudyStatus, Trial, TrialState
from tradeopt_tuning.repository import StudyRepository, TrialRepository
from tradeopt_tuning.schemas import StudyCreate

RESOURCE = "study"


class StudyUpdate(TypedDict, total=False):
    """The study fields its job writes."""

    progress: float
    n_complete: int
    n_failed: int
    n_pruned: int
    n_running: int
    best_trial: dict[str, Any] | None
    best_model_id: uuid.UUID | None
    best_trials: list[dict[str, Any]] | None
    overfitting: dict[str, Any] | None


async def _close_trials(session: AsyncSession, job: Job, study: Study | None) -> None:
    """A study that ended without succeeding leaves no trial ``running`` (its runs were canceled
    with it); a resumed study tells Optuna so before it asks again.
    """
    if study is None or job.status == JobStatus.SUCCEEDED:
        return
    await session.execute(
        update(Trial)
        .where(Trial.study_id == study.id, Trial.state == TrialState.RUNNING)
        .values(
            state=TrialState.FAIL,
            error=f"the study was {job.status} while its run was active",
            finished_at=utcnow(),
        )
    )
    await session.execute(update(Study).where(Study.id == study.id).values(n_running=0))


#: A study follows its job (``waiting`` while its trials train).
STUDY: ResourceBinding[Study, StudyUpdate] = register_binding(
    ResourceBinding(
        resource_type=RESOURCE,
        model=Study,
        patch=StudyUpdate,
        statuses=statuses_by_name(StudyStatus),
        kinds=(TaskName.TUNING_RUN_STUDY,),
        started_field="started_at",
        finished_field="finished_at",
        progress_field="progress",
        after_end=_close_trials,
    )
)


def _field_error(loc: Sequence[str], msg: str, type_: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": type_}


def validate_study(body: StudyCreate, *, max_trials: int, max_parallelism: int) -> dict[str, Any]:
    """The study's parsed search space as JSON; 422 naming the field for anything invalid."""
    errors: list[dict[str, Any]] = []
    if body.n_trials > max_trials:
        errors.append(_field_error(["n_trials"], f"exceeds this deployment's limit {max_trials}"))
    if body.parallelism > max_parallelism:
        errors.append(
            _field_error(["parallelism"], f"exceeds this deployment's limit {max_parallelism}")
        )
    if body.sampler not in available_samplers():
        errors.append(
            _field_error(
                ["sampler"],
                f"sampler {body.sampler!r} is not available in this deployment; "
                f"available: {', '.join(available_samplers())}",
            )
        )
    multi = len(body.objective_list()) > 1
    if multi:
        if body.sampler not in MULTI_OBJECTIVE_SAMPLERS:
            usable = [s for s in MULTI_OBJECTIVE_SAMPLERS if s in available_samplers()]
            errors.append(
                _field_error(
                    ["sampler"],
                    f"sampler {body.sampler!r} cannot optimise several objectives; use one of "
                    f"{', '.join(usable)}",
                )
            )
        if body.pruner != "none":
            errors.append(
                _field_error(
                    ["pruner"],
                    f"pruner {body.pruner!r} needs a single objective (Optuna prunes only "
                    "single-objective studies); use pruner 'none' with several objectives",
                )
            )
    prunes = body.pruner != "none" and not multi  # a multi-objective pruner is refused above
    if prunes and body.eval_every is None:
        errors.append(
            _field_error(
                ["eval_every"],
                f"pruner {body.pruner!r} needs intermediate values: set eval_every (timesteps "
                "between the runs' validation evaluations), or use pruner 'none'",
            )
        )
    elif prunes and (body.eval_every or 0) >= body.timesteps_per_trial:
        errors.append(
            _field_error(
                ["eval_every"],
                f"must be below timesteps_per_trial ({body.timesteps_per_trial}) for pruner "
                f"{body.pruner!r} to see a value before a run ends",
            )
        )
    overlap = sorted(set(body.hyperparams) & set(body.search_space or {}))
    if overlap:
        errors.append(
            _field_error(["hyperparams"], f"fixed and searched at once: {', '.join(overlap)}")
        )
    space: dict[str, Any] = {}
    try:
        space = space_to_json(parse_search_space(body.algorithm, body.search_space))
    except SearchSpaceError as exc:
        errors.extend(
            {**e, "loc": ["body", "search_space", *(str(p) for p in e["loc"])]} for e in exc.errors
        )
    if errors:
        summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        raise ValidationFailed(summary, errors=errors)
    return space


async def create_study(
    session: AsyncSession,
    store: ArtifactStore,
    dispatcher: Dispatcher,
    body: StudyCreate,
    *,
    created_by: str | None,
    max_attempts: int,
    max_trials: int,
    max_parallelism: int,
    study_id: uuid.UUID | None = None,
) -> Study:
    """Validate, record the dataset reference, insert the study and enqueue its job
    (``study_id``: a chosen id, e.g. derived from a parent job, so its creation is idempotent).
    """
    space = validate_study(body, max_trials=max_trials, max_parallelism=max_parallelism)
    objectives = body.objective_list()
    manifest = await asyncio.to_thread(read_manifest, store, body.dataset_id)
    if manifest is None:
        raise ValidationFailed(
            f"dataset {body.dataset_id} does not exist or is not ready",
            errors=[_field_error(["dataset_id"], "unknown or not ready dataset")],
        )
    study = Study(
        id=study_id or uuid.uuid4(),
        status=StudyStatus.QUEUED,
        dataset_id=body.dataset_id,
        algorithm=body.algorithm,
        n_trials=body.n_trials,
        parallelism=body.parallelism,
        timesteps_per_trial=body.timesteps_per_trial,
        objective=objectives[0].model_dump(),
        objectives=[o.model_dump() for o in objectives],
        seed=body.seed,
        sampler=body.sampler,
        pruner=body.pruner,
        search_space=space,
        request=body.model_dump(mode="json"),
        created_by=created_by,
    )
    await create_with_job(
        session,
        dispatcher,
        STUDY,
        study,
        kind=TaskName.TUNING_RUN_STUDY,
        references=[Reference("dataset", body.dataset_id)],
        max_attempts=max_attempts,
        created_by=created_by,
    )
    return study


async def get_study(session: AsyncSession, study_id: uuid.UUID) -> Study:
    """The study, or :class:`StudyNotFound`."""
    return await StudyRepository(session).get_or_raise(study_id)


async def list_studies(
    session: AsyncSession, *, limit: int, cursor: str | None, **filters: object
) -> Page[Study]:
    """Studies, newest first; ``filters``: ``status``, ``dataset_id``, ``algorithm``."""
    return await StudyRepository(session).page(limit=limit, cursor=cursor, **filters)


async def list_trials(
    session: AsyncSession, study_id: uuid.UUID, state: str | None = None
) -> Sequence[Trial]:
    """A study's trials by number."""
    return await TrialRepository(session).of_study(study_id, state)


async def cancel_study(session: AsyncSession, dispatcher: Dispatcher, study_id: uuid.UUID) -> Study:
    """Cancel a study: no new trials; its running trial runs are canceled with it (the cascade
    of parked parents). 409 once it has ended.
    """
    study = await get_study(session, study_id)
    if study.status not in (StudyStatus.QUEUED, StudyStatus.RUNNING, StudyStatus.WAITING):
        raise StudyStateConflict(f"study {study_id} is {study.status}; it cannot be canceled")
    assert study.job_id is not None  # a study gets its job when it is created
    await jobs.request_cancel(session, study.job_id, dispatcher)
    await session.refresh(study)
    return study


async def resume_study(
    session: AsyncSession,
    dispatcher: Dispatcher,
    study_id: uuid.UUID,
    *,
    max_attempts: int,
    created_by: str | None,
) -> Study:
    """Continue a canceled or failed study with a new job, to ``n_trials`` complete trials;
    finished trials are kept (Optuna's storage and the trial rows), never re-run. 409 while it
    is active or while a run of its previous job is still stopping.
    """
    study = await get_study(session, study_id)
    if study.status not in (StudyStatus.CANCELED, StudyStatus.FAILED):
        raise StudyStateConflict(
            f"study {study_id} is {study.status}; only canceled or failed studies resume"
        )
    if study.job_id is not None:
        active = [c for c in await jobs.children(session, study.job_id) if not c.ended]
        if active:
            raise StudyStateConflict(
                f"{len(active)} trial run(s) of study {study_id} are still stopping; retry shortly"
            )
    job = await jobs.create_job(
        session,
        dispatcher,
        TaskName.TUNING_RUN_STUDY,
        params={"study_id": str(study.id)},
        resource_type=RESOURCE,
        resource_id=study.id,
        max_attempts=max_attempts,
        created_by=created_by,
    )
    study.job_id, study.status, study.error, study.finished_at = (
        job.id,
        StudyStatus.QUEUED,
        None,
        None,
    )
    await session.flush()
    return study


# ---------------------------------------------------------------------------------------------
# the study job's writes


async def add_trial(
    session: AsyncSession, study_id: uuid.UUID, number: int, params: dict[str, Any]
) -> Trial:
    """Record an asked trial (before its run is created; idempotent on ``number``)."""
    repo = TrialRepository(session)
    trial = await repo.by_number(study_id, number)
    if trial is None:
        trial = await repo.add(
            Trial(study_id=study_id, number=number, params=params, started_at=utcnow())
        )
    return trial


async def set_trial_run(
    session: AsyncSession, trial_id: uuid.UUID, run_id: uuid.UUID, run_job_id: uuid.UUID
) -> None:
    """Link a trial to its training run."""
    await session.execute(
        update(Trial).where(Trial.id == trial_id).values(run_id=run_id, run_job_id=run_job_id)
    )


@dataclass(frozen=True)
class TrialEnd:
    """How a trial ended."""

    state: TrialState
    value: float | None = None
    values: list[float] | None = None
    model_id: uuid.UUID | None = None
    metrics: dict[str, Any] | None = None
    error: str | None = None
    finished_at: datetime | None = None


async def set_intermediate_values(
    session: AsyncSession, trial_id: uuid.UUID, values: dict[str, float]
) -> None:
    """Record the intermediate values told to Optuna for a trial (``{str(step): value}``)."""
    await session.execute(
        update(Trial).where(Trial.id == trial_id).values(intermediate_values=values)
    )


async def end_trial(session: AsyncSession, trial_id: uuid.UUID, end: TrialEnd) -> None:
    """Record a trial's end."""
    await session.execute(
        update(Trial)
        .where(Trial.id == trial_id)
        .values(
            state=end.state,
            value=end.value,
            values=end.values,
            model_id=end.model_id,
            metrics=end.metrics or {},
            error=end.error,
            finished_at=end.finished_at or utcnow(),
        )
    )


async def update_study(session: AsyncSession, study_id: uuid.UUID, values: StudyUpdate) -> None:
    """Record the study's counters and best trial (the typed updater of :data:`STUDY`)."""
    await STUDY.update(session, study_id, values)


async def get_job_status(session: AsyncSession, job_id: uuid.UUID) -> Job:
    """A job of any service (the trial runs' jobs are shared records)."""
    return await jobs.get_job(session, job_id)
