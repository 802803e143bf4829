"""Run and model rules and state transitions; called by routes and by the job body in
``jobs`` (no FastAPI, no Celery). A run follows its training job through :data:`RUN`, a
declared :class:`~tradeopt_common.jobs.resources.ResourceBinding`.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time
from typing import Any, TypedDict

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.contracts.datasets import DatasetManifest, read_manifest
from tradeopt_common.contracts.models import StudyOutcome, read_lineage, write_lineage
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.locks import lock_for_transaction
from tradeopt_common.db.repository import Page
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.resources import (
    Reference,
    ResourceBinding,
    create_with_job,
    register_binding,
    statuses_by_name,
)
from tradeopt_common.references import guard_deletion, record_deletion
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.base import ObjectInfo
from tradeopt_common.storage.cleanup import delete_prefix_after_commit
from tradeopt_ml.training import ExperimentSpec, validate_experiment
from tradeopt_training import tensorboard
from tradeopt_training.checkpoints import Checkpoint, list_checkpoints
from tradeopt_training.errors import (
    CheckpointNotFound,
    ModelNotFound,
    ModelStateConflict,
    ModelStudyConflict,
    RunEventFilesConflict,
    RunStateConflict,
)
from tradeopt_training.models import Model, ModelStage, ModelStageChange, RunStatus, TrainingRun
from tradeopt_training.repository import ModelRepository, RunRepository
from tradeopt_training.schemas import ModelUpdate, RunCreate

RESOURCE = "run"


class RunUpdate(TypedDict, total=False):
    """The run fields a training job writes while it trains and when it has registered a model."""

    progress: float
    timesteps: int
    live: dict[str, Any]
    metrics: dict[str, Any]
    model_id: uuid.UUID
    resumed_from: int | None


#: A run follows its ``training.train_run`` job.
RUN: ResourceBinding[TrainingRun, RunUpdate] = register_binding(
    ResourceBinding(
        resource_type=RESOURCE,
        model=TrainingRun,
        patch=RunUpdate,
        # a training job never parks
        statuses=statuses_by_name(RunStatus, waiting=RunStatus.RUNNING),
        kinds=(TaskName.TRAINING_TRAIN_RUN,),
        started_field="started_at",
        finished_field="finished_at",
        progress_field="progress",
    )
)


def _errors(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *(str(p) for p in e["loc"])], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def experiment_spec(
    body: RunCreate,
    *,
    torch_threads: int,
    max_timesteps: int,
    default_checkpoint_every: int | None = None,
) -> ExperimentSpec:
    """The library spec of a run request; 422 naming the field for anything invalid."""
    if body.total_timesteps > max_timesteps:
        raise ValidationFailed(
            f"total_timesteps {body.total_timesteps} exceeds this deployment's limit "
            f"{max_timesteps}",
            errors=[
                {"loc": ["body", "total_timesteps"], "msg": "too large", "type": "value_error"}
            ],
        )
    env = dict(body.env)
    features = env.pop("features", None)
    raw = {
        "algorithm": body.algorithm,
        "hyperparams": body.hyperparams,
        "total_timesteps": body.total_timesteps,
        "seed": body.seed,
        "n_envs": body.n_envs,
        "symbols": body.symbols,
        "start": body.start,
        "env": env,
        "features": features,
        "split": body.split,
        "checkpoint_every": body.checkpoint_every or default_checkpoint_every,
        "eval_every": body.eval_every,
        "eval_episodes": body.eval_episodes,
        "device": body.device,
        "torch_threads": torch_threads,
    }
    try:
        spec = ExperimentSpec.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        errors = []
        for e in _errors(exc, ()):
            # ``features`` is given inside ``env`` in the request (DESIGN §3.1)
            prefix = ["body", "env"] if e["loc"][:1] == ["features"] else ["body"]
            errors.append({**e, "loc": [*prefix, *e["loc"]]})
        summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        raise ValidationFailed(summary, errors=errors) from exc
    if spec.total_timesteps % spec.n_envs:
        raise ValidationFailed(
            f"total_timesteps must be a multiple of n_envs ({spec.n_envs})",
            errors=[{"loc": ["body", "total_timesteps"], "msg": "not a multiple of n_envs"}],
        )
    problems = validate_experiment(spec)
    if problems:
        errors = [{**e, "loc": ["body", *e["loc"]]} for e in problems]
        if errors[0]["loc"] == ["body", "algorithm"]:
            summary = errors[0]["msg"]
        else:
            summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        raise ValidationFailed(summary, errors=errors)
    return spec


def dataset_fit_errors(spec: ExperimentSpec, manifest: DatasetManifest) -> list[dict[str, Any]]:
    """What the dataset cannot support, found from its manifest before anything is queued:
    a start after its last bar, split dates outside its bars, an observation window or an
    episode longer than the bars the training part can hold (issue 16 #21). The job's exact
    split check still runs (embargo, every part non-empty); this catches the plain mistakes as
    a 422 naming the field instead of a failed run.
    """
    errors: list[dict[str, Any]] = []

    def refuse(loc: list[str], msg: str) -> None:
        errors.append({"loc": ["body", *loc], "msg": msg, "type": "value_error"})

    if spec.start is not None and manifest.outside(spec.start):
        refuse(["start"], f"outside the dataset's bars ({manifest.span()})")
    for name in manifest.split_dates_outside(spec.split):
        refuse(["split", name], f"outside the dataset's bars ({manifest.span()})")
    train = _training_bars(spec, manifest)
    if spec.env.window + 2 > train * SLACK:
        refuse(
            ["env", "window"],
            f"a window of {spec.env.window} bars needs at least {spec.env.window + 2} training "
            f"bars; the training part holds about {train} of the dataset's "
            f"{manifest.bars_per_symbol()} bars per symbol",
        )
    length = spec.env.episode_length
    if length is not None and length > train * SLACK:
        refuse(
            ["env", "episode_length"],
            f"episodes of {length} bars exceed the dataset's training part (about {train} bars)",
        )
    return errors


#: Bars are estimated from the manifest (uniform in time): refuse only what is clearly too long.
SLACK = 1.1


def _training_bars(spec: ExperimentSpec, manifest: DatasetManifest) -> int:
    """About how many bars per symbol the training part holds (from ``start`` to the split's
    train end, by date or fraction), assuming bars spread evenly over the dataset's span.
    """
    first, last = (
        (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
        for t in (manifest.start, manifest.end)
    )
    begin = max(first, spec.start.timestamp()) if spec.start is not None else first
    if spec.split.train_end is not None:
        bound = spec.split.train_end
        if not isinstance(bound, datetime):
            bound = datetime.combine(bound, time(0), UTC)
        stop = min(last, bound.timestamp())
    else:
        stop = begin + (last - begin) * (spec.split.train or 0.7)
    share = max(0.0, stop - begin) / max(last - first, 1.0)
    return int(manifest.bars_per_symbol() * share)


async def create_run(
    session: AsyncSession,
    store: ArtifactStore,
    dispatcher: Dispatcher,
    body: RunCreate,
    *,
    torch_threads: int,
    max_timesteps: int,
    created_by: str | None,
    max_attempts: int,
    default_checkpoint_every: int | None = None,
) -> TrainingRun:
    """Validate, record the dataset reference, insert the run and enqueue its job."""
    spec = experiment_spec(
        body,
        torch_threads=torch_threads,
        max_timesteps=max_timesteps,
        default_checkpoint_every=default_checkpoint_every,
    )
    manifest = await asyncio.to_thread(read_manifest, store, body.dataset_id)
    if manifest is None:
        raise ValidationFailed(
            f"dataset {body.dataset_id} does not exist or is not ready",
            errors=[{"loc": ["body", "dataset_id"], "msg": "unknown or not ready dataset"}],
        )
    fit = dataset_fit_errors(spec, manifest)
    if fit:
        summary = "; ".join(f"{'.'.join(e['loc'][1:])}: {e['msg']}" for e in fit)
        raise ValidationFailed(summary, errors=fit)
    unknown = sorted(set(spec.symbols or []) - set(manifest.symbols))
    if unknown:
        raise ValidationFailed(
            f"symbol(s) not in dataset {body.dataset_id}: {', '.join(unknown)}",
            errors=[{"loc": ["body", "symbols"], "msg": "unknown symbol"}],
        )
    run = TrainingRun(
        id=uuid.uuid4(),
        status=RunStatus.QUEUED,
        dataset_id=body.dataset_id,
        dataset_checksum=manifest.checksum,
        algorithm=spec.algorithm,
        seed=spec.seed,
        total_timesteps=spec.total_timesteps,
        spec=spec.model_dump(mode="json"),
        study_id=body.study_id,
        trial_number=body.trial_number,
        created_by=created_by,
    )
    await create_with_job(
        session,
        dispatcher,
        RUN,
        run,
        kind=TaskName.TRAINING_TRAIN_RUN,
        references=[Reference("dataset", body.dataset_id)],
        max_attempts=max_attempts,
        created_by=created_by,
    )
    return run


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> TrainingRun:
    """The run, or :class:`RunNotFound`."""
    return await RunRepository(session).get_or_raise(run_id)


async def list_runs(
    session: AsyncSession, *, limit: int, cursor: str | None, **filters: object
) -> Page[TrainingRun]:
    """Runs, newest first; ``filters``: ``status``, ``dataset_id``, ``algorithm``, ``study_id``
    (see :meth:`RepositoryBase.page`).
    """
    return await RunRepository(session).page(limit=limit, cursor=cursor, **filters)


async def cancel_run(
    session: AsyncSession, dispatcher: Dispatcher, run_id: uuid.UUID
) -> TrainingRun:
    """Cancel a queued or running run (409 once it has finished)."""
    run = await get_run(session, run_id)
    if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) or run.job_id is None:
        raise RunStateConflict(f"run {run_id} is {run.status}; only queued or running runs cancel")
    await jobs.request_cancel(session, run.job_id, dispatcher)
    await session.refresh(run)
    return run


async def delete_run(session: AsyncSession, store: ArtifactStore, run_id: uuid.UUID) -> None:
    """Delete a finished run with its checkpoints and event files (after commit); its dataset
    reference goes with it. 409 while it is queued or running (cancel it first) and while its
    registered model exists (delete the model first). The job record stays (history).
    """
    run = await RunRepository(session).get_or_raise(run_id, for_update=True)
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        raise RunStateConflict(
            f"run {run_id} is {run.status}; cancel it (POST /api/v1/runs/{run_id}/cancel) first"
        )
    models = await ModelRepository(session).of_run(run_id)
    if models:
        listed = ", ".join(str(m.id) for m in models)
        raise RunStateConflict(
            f"run {run_id} registered model {listed}; delete the model first",
            referrers=[{"type": "model", "id": str(m.id)} for m in models],
        )
    await guard_deletion(session, "run", run_id)
    await RunRepository(session).delete(run)
    await record_deletion(session, "run", run_id)
    await delete_prefix_after_commit(session, store, f"runs/{run_id}/")


async def update_run(session: AsyncSession, run_id: uuid.UUID, values: RunUpdate) -> None:
    """Record what a training job measured or produced (the typed updater of :data:`RUN`); a
    run deleted meanwhile is ignored.
    """
    await RUN.update(session, run_id, values)


# ---------------------------------------------------------------------------------------------
# models


async def get_model(session: AsyncSession, model_id: uuid.UUID) -> Model:
    """The model, or :class:`ModelNotFound`."""
    return await ModelRepository(session).get_or_raise(model_id)


async def model_history(session: AsyncSession, model_id: uuid.UUID) -> list[ModelStageChange]:
    """A model's stage history, oldest first."""
    return await ModelRepository(session).history(model_id)


async def list_models(
    session: AsyncSession, *, limit: int, cursor: str | None, alias: str | None, **filters: object
) -> Page[Model]:
    """Models, newest first; ``alias`` selects the one model holding it, ``filters``: ``stage``,
    ``algorithm``, ``dataset_id`` (see :meth:`RepositoryBase.page`).
    """
    repo = ModelRepository(session)
    if alias is not None:
        return Page(items=await repo.with_alias(alias), next_cursor=None)
    return await repo.page(limit=limit, cursor=cursor, **filters)


async def update_model(
    session: AsyncSession, model_id: uuid.UUID, body: ModelUpdate, *, changed_by: str | None
) -> Model:
    """Change stage and/or aliases; every change is recorded in the model's history. Alias
    changes are serialised (one named lock), so two concurrent requests can never leave one
    alias on two models (nor deadlock on each other's rows).
    """
    if body.aliases is not None:
        await lock_for_transaction(session, "training.model-aliases")
    repo = ModelRepository(session)
    model = await repo.get_or_raise(model_id, for_update=True)
    if body.stage is None and body.aliases is None:
        raise ValidationFailed("give 'stage' and/or 'aliases'")
    aliases = sorted(set(body.aliases)) if body.aliases is not None else list(model.aliases)
    for alias in aliases:
        for other in await repo.with_alias(alias):
            if other.id == model.id:
                continue
            other.aliases = [a for a in other.aliases if a != alias]
            session.add(
                ModelStageChange(
                    model_id=other.id,
                    from_stage=other.stage,
                    to_stage=other.stage,
                    aliases=list(other.aliases),
                    note=f"alias {alias!r} moved to model {model.id}",
                    changed_by=changed_by,
                )
            )
    previous = model.stage
    model.stage = body.stage or model.stage
    model.aliases = aliases
    model.updated_at = utcnow()
    session.add(
        ModelStageChange(
            model_id=model.id,
            from_stage=previous,
            to_stage=model.stage,
            aliases=list(aliases),
            note=body.note,
            changed_by=changed_by,
        )
    )
    await session.flush()
    return model


async def delete_model(session: AsyncSession, store: ArtifactStore, model_id: uuid.UUID) -> None:
    """Delete a registered model: its row, history, aliases and files (after commit). 409 while
    evaluations or strategies reference it (delete those first) and while it is in
    ``production`` (archive it first). Its run stays, without a model.
    """
    model = await ModelRepository(session).get_or_raise(model_id, for_update=True)
    if model.stage == ModelStage.PRODUCTION:
        raise ModelStateConflict(
            f"model {model_id} is in production; move it to 'archived' (PATCH) before deleting"
        )
    users = await guard_deletion(session, "model", model_id)
    if users:
        listed = ", ".join(f"{r.type} {r.id}" for r in users)
        raise ModelStateConflict(
            f"model {model_id} is still used by {listed}; delete those first",
            referrers=[{"type": r.type, "id": str(r.id)} for r in users],
        )
    run = await RunRepository(session).get(model.run_id, for_update=True)
    if run is not None and run.model_id == model_id:
        run.model_id = None
    prefix = f"models/{model_id}/"
    await ModelRepository(session).delete_with_history(model)
    await record_deletion(session, "model", model_id, referrer=False)
    await delete_prefix_after_commit(session, store, prefix)


async def record_study_outcome(
    session: AsyncSession, store: ArtifactStore, model_id: uuid.UUID, outcome: StudyOutcome
) -> Model:
    """Record a finished study's outcome (trial count, variance of the trials' Sharpe ratios) in
    the lineage of one of its trials' models, so evaluations report its deflated Sharpe ratio.

    Rewrites ``model.json`` through the one lineage writer and mirrors it on the model row.
    Recording again replaces the outcome (a study that ran more trials).

    Raises:
        ModelNotFound: unknown model.
        ModelStudyConflict: the model was not trained as that trial of that study.
    """
    model = await ModelRepository(session).get_or_raise(model_id, for_update=True)
    lineage = await asyncio.to_thread(read_lineage, store, model_id)
    if lineage is None:  # pragma: no cover - a registered model always has its lineage
        raise ModelNotFound(f"model {model_id} has no lineage")
    if lineage.study is None:
        raise ModelStudyConflict(f"model {model_id} was not trained as a trial of a study")
    try:
        study = lineage.study.with_outcome(outcome)
    except ValueError as exc:
        raise ModelStudyConflict(f"model {model_id}: {exc}") from exc
    updated = lineage.model_copy(update={"study": study})
    await asyncio.to_thread(write_lineage, store, updated)
    model.lineage = updated.model_dump(mode="json")
    model.updated_at = utcnow()
    await session.flush()
    return model


async def find_model(session: AsyncSession, model_id: uuid.UUID) -> Model | None:
    """The model if it is registered (a retried training job checks before writing files)."""
    return await ModelRepository(session).get(model_id)


async def register_model(session: AsyncSession, model: Model) -> Model:
    """Register a newly trained model with its first history entry. Ids are deterministic per
    run, so a retry after the model was registered gets the stored row back unchanged.
    """
    existing = await ModelRepository(session).get(model.id)
    if existing is not None:
        return existing
    session.add(model)
    await session.flush()
    session.add(register_stage(model))
    await session.flush()
    return model


def register_stage(model: Model) -> ModelStageChange:
    """The first history entry of a newly registered model."""
    return ModelStageChange(
        model_id=model.id,
        from_stage=None,
        to_stage=ModelStage.CANDIDATE,
        aliases=[],
        note="registered by its training run",
    )


def run_event_files(store: ArtifactStore, run: TrainingRun) -> list[ObjectInfo]:
    """The run's TensorBoard event files in object storage; 409 when it has none (they are
    uploaded when training ends, so a queued, running, failed or canceled run has none).
    """
    objects = tensorboard.event_objects(store, run.id)
    if not objects:
        when = (
            "it has not finished training"
            if run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
            else "none were stored"
        )
        raise RunEventFilesConflict(
            f"run {run.id} is {run.status} and has no TensorBoard event files: {when} "
            "(they are uploaded when training ends)",
            run_status=str(run.status),
        )
    return objects


def run_checkpoints(store: ArtifactStore, run: TrainingRun) -> list[Checkpoint]:
    """The run's complete checkpoints in object storage, ascending by step (none before its
    first checkpoint; the training job keeps the newest few).
    """
    return list_checkpoints(store, run.id)


def run_checkpoint(store: ArtifactStore, run: TrainingRun, step: int) -> Checkpoint:
    """The run's complete checkpoint at ``step`` (404 when there is none)."""
    for checkpoint in list_checkpoints(store, run.id):
        if checkpoint.step == step:
            return checkpoint
    raise CheckpointNotFound(
        f"run {run.id} has no complete checkpoint at step {step} (GET "
        f"/api/v1/runs/{run.id}/checkpoints lists the ones kept)"
    )
