"""Evaluation rules and state transitions; called by routes and by the job bodies (no FastAPI,
no Celery). An evaluation follows its job through :data:`EVALUATION`, a declared
:class:`~tradeopt_common.jobs.resources.ResourceBinding`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.contracts.datasets import DatasetManifest, assume_utc, read_manifest
from tradeopt_common.contracts.models import read_lineage
from tradeopt_common.db.repository import Page
from tradeopt_common.errors import ValidationFailed
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
from tradeopt_common.storage.base import ArtifactNotFound
from tradeopt_common.storage.cleanup import delete_prefix_after_commit
from tradeopt_evaluation.errors import EvaluationNotReady, EvaluationStateConflict
from tradeopt_evaluation.models import Evaluation, EvaluationStatus
from tradeopt_evaluation.repository import EvaluationRepository
from tradeopt_evaluation.schemas import (
    EvaluationCompare,
    EvaluationCreate,
    WalkForwardEvaluationCreate,
)

if TYPE_CHECKING:
    from tradeopt_ml.evaluation import EvaluationReport  # arch, scipy: only the job needs them

RESOURCE = "evaluation"
ARTIFACTS = ("equity.json", "trades.json", "report.html")


class EvaluationUpdate(TypedDict, total=False):
    """The evaluation fields its job writes (results)."""

    metrics: dict[str, Any]
    benchmarks: dict[str, Any]
    statistics: dict[str, Any]
    diagnostics: dict[str, Any]
    cost_sensitivity: list[dict[str, Any]]
    comparison: list[dict[str, Any]]
    verdicts: dict[str, Any]
    bars: dict[str, Any]
    start: datetime
    end: datetime


#: An evaluation follows its job (single/compare or walk-forward).
EVALUATION: ResourceBinding[Evaluation, EvaluationUpdate] = register_binding(
    ResourceBinding(
        resource_type=RESOURCE,
        model=Evaluation,
        patch=EvaluationUpdate,
        statuses=statuses_by_name(EvaluationStatus),
        kinds=(TaskName.EVALUATION_EVALUATE, TaskName.EVALUATION_WALK_FORWARD),
        finished_field="finished_at",
    )
)


def artifact_key(evaluation_id: uuid.UUID, name: str) -> str:
    """Object key of one of an evaluation's stored results (``name`` from :data:`ARTIFACTS`)."""
    if name not in ARTIFACTS:
        raise ValueError(name)
    return f"evaluations/{evaluation_id}/{name}"


def _field_error(field: str, msg: str) -> dict[str, Any]:
    """A 422 ``errors`` item for a body field (``a.b`` for a nested one)."""
    return {"loc": ["body", *field.split(".")], "msg": msg, "type": "value_error"}


async def _check_models(store: ArtifactStore, model_ids: list[uuid.UUID]) -> None:
    for model_id in model_ids:
        if await asyncio.to_thread(read_lineage, store, model_id) is None:
            raise ValidationFailed(
                f"model {model_id} does not exist",
                errors=[_field_error("model_id", "unknown model")],
            )


def _check_range(manifest: DatasetManifest, start: datetime | None, end: datetime | None) -> None:
    """A date range must overlap the dataset's bars (422 naming the bound otherwise)."""
    if start is not None and start > assume_utc(manifest.end):
        raise ValidationFailed(
            f"start is after the dataset's last bar ({manifest.span()})",
            errors=[_field_error("start", f"after the dataset's bars ({manifest.span()})")],
        )
    if end is not None and end < assume_utc(manifest.start):
        raise ValidationFailed(
            f"end is before the dataset's first bar ({manifest.span()})",
            errors=[_field_error("end", f"before the dataset's bars ({manifest.span()})")],
        )


def _check_split_spec(manifest: DatasetManifest, body: object) -> None:
    """A baseline's ``split_spec`` dates must fall within the dataset's bars (422 naming the
    field); whether every part holds bars is the job's exact check.
    """
    spec = getattr(body, "split_spec", None)
    if spec is None:
        return
    bars = manifest.bars_per_symbol()
    errors = [
        _field_error(f"split_spec.{name}", f"outside the dataset's bars ({manifest.span()})")
        for name in manifest.split_dates_outside(spec)
    ]
    if spec.embargo >= bars:
        errors.append(_field_error("split_spec.embargo", f"at most {bars - 1} bars"))
    if errors:
        first = errors[0]
        raise ValidationFailed(f"{'.'.join(first['loc'][1:])}: {first['msg']}", errors=errors)


async def create_evaluation(
    session: AsyncSession,
    store: ArtifactStore,
    dispatcher: Dispatcher,
    body: EvaluationCreate | EvaluationCompare | WalkForwardEvaluationCreate,
    *,
    created_by: str | None,
    max_attempts: int,
) -> Evaluation:
    """Validate the subjects and the dataset, insert the evaluation and enqueue its job."""
    task = TaskName.EVALUATION_EVALUATE
    manifest = await asyncio.to_thread(read_manifest, store, body.dataset_id)
    if manifest is None:
        raise ValidationFailed(
            f"dataset {body.dataset_id} does not exist or is not ready",
            errors=[_field_error("dataset_id", "unknown or not ready dataset")],
        )
    part: str | None = getattr(body, "split", None)
    start, end = getattr(body, "start", None), getattr(body, "end", None)
    if isinstance(body, WalkForwardEvaluationCreate):
        model_ids, kind, subjects = [], "walk_forward", ["walk_forward"]
        model_id, baseline, part = None, None, None
        start, end = body.folds.start, body.folds.end
        task = TaskName.EVALUATION_WALK_FORWARD
    elif isinstance(body, EvaluationCompare):
        model_ids, kind = list(body.model_ids), "compare"
        subjects = [f"model:{m}" for m in model_ids] + [f"baseline:{b}" for b in body.baselines]
        model_id, baseline = None, None
    else:
        model_ids = [body.model_id] if body.model_id else []
        kind = "single"
        subjects = [f"model:{body.model_id}" if body.model_id else f"baseline:{body.baseline}"]
        model_id, baseline = body.model_id, body.baseline
    await _check_models(store, model_ids)
    _check_range(manifest, start, end)
    _check_split_spec(manifest, body)
    evaluation = Evaluation(
        id=uuid.uuid4(),
        status=EvaluationStatus.QUEUED,
        kind=kind,
        dataset_id=body.dataset_id,
        dataset_checksum=manifest.checksum,
        model_id=model_id,
        baseline=baseline,
        subjects=subjects,
        part=part,
        start=start,
        end=end,
        cost_bps=body.cost_bps,
        slippage_bps=body.slippage_bps,
        request=body.model_dump(mode="json"),
        created_by=created_by,
    )
    await create_with_job(
        session,
        dispatcher,
        EVALUATION,
        evaluation,
        kind=task,
        references=[
            Reference("dataset", body.dataset_id),
            *(Reference("model", mid) for mid in model_ids),
        ],
        deadline=(
            timedelta(hours=body.deadline_hours)
            if isinstance(body, WalkForwardEvaluationCreate)
            else None
        ),
        max_attempts=max_attempts,
        created_by=created_by,
    )
    return evaluation


async def get_evaluation(session: AsyncSession, evaluation_id: uuid.UUID) -> Evaluation:
    """The evaluation, or :class:`EvaluationNotFound`."""
    return await EvaluationRepository(session).get_or_raise(evaluation_id)


async def list_evaluations(
    session: AsyncSession, *, limit: int, cursor: str | None, **filters: object
) -> Page[Evaluation]:
    """Evaluations, newest first; ``filters``: ``status``, ``dataset_id``, ``model_id`` (see
    :meth:`RepositoryBase.page`).
    """
    return await EvaluationRepository(session).page(limit=limit, cursor=cursor, **filters)


async def delete_evaluation(
    session: AsyncSession, store: ArtifactStore, evaluation_id: uuid.UUID
) -> None:
    """Delete a finished evaluation and its stored results (after commit); its references to
    the dataset and models go with it. 409 while it is queued, running or waiting (a walk-forward
    on its fold runs): cancel its job first.
    """
    repo = EvaluationRepository(session)
    evaluation = await repo.get_or_raise(evaluation_id, for_update=True)
    if evaluation.status in (
        EvaluationStatus.QUEUED,
        EvaluationStatus.RUNNING,
        EvaluationStatus.WAITING,
    ):
        raise EvaluationStateConflict(
            f"evaluation {evaluation_id} is {evaluation.status}; cancel its job "
            f"(POST /api/v1/jobs/{evaluation.job_id}/cancel) first"
        )
    await guard_deletion(session, "evaluation", evaluation_id)
    await repo.delete(evaluation)
    await record_deletion(session, "evaluation", evaluation_id)
    await delete_prefix_after_commit(session, store, f"evaluations/{evaluation_id}/")


def read_artifact(store: ArtifactStore, evaluation: Evaluation, name: str) -> bytes:
    """A stored result of a finished evaluation (409 before it has one)."""
    if evaluation.status != EvaluationStatus.SUCCEEDED:
        raise EvaluationNotReady(
            f"evaluation {evaluation.id} is {evaluation.status}; results exist once it succeeded"
        )
    try:
        return store.get_bytes(artifact_key(evaluation.id, name))
    except ArtifactNotFound as exc:
        raise EvaluationNotReady(f"evaluation {evaluation.id} has no {name}") from exc


def read_json_artifact(store: ArtifactStore, evaluation: Evaluation, name: str) -> Any:
    """A stored JSON result."""
    return json.loads(read_artifact(store, evaluation, name))


def store_report(store: ArtifactStore, evaluation_id: uuid.UUID, report: EvaluationReport) -> None:
    """Store an evaluation's series, trades and tear sheet (:data:`ARTIFACTS`)."""
    store.put_bytes(
        artifact_key(evaluation_id, "equity.json"),
        json.dumps(report.series).encode(),
        content_type="application/json",
    )
    store.put_bytes(
        artifact_key(evaluation_id, "trades.json"),
        json.dumps(report.trades).encode(),
        content_type="application/json",
    )
    store.put_bytes(
        artifact_key(evaluation_id, "report.html"),
        report.html.encode(),
        content_type="text/html",
    )


async def update_evaluation(
    session: AsyncSession, evaluation_id: uuid.UUID, values: EvaluationUpdate
) -> None:
    """Record an evaluation's results (the typed updater of :data:`EVALUATION`); an evaluation
    deleted meanwhile is ignored.
    """
    await EVALUATION.update(session, evaluation_id, values)
