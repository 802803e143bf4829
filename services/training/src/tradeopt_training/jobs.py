"""The body of a ``training.train_run`` job, registered by kind for the worker's Celery task
(:mod:`tradeopt_training.tasks`) and in-process runs (it touches the database only through
:mod:`tradeopt_training.service`; the run's status follows the job through ``service.RUN``):
load the dataset, train with checkpoints uploaded to
object storage, resume from the newest complete checkpoint after a crash, register the model.
Every periodic evaluation (``eval_every``) is an intermediate report on the run's job
(``{"step": timesteps, "mean_reward", ...}``, :meth:`JobContext.report`), which wakes a study
parked on the run.

Object layout (DESIGN §7): ``runs/{id}/checkpoints/{timesteps:012d}/…`` (a ``COMPLETE`` marker is
written last, so a half-uploaded checkpoint is never resumed from), ``runs/{id}/tb/…`` (TensorBoard
event files), ``models/{id}/model.zip`` + ``model.json`` (lineage).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tradeopt_common.contracts.datasets import DatasetManifest, read_manifest
from tradeopt_common.contracts.models import (
    LINEAGE_VERSION,
    DatasetRef,
    LineageStudy,
    ModelChecksums,
    ModelLineage,
    lineage_key,
    model_key,
    write_lineage,
)
from tradeopt_common.db.base import utcnow
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobContext, job_function
from tradeopt_common.logging import get_logger
from tradeopt_common.storage import ArtifactStore, integrity
from tradeopt_common.storage.integrity import fetch_verified, put_recorded
from tradeopt_ml.data import read_bars_parquet
from tradeopt_ml.training import EvalRecord, ProgressInfo, TrainHooks, TrainingCanceled
from tradeopt_ml.training.experiment import (
    ExperimentResult,
    ExperimentSpec,
    prepare,
    run_experiment,
)
from tradeopt_training import metrics, service, tensorboard
from tradeopt_training.checkpoints import (
    COMPLETE,
    KEEP_CHECKPOINTS,
    checkpoint_prefix,
    complete_checkpoints,
)
from tradeopt_training.config import get_training_settings
from tradeopt_training.models import Model, TrainingRun

log = get_logger(__name__)


def model_id_for(run_id: uuid.UUID) -> uuid.UUID:
    """A run registers exactly one model; its id is derived from the run (idempotent retries)."""
    return uuid.uuid5(run_id, "model")


def code_version() -> str:
    """Package version plus the image's git revision when known."""
    try:
        base = version("tradeopt-ml")
    except PackageNotFoundError:  # pragma: no cover - editable installs always have metadata
        base = "unknown"
    revision = os.environ.get("TRADEOPT_REVISION") or os.environ.get("REVISION")
    return f"{base}+{revision}" if revision else base


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# checkpoints in object storage


def upload_checkpoint(ctx: JobContext, run_id: uuid.UUID, folder: Path, timesteps: int) -> str:
    """Upload a checkpoint folder and record its files' digests (they are unpickled on resume:
    :mod:`tradeopt_common.storage.integrity`); the ``COMPLETE`` marker goes last. Returns its
    prefix.
    """
    prefix = checkpoint_prefix(run_id, timesteps)
    digests = {
        prefix + path.relative_to(folder).as_posix(): put_recorded(
            ctx.store, prefix + path.relative_to(folder).as_posix(), path
        )
        for path in sorted(p for p in folder.rglob("*") if p.is_file())
    }
    ctx.db(lambda s: integrity.record_digests(s, digests))
    ctx.store.put_bytes(prefix + COMPLETE, str(timesteps).encode(), content_type="text/plain")
    _prune(ctx, run_id, keep=KEEP_CHECKPOINTS)
    return prefix


def _prune(ctx: JobContext, run_id: uuid.UUID, keep: int) -> None:
    done = complete_checkpoints(ctx.store, run_id)
    for step in done[:-keep]:
        prefix = checkpoint_prefix(run_id, step)
        ctx.store.delete_prefix(prefix)
        ctx.db(lambda s, p=prefix: integrity.forget_digests(s, p))  # type: ignore[misc]


def download_checkpoint(ctx: JobContext, run_id: uuid.UUID, step: int, target: Path) -> Path:
    """Fetch one complete checkpoint into ``target`` (a folder ``train`` can resume from), each
    file verified against the digest recorded when it was written (else
    :class:`~tradeopt_common.storage.integrity.UntrustedArtifact`: the job fails, nothing is
    loaded).
    """
    prefix = checkpoint_prefix(run_id, step)
    keys = [k for k in ctx.store.list_keys(prefix) if k[len(prefix) :] != COMPLETE]
    expected = ctx.db(lambda s: integrity.recorded_digests(s, keys))
    for key in keys:
        path = target / key[len(prefix) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        fetch_verified(ctx.store, key, path, expected)
    return target


def upload_folder(store: ArtifactStore, folder: Path, prefix: str) -> int:
    """Upload every file below ``folder`` under ``prefix``; returns the count."""
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        store.put_file(prefix + path.relative_to(folder).as_posix(), path)
        count += 1
    return count


# ---------------------------------------------------------------------------------------------
# the job


@job_function(TaskName.TRAINING_TRAIN_RUN)
def train_run(ctx: JobContext) -> dict[str, Any]:
    """Train one run (see the module docstring)."""
    run_id = uuid.UUID(ctx.params["run_id"])
    run = ctx.db(lambda s: service.get_run(s, run_id))  # running: the claim moved it (service.RUN)
    spec = ExperimentSpec.model_validate(run.spec)
    store = ctx.store
    manifest = read_manifest(store, run.dataset_id)
    if manifest is None or manifest.checksum != run.dataset_checksum:
        raise ValidationFailed(
            f"dataset {run.dataset_id} is gone or changed since run {run_id} was created"
        )
    base = get_training_settings().training_workdir
    with tempfile.TemporaryDirectory(prefix=f"tradeopt-run-{run_id}-", dir=base) as tmp:
        workdir = Path(tmp)
        resume_from, resumed_at = _resume_point(ctx, run_id, workdir)
        # A resumed run reports where its checkpoint left off, never zero again.
        fraction = 0.95 * (resumed_at or 0) / spec.total_timesteps
        note = f"resuming from the checkpoint at {resumed_at} timesteps" if resumed_at else ""
        ctx.progress(fraction, note or "loading the dataset", force=True)
        store.download_file(manifest.bars_key, workdir / "bars.parquet")
        bars = read_bars_parquet(workdir / "bars.parquet")
        try:
            data = prepare(bars, spec)
        except ValueError as exc:
            raise ValidationFailed(f"the dataset cannot support this run: {exc}") from exc
        hooks = _hooks(ctx, run, spec)
        metrics.CHECKPOINT_AGE.touch(str(run_id))
        start = time.monotonic()
        try:
            result = run_experiment(
                bars, spec, workdir / "train", hooks, resume_from, prepared=data
            )
        except TrainingCanceled:
            ctx.check()  # raises JobCanceled / JobLost
            raise
        finally:
            metrics.CHECKPOINT_AGE.forget(str(run_id))
        ctx.progress(0.97, "registering the model", force=True)
        tb_files = upload_folder(
            store, result.train.tensorboard_dir, tensorboard.tensorboard_prefix(run_id)
        )
        model = _register(ctx, run, spec, result, manifest)
    elapsed = time.monotonic() - start
    run_metrics = {
        "validation": result.validation,
        "eval_history": [e.to_dict() for e in result.train.eval_history],
        "steps_per_s": round(result.train.steps_per_s, 1),
        "train_seconds": round(elapsed, 3),
        "final": result.train.final_metrics,
    }
    done = service.RunUpdate(
        metrics=run_metrics,
        model_id=model.id,
        timesteps=result.train.timesteps,
        resumed_from=resumed_at,
    )
    ctx.db(lambda s: service.update_run(s, run_id, done))
    return {
        "run_id": str(run_id),
        "model_id": str(model.id),
        "timesteps": result.train.timesteps,
        "resumed_from": resumed_at,
        "tensorboard_files": tb_files,
    }


def _resume_point(
    ctx: JobContext, run_id: uuid.UUID, workdir: Path
) -> tuple[Path | None, int | None]:
    steps = complete_checkpoints(ctx.store, run_id)
    if not steps:
        return None, None
    step = steps[-1]
    folder = download_checkpoint(ctx, run_id, step, workdir / "resume" / f"ckpt_{step}")
    log.info("training.resume", run_id=str(run_id), timesteps=step, attempt=ctx.job.attempts)
    return folder, step


def _hooks(ctx: JobContext, run: TrainingRun, spec: ExperimentSpec) -> TrainHooks:
    run_id = run.id
    scale = 0.95  # the last 5% cover validation and registration

    def on_progress(info: ProgressInfo) -> None:
        live = {
            "timesteps": info.timesteps,
            "total": info.total,
            "steps_per_s": round(info.steps_per_s, 1),
            "eta_s": None if info.eta_s is None else round(info.eta_s, 1),
            "recent_episode_reward": info.recent_episode_reward,
        }
        metrics.STEPS_PER_SECOND.labels(spec.algorithm).set(info.steps_per_s)
        message = f"{info.timesteps}/{info.total} timesteps, {info.steps_per_s:.0f} steps/s"
        if info.eta_s is not None:
            message += f", ETA {info.eta_s:.0f}s"
        if info.recent_episode_reward is not None:
            message += f", recent episode reward {info.recent_episode_reward:.4g}"
        update = service.RunUpdate(
            progress=info.fraction * scale, timesteps=info.timesteps, live=live
        )
        ctx.db(lambda s: service.update_run(s, run_id, update))
        ctx.progress(info.fraction * scale, message)

    def should_stop() -> bool:
        return ctx.cancel_event.is_set() or ctx.lost_event.is_set()

    def on_checkpoint(path: Path, timesteps: int) -> None:
        upload_checkpoint(ctx, run_id, path, timesteps)
        metrics.CHECKPOINT_AGE.touch(str(run_id))
        log.info("training.checkpoint", run_id=str(run_id), timesteps=timesteps)

    def on_eval(record: EvalRecord) -> None:
        # An intermediate report on the run's job: a study parked on this run wakes and asks
        # its pruner (the tuning service reads reports from the shared job table).
        ctx.report(
            record.timesteps,
            mean_reward=record.mean_reward,
            std_reward=record.std_reward,
            mean_ep_length=record.mean_ep_length,
        )

    return TrainHooks(
        on_progress=on_progress,
        should_stop=should_stop,
        on_checkpoint=on_checkpoint,
        on_eval=on_eval,
        heartbeat=lambda: None,  # the job runtime's heartbeat thread covers it
    )


def _register(
    ctx: JobContext,
    run: TrainingRun,
    spec: ExperimentSpec,
    result: ExperimentResult,
    manifest: DatasetManifest,
) -> Model:
    model_id = model_id_for(run.id)
    registered = ctx.db(lambda s: service.find_model(s, model_id))
    if registered is not None:  # a retry after registration: never overwrite served files
        return registered
    path = Path(result.model_path)
    checksum = _sha256(path)
    size = path.stat().st_size
    artifact_key = model_key(model_id)
    lineage_key_ = lineage_key(model_id)
    study = None
    if run.study_id is not None and run.trial_number is not None:
        study = LineageStudy(
            study_id=run.study_id,
            trial_number=run.trial_number,
            n_trials=None,
            trials_sharpe_variance=None,
        )
    lineage = ModelLineage(
        **dict(result.lineage),
        lineage_version=LINEAGE_VERSION,
        model_id=model_id,
        run_id=run.id,
        dataset=DatasetRef(id=run.dataset_id, checksum=manifest.checksum, symbols=manifest.symbols),
        code_version=code_version(),
        checksums=ModelChecksums(
            sha256=checksum, size=size, artifact="best" if result.train.best_model_path else "final"
        ),
        validation=result.validation,
        created_at=utcnow(),
        study=study,
    )
    digest = put_recorded(ctx.store, artifact_key, path, content_type="application/zip")
    ctx.db(lambda s: integrity.record_digests(s, {artifact_key: digest}))  # loaders verify it
    write_lineage(ctx.store, lineage)  # last: a lineage exists only for a stored model

    model = Model(
        id=model_id,
        run_id=run.id,
        dataset_id=run.dataset_id,
        algorithm=spec.algorithm,
        params=spec.hyperparams,
        seed=spec.seed,
        checksum=checksum,
        size=size,
        artifact_key=artifact_key,
        lineage_key=lineage_key_,
        lineage=lineage.model_dump(mode="json"),
        metrics={"validation": result.validation},
        study_id=run.study_id,
    )
    return ctx.db(lambda s: service.register_model(s, model))
