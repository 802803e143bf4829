"""Job-backed resources: a resource (dataset, training run, evaluation, …) whose lifecycle follows
the job that computes it, *declared* once per resource instead of an end hook per service.

A service declares a :class:`ResourceBinding` next to its ORM model and registers it for the job
kinds that compute that resource::

    class RunUpdate(TypedDict, total=False):       # what the job body may write
        progress: float
        timesteps: int
        live: dict[str, Any]

    RUN = register_binding(
        ResourceBinding(
            resource_type="run",
            model=TrainingRun,
            patch=RunUpdate,
            statuses={JobStatus.QUEUED: "queued", JobStatus.RUNNING: "running", …},
            kinds=(TaskName.TRAINING_TRAIN_RUN,),
            started_field="started_at",
            finished_field="finished_at",
            progress_field="progress",
        )
    )

The common job code then applies it **in the same transaction as every job transition** it makes:
claim (→ ``running``), park (→ ``waiting``), finish, cancel of a queued or waiting job, and the
reaper's fail/cancel. A process that does not know the binding (the reaper running in another
service's worker, or a child's worker waking a parent) leaves the resource alone and, for
terminal transitions, sends the owning queue's ``<svc>.job_ended`` message, whose handler applies
the binding in the owning service (idempotent: it writes the same values again).

Three things replace the hand-written copies in each service:

- :func:`apply_job_status` — the status/error/timestamps mirror (the old ``on_*_end`` hooks);
- :meth:`ResourceBinding.update` — one typed updater for the fields a job body writes (one
  ``UPDATE`` with the keys of the binding's ``patch`` TypedDict, checked against it);
- :func:`create_with_job` — insert row → resource references → job → flush.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.db.base import Base, utcnow
from tradeopt_common.jobs.models import TERMINAL_STATUSES, Job, JobStatus

ModelT = TypeVar("ModelT", bound=Base)
PatchT = TypeVar("PatchT", bound=Mapping[str, Any])

#: Extra work after a job's terminal transition was mirrored on its resource (same transaction),
#: e.g. deleting a rejected upload. Receives the session, the ended job and the resource (``None``
#: when it no longer exists).
AfterEnd = Callable[[AsyncSession, Job, Any], Awaitable[None]]


def statuses_by_name(resource_statuses: type[StrEnum], **job_status: str) -> dict[JobStatus, str]:
    """``ResourceBinding.statuses`` of a resource whose statuses share the job's names (``queued``,
    ``running``, …): each job status maps to the resource status of the same name, except those
    given as ``job_status`` (``statuses_by_name(RunStatus, waiting=RunStatus.RUNNING)``).
    """
    return {
        status: job_status[status.value]
        if status.value in job_status
        else resource_statuses(status.value)
        for status in JobStatus
    }


@dataclass(frozen=True)
class ResourceBinding(Generic[ModelT, PatchT]):
    """How one kind of resource follows its job.

    Attributes:
        resource_type: The name used in ``job.resource_type`` and ``core.resource_reference``.
        model: The ORM class of the resource (with an ``id`` primary key).
        patch: A ``TypedDict`` naming the fields a job body may write through :meth:`update`.
        statuses: ``{JobStatus: resource status}`` for every job status (also ``waiting``).
        kinds: Job kinds (task names) whose job drives this resource.
        status_field: The resource's status column.
        error_field: Where the job's error goes when it ends (``None``: nowhere).
        job_id_field: Where the job's id is recorded at creation (``None``: nowhere).
        started_field: Set on the first claim when not set yet (``None``: nowhere).
        finished_field: Set when the job ends (``None``: nowhere).
        progress_field: Set to ``1.0`` when the job succeeds (``None``: nowhere).
        after_end: Optional extra step after a terminal transition (see :data:`AfterEnd`).
    """

    resource_type: str
    model: type[ModelT]
    patch: type[PatchT]
    statuses: Mapping[JobStatus, str]
    kinds: tuple[str, ...]
    status_field: str = "status"
    error_field: str | None = "error"
    job_id_field: str | None = "job_id"
    started_field: str | None = None
    finished_field: str | None = "finished_at"
    progress_field: str | None = None
    after_end: AfterEnd | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        missing = set(JobStatus) - set(self.statuses)
        if missing:
            names = ", ".join(sorted(missing))
            raise ValueError(f"binding {self.resource_type!r} maps no resource status for {names}")
        columns = set(self.model.__table__.columns.keys())
        named = [
            self.status_field,
            self.error_field,
            self.job_id_field,
            self.started_field,
            self.finished_field,
            self.progress_field,
            *self.patch.__annotations__,
        ]
        unknown = sorted({n for n in named if n is not None} - columns)
        if unknown:
            raise ValueError(f"{self.model.__name__} has no column(s) {', '.join(unknown)}")

    async def get(self, session: AsyncSession, resource_id: uuid.UUID) -> ModelT | None:
        """The resource, freshly read (``None`` when it does not exist)."""
        return await session.get(self.model, resource_id, populate_existing=True)

    async def update(self, session: AsyncSession, resource_id: uuid.UUID, patch: PatchT) -> bool:
        """Write ``patch`` (fields of the binding's ``patch`` TypedDict) to the resource in one
        ``UPDATE``. Returns whether the resource exists. Only flushes.
        """
        allowed = self.patch.__annotations__
        unknown = sorted(set(patch) - set(allowed))
        if unknown:
            raise ValueError(f"{self.patch.__name__} has no field(s) {', '.join(unknown)}")
        if not patch:
            return await self.get(session, resource_id) is not None
        return await self._write(session, resource_id, dict(patch))

    async def _write(
        self, session: AsyncSession, resource_id: uuid.UUID, values: dict[str, Any]
    ) -> bool:
        pk = self.model.id  # type: ignore[attr-defined]
        stmt = (
            update(self.model)
            .where(pk == resource_id)
            .values(**values)
            .returning(pk)
            .execution_options(synchronize_session="fetch")
        )
        return (await session.execute(stmt)).scalar_one_or_none() is not None


_BINDINGS: dict[str, ResourceBinding[Any, Any]] = {}


def register_binding(binding: ResourceBinding[ModelT, PatchT]) -> ResourceBinding[ModelT, PatchT]:
    """Make ``binding`` known to this process for each of its job kinds; returns it."""
    for kind in binding.kinds:
        existing = _BINDINGS.get(kind)
        if existing is not None and existing is not binding and existing != binding:
            raise ValueError(f"job kind {kind!r} is already bound to {existing.resource_type!r}")
        _BINDINGS[kind] = binding
    return binding


def binding_for(kind: str) -> ResourceBinding[Any, Any] | None:
    """The binding of a job kind, if this process imported the service that declares it."""
    return _BINDINGS.get(kind)


async def apply_job_status(session: AsyncSession, job: Job) -> bool:
    """Mirror ``job``'s current status on its resource, in the caller's transaction.

    Returns ``False`` when this process knows no binding for the job's kind (the caller then
    notifies the owning service for terminal transitions); ``True`` otherwise, including when the
    job has no resource or the resource no longer exists.
    """
    binding = binding_for(job.kind)
    if binding is None:
        return False
    if job.resource_id is None:
        return True
    status = JobStatus(job.status)
    now = utcnow()
    values: dict[str, Any] = {binding.status_field: binding.statuses[status]}
    column = binding.model.__table__.c
    if status == JobStatus.RUNNING and binding.started_field:
        values[binding.started_field] = func.coalesce(column[binding.started_field], now)
    if status in TERMINAL_STATUSES:
        if binding.error_field:
            values[binding.error_field] = job.error
        if binding.finished_field:
            values[binding.finished_field] = now
        if status == JobStatus.SUCCEEDED and binding.progress_field:
            values[binding.progress_field] = 1.0
    if "updated_at" in column:
        values["updated_at"] = now
    exists = await binding._write(session, job.resource_id, values)
    if status in TERMINAL_STATUSES and binding.after_end is not None:
        resource = await binding.get(session, job.resource_id) if exists else None
        await binding.after_end(session, job, resource)
    return True


@dataclass(frozen=True)
class Reference:
    """``(resource_type, resource_id)`` the new resource depends on (a dataset, a model, …)."""

    resource_type: str
    resource_id: uuid.UUID


async def create_with_job(
    session: AsyncSession,
    dispatcher: Any,
    binding: ResourceBinding[ModelT, Any],
    resource: ModelT,
    *,
    kind: str,
    references: Iterable[Reference] = (),
    params: dict[str, Any] | None = None,
    max_attempts: int = 3,
    created_by: str | None = None,
    parent_id: uuid.UUID | None = None,
    deadline: timedelta | None = None,
) -> Job:
    """The one create path of a job-backed resource: insert the row, record what it references
    (``core.resource_reference``), insert its ``queued`` job (published after commit) and link
    them. ``params`` default to ``{"<resource_type>_id": "<id>"}``. Only flushes.
    """
    from tradeopt_common.jobs import service as jobs
    from tradeopt_common.references import add_reference

    if kind not in binding.kinds:
        raise ValueError(f"job kind {kind!r} does not drive {binding.resource_type!r} resources")
    if getattr(resource, "id", None) is None:
        resource.id = uuid.uuid4()  # type: ignore[attr-defined]
    resource_id: uuid.UUID = resource.id  # type: ignore[attr-defined]
    session.add(resource)
    await session.flush()
    for ref in references:
        await add_reference(
            session, ref.resource_type, ref.resource_id, binding.resource_type, resource_id
        )
    job = await jobs.create_job(
        session,
        dispatcher,
        kind,
        params=params if params is not None else {f"{binding.resource_type}_id": str(resource_id)},
        resource_type=binding.resource_type,
        resource_id=resource_id,
        max_attempts=max_attempts,
        created_by=created_by,
        parent_id=parent_id,
        deadline=deadline,
    )
    if binding.job_id_field:
        setattr(resource, binding.job_id_field, job.id)
    await session.flush()
    return job
