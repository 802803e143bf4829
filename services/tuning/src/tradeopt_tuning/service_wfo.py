"""Walk-forward optimisation rules and state; called by its routes and by its job (no FastAPI,
no Celery). An optimisation follows its job through :data:`WALK_FORWARD`; its folds' studies are
ordinary studies of this service (:func:`tradeopt_tuning.service.create_study`), created by the
job with ids derived from the optimisation's, so they are listed in ``/api/v1/studies`` too.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.contracts.datasets import DatasetManifest, read_manifest
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
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.base import ArtifactNotFound
from tradeopt_ml.data import FoldSpec, Panel, read_bars_parquet, walk_forward
from tradeopt_ml.tuning.walkforward import in_sample_window
from tradeopt_tuning import service
from tradeopt_tuning.errors import WalkForwardNotReady, WalkForwardStateConflict
from tradeopt_tuning.models import Study, StudyStatus, WalkForwardOptimization
from tradeopt_tuning.repository import WalkForwardRepository
from tradeopt_tuning.schemas import StudyCreate
from tradeopt_tuning.schemas_wfo import WalkForwardCreate

RESOURCE = "walk_forward_optimization"

#: The optimisation's stored results (``walk-forward-optimizations/{id}/{name}``).
ARTIFACTS = ("equity.json", "report.html")


class WalkForwardUpdate(TypedDict, total=False):
    """The optimisation fields its job writes."""

    progress: float
    folds: list[dict[str, Any]]
    metrics: dict[str, Any]
    benchmarks: dict[str, Any]
    statistics: dict[str, Any]
    stability: dict[str, Any]
    bars: dict[str, Any]


#: An optimisation follows its job (``waiting`` while its folds' studies run).
WALK_FORWARD: ResourceBinding[WalkForwardOptimization, WalkForwardUpdate] = register_binding(
    ResourceBinding(
        resource_type=RESOURCE,
        model=WalkForwardOptimization,
        patch=WalkForwardUpdate,
        statuses=statuses_by_name(StudyStatus),
        kinds=(TaskName.TUNING_OPTIMIZE_WALK_FORWARD,),
        started_field="started_at",
        finished_field="finished_at",
        progress_field="progress",
    )
)


def artifact_key(optimization_id: uuid.UUID, name: str) -> str:
    """Object key of one of an optimisation's stored results (``name`` from :data:`ARTIFACTS`)."""
    if name not in ARTIFACTS:
        raise ValueError(name)
    return f"walk-forward-optimizations/{optimization_id}/{name}"


def _field_error(loc: Sequence[str], msg: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}


def fold_study_id(optimization_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of fold ``index``'s study (derived: a retried job step finds the study it made)."""
    return uuid.uuid5(optimization_id, f"fold-{index}")


def load_panel(
    store: ArtifactStore, manifest: DatasetManifest, symbols: list[str] | None
) -> tuple[pd.DataFrame, Panel]:
    """The dataset's bars and the panel of ``symbols`` (ValueError for unknown symbols)."""
    with tempfile.TemporaryDirectory(prefix="tradeopt-wfo-") as tmp:
        path = Path(tmp) / "bars.parquet"
        store.download_file(manifest.bars_key, path)
        bars = read_bars_parquet(path)
    return bars, Panel.from_bars(bars, symbols=symbols)


def _iso(stamp: np.datetime64) -> str:
    return pd.Timestamp(stamp).tz_localize("UTC").isoformat()


def plan_folds(
    timestamps: np.ndarray, body: WalkForwardCreate, optimization_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The folds over the panel's ``timestamps`` (:func:`tradeopt_ml.data.walk_forward`), each
    with its in-sample window as its study's runs ask for it and its study's id; a 422 naming
    the field when the dataset cannot hold them.
    """
    spec = FoldSpec.model_validate(body.folds.model_dump())
    try:
        folds = walk_forward(timestamps, spec)
    except ValueError as exc:
        raise ValidationFailed(f"folds: {exc}", errors=[_field_error(["folds"], str(exc))]) from exc
    plan = []
    for fold in folds:
        try:
            window = in_sample_window(
                timestamps, (fold.train.start, fold.train.stop), body.validation_fraction
            )
        except ValueError as exc:
            msg = f"fold {fold.index}: {exc}"
            raise ValidationFailed(
                f"folds.train_bars: {msg}", errors=[_field_error(["folds", "train_bars"], msg)]
            ) from exc
        plan.append(
            {
                "index": fold.index,
                "in_sample": {
                    "start": window.start,
                    "end": window.validation_end,
                    "bars": fold.train.stop - fold.train.start,
                },
                "train_end": window.train_end,
                "out_of_sample": {
                    "start": _iso(timestamps[fold.test.start]),
                    "end": _iso(timestamps[fold.test.stop - 1]),
                    "bars": fold.test.stop - fold.test.start,
                },
                "study_id": str(fold_study_id(optimization_id, fold.index)),
            }
        )
    return plan


def fold_study_request(body: WalkForwardCreate, fold: dict[str, Any]) -> StudyCreate:
    """The study of one fold: the optimisation's study fields, trained from the in-sample
    window's start, validated on its tail (``split`` by dates).
    """
    return StudyCreate(
        dataset_id=body.dataset_id,
        algorithm=body.algorithm,
        n_trials=body.n_trials,
        parallelism=body.parallelism,
        timesteps_per_trial=body.timesteps_per_trial,
        objective=body.objective,
        search_space=body.search_space,
        seed=body.seed,
        sampler=body.sampler,
        pruner="none",
        env=body.env,
        split={"train_end": fold["train_end"], "validation_end": fold["in_sample"]["end"]},
        symbols=body.symbols,
        n_envs=body.n_envs,
        hyperparams=body.hyperparams,
        eval_every=body.eval_every,
        start=fold["in_sample"]["start"],
    )


async def create_optimization(
    session: AsyncSession,
    store: ArtifactStore,
    dispatcher: Dispatcher,
    body: WalkForwardCreate,
    *,
    created_by: str | None,
    max_attempts: int,
    max_trials: int,
    max_parallelism: int,
) -> WalkForwardOptimization:
    """Validate (the study fields as for a study, the folds against the dataset's bars), insert
    the optimisation with its planned folds and enqueue its job.
    """
    optimization_id = uuid.uuid4()
    manifest = await asyncio.to_thread(read_manifest, store, body.dataset_id)
    if manifest is None:
        raise ValidationFailed(
            f"dataset {body.dataset_id} does not exist or is not ready",
            errors=[_field_error(["dataset_id"], "unknown or not ready dataset")],
        )
    try:
        _, panel = await asyncio.to_thread(load_panel, store, manifest, body.symbols)
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[_field_error(["symbols"], str(exc))]) from exc
    plan = plan_folds(panel.timestamps, body, optimization_id)
    for fold in plan:  # the study fields, checked as POST /api/v1/studies checks them
        service.validate_study(
            fold_study_request(body, fold), max_trials=max_trials, max_parallelism=max_parallelism
        )
    optimization = WalkForwardOptimization(
        id=optimization_id,
        status=StudyStatus.QUEUED,
        dataset_id=body.dataset_id,
        dataset_checksum=manifest.checksum,
        algorithm=body.algorithm,
        objective=body.objective.model_dump(),
        seed=body.seed,
        n_folds=len(plan),
        request=body.model_dump(mode="json"),
        folds=plan,
        metrics={},
        benchmarks={},
        statistics={},
        stability={},
        bars={},
        created_by=created_by,
    )
    await create_with_job(
        session,
        dispatcher,
        WALK_FORWARD,
        optimization,
        kind=TaskName.TUNING_OPTIMIZE_WALK_FORWARD,
        references=[Reference("dataset", body.dataset_id)],
        max_attempts=max_attempts,
        created_by=created_by,
    )
    return optimization


async def get_optimization(
    session: AsyncSession, optimization_id: uuid.UUID
) -> WalkForwardOptimization:
    """The optimisation, or :class:`WalkForwardNotFound`."""
    return await WalkForwardRepository(session).get_or_raise(optimization_id)


async def list_optimizations(
    session: AsyncSession, *, limit: int, cursor: str | None, **filters: object
) -> Page[WalkForwardOptimization]:
    """Optimisations, newest first; ``filters``: ``status``, ``dataset_id``, ``algorithm``."""
    return await WalkForwardRepository(session).page(limit=limit, cursor=cursor, **filters)


async def cancel_optimization(
    session: AsyncSession, dispatcher: Dispatcher, optimization_id: uuid.UUID
) -> WalkForwardOptimization:
    """Cancel an optimisation: its folds' studies (and their runs) are canceled with it (the
    cascade of parked parents). 409 once it has ended.
    """
    optimization = await get_optimization(session, optimization_id)
    if optimization.status not in (StudyStatus.QUEUED, StudyStatus.RUNNING, StudyStatus.WAITING):
        raise WalkForwardStateConflict(
            f"walk-forward optimisation {optimization_id} is {optimization.status}; "
            "it cannot be canceled"
        )
    assert optimization.job_id is not None  # an optimisation gets its job when it is created
    await jobs.request_cancel(session, optimization.job_id, dispatcher)
    await session.refresh(optimization)
    return optimization


def read_artifact(store: ArtifactStore, optimization: WalkForwardOptimization, name: str) -> bytes:
    """A stored result of a succeeded optimisation (409 before)."""
    if optimization.status != StudyStatus.SUCCEEDED:
        raise WalkForwardNotReady(
            f"walk-forward optimisation {optimization.id} is {optimization.status}; "
            "its results exist once it has succeeded"
        )
    try:
        return store.get_bytes(artifact_key(optimization.id, name))
    except ArtifactNotFound as exc:
        raise WalkForwardNotReady(
            f"walk-forward optimisation {optimization.id} has no {name}"
        ) from exc


# ---------------------------------------------------------------------------------------------
# the optimisation job's writes


async def create_fold_study(
    session: AsyncSession,
    store: ArtifactStore,
    dispatcher: Dispatcher,
    body: WalkForwardCreate,
    fold: dict[str, Any],
    *,
    created_by: str | None,
    max_attempts: int,
    max_trials: int,
    max_parallelism: int,
) -> Study:
    """Fold ``fold``'s study (created once: a retried step finds it by its derived id)."""
    study_id = uuid.UUID(fold["study_id"])
    existing = await session.get(Study, study_id)
    if existing is not None:
        return existing
    return await service.create_study(
        session,
        store,
        dispatcher,
        fold_study_request(body, fold),
        created_by=created_by,
        max_attempts=max_attempts,
        max_trials=max_trials,
        max_parallelism=max_parallelism,
        study_id=study_id,
    )


async def update_optimization(
    session: AsyncSession, optimization_id: uuid.UUID, values: WalkForwardUpdate
) -> None:
    """Record the optimisation's results (the typed updater of :data:`WALK_FORWARD`)."""
    await WALK_FORWARD.update(session, optimization_id, values)
