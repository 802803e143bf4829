"""The body of the tuning service's job, registered by kind for the worker's Celery task
(:mod:`tradeopt_tuning.tasks`) and in-process runs. It touches our database only through
:mod:`tradeopt_tuning.service`, the training service only through its API, and Optuna through
its storage (:mod:`tradeopt_tuning.storage`), which holds the sampler's state.

``tuning.run_study`` is a parked parent job that keeps up to ``parallelism`` trials training. Each
run of the function is one idempotent step:

1. **Record ended trials.** For every trial row still ``running``: the run's intermediate
   reports (its job's ``reports``, one per evaluation, :meth:`JobContext.report`) not yet told
   are told to Optuna (``Trial.report``, see :func:`intermediate_values`) and recorded on the row.
   While the run trains and the study has a pruner, ``should_prune()`` is asked: on a yes the
   trial is told ``PRUNED`` (Optuna keeps the last intermediate value), recorded ``pruned`` and
   its run is canceled through the training API; the study waits until that run has stopped.
   For a run that ended: a succeeded run's objective (:func:`tradeopt_ml.tuning.objective_value`
   of its validation metrics) is told as ``COMPLETE``; a failed or canceled run, or one without
   the metric, is ``FAIL`` with its error (the study goes on). A trial Optuna already holds
   ``PRUNED`` (a step that stopped after telling) is recorded pruned. Optuna trials left
   ``RUNNING`` with no running row (a crash between ask and record, or a canceled study being
   resumed) are told ``FAIL``.
2. **Ask and start.** While fewer than ``parallelism`` trials run and ``counted + running <
   n_trials`` (:func:`counted`: complete trials and trials the pruner stopped, as in Optuna's
   ``optimize(n_trials=...)``): ask Optuna (the sampler seeded from the study's seed and the trial
   number, so the same seed and history give the same parameters), record the trial row, then
   create its run with ``POST /api/v1/runs`` tagged ``study_id``/``trial_number`` and
   ``Idempotency-Key: study-{id}-trial-{n}`` (a retried step finds the run it started). Sampled
   values that break a rule between hyperparameters (PPO's batch size must divide the rollout)
   are refused before training: Optuna ``PRUNED``, the row ``pruned`` without a run; they do not
   count toward ``n_trials`` (they count as failed trials).
3. **Park** on the running runs' jobs (and pruned runs still stopping) with
   ``ctx.wait_for(ids, wake="any")``: the study is ``waiting``, holds no worker, and is woken as
   soon as one trial's run ends — or, with a pruner, reports an evaluation it has not seen
   (``reports_seen``).
4. **Finish** once ``n_trials`` trials are complete or pruned and no run is active: record the
   study outcome on every complete trial's model (``PUT /api/v1/models/{id}/study`` with the
   number of trials that trained — complete plus pruned — and the variance of the complete
   trials' validation Sharpe ratios, the deflated Sharpe ratio's inputs) and the best trial on
   the study; the best trial's model gets the registry alias ``study-<first 8 hex digits of
   the study id>-best`` (:func:`best_model_alias`).

**Several objectives.** The Optuna study has ``directions``; a complete trial is told the list of
its objectives' values (:func:`tradeopt_ml.tuning.objective_values`) and the row keeps them in
``values`` (``value``: the first). There is no pruner and no intermediate value (Optuna supports
neither with several objectives), and no single best trial: the study records its Pareto front
(:func:`pareto_trials`) as ``best_trials`` and every member's model gets the alias
``study-<id8>-pareto-<trial number>`` (:func:`pareto_model_alias`). The study block on the trial
models is unchanged: its variance is of the trials' validation Sharpe, whatever the objectives.

Canceling the study's job cancels the adopted run jobs (cascade); runs created in a step that
had not parked yet are canceled here.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeopt_common.clients.training import TrainingClient, TrainingRefused
from tradeopt_common.db.base import utcnow
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs.models import TERMINAL_STATUSES, Job, JobStatus
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobCanceled, JobContext, job_function
from tradeopt_common.logging import get_logger
from tradeopt_ml.agents.registry import validate_hyperparams
from tradeopt_ml.tuning import (
    Objective,
    ObjectiveUnavailable,
    make_pruner,
    make_sampler,
    nsga2_population,
    objective_values,
    parse_search_space,
    to_hyperparams,
    to_optuna,
)
from tradeopt_ml.tuning.results import pareto_front
from tradeopt_tuning import metrics, service
from tradeopt_tuning.config import TuningSettings, get_tuning_settings
from tradeopt_tuning.models import Study, Trial, TrialState
from tradeopt_tuning.overfitting import study_overfitting
from tradeopt_tuning.service import StudyUpdate, TrialEnd
from tradeopt_tuning.storage import get_storage, study_name

if TYPE_CHECKING:
    import optuna

log = get_logger(__name__)


def trial_run_body(study: Study, number: int, params: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /api/v1/runs`` body of trial ``number`` with its sampled ``params``."""
    request = study.request
    body: dict[str, Any] = {
        "dataset_id": str(study.dataset_id),
        "algorithm": study.algorithm,
        "total_timesteps": study.timesteps_per_trial,
        "seed": study.seed,
        "n_envs": request.get("n_envs", 1),
        "env": request.get("env") or {},
        "split": request.get("split") or {},
        "hyperparams": {**(request.get("hyperparams") or {}), **to_hyperparams(params)},
        "study_id": str(study.id),
        "trial_number": number,
    }
    for key in ("symbols", "eval_every", "start"):
        if request.get(key) is not None:
            body[key] = request[key]
    return body


def load_optuna_study(settings: TuningSettings, study: Study) -> optuna.Study:
    """The study's Optuna study in its storage (created on the first step)."""
    import optuna

    return optuna.create_study(
        storage=get_storage(settings.optuna_url()),
        study_name=study_name(study.id),
        directions=[o.direction for o in study.objective_list],
        sampler=make_sampler(study.sampler, study.seed),
        pruner=make_pruner(study.pruner),
        load_if_exists=True,
    )


def _sampler_for(study: Study, number: int) -> optuna.samplers.BaseSampler:
    # Every step builds its sampler afresh, so it is seeded per trial: the same seed and the
    # same history give the same parameters, and each trial draws its own. QMC keeps one seed
    # (its scramble) and indexes its sequence by the trial number itself.
    seed = study.seed if study.sampler == "qmc" else study.seed * 1_000_003 + number
    return make_sampler(
        study.sampler,
        seed,
        n_startup_trials=min(10, study.n_trials),
        population_size=nsga2_population(study.n_trials),
    )


def _tell(opt: optuna.Study, number: int, state: TrialState, values: list[float] | None) -> None:
    """Tell Optuna a trial's end once (a repeated step finds it told already); a complete
    trial's ``values``: one per objective.
    """
    import optuna

    frozen = opt.get_trials(deepcopy=False)[number]
    if frozen.state != optuna.trial.TrialState.RUNNING:
        return
    if state == TrialState.COMPLETE:
        assert values is not None, "a complete trial has its objectives' values"
        opt.tell(number, values[0] if len(values) == 1 else values)
    elif state == TrialState.PRUNED:
        opt.tell(number, state=optuna.trial.TrialState.PRUNED)
    else:
        opt.tell(number, state=optuna.trial.TrialState.FAIL)


def _run_end(
    ctx: JobContext,
    client: TrainingClient,
    trial: Trial,
    objectives: list[Objective],
    job: Job,
) -> TrialEnd:
    """How the trial's ended run ``job`` ended: complete with every objective's value, or
    ``FAIL`` (the run did not succeed, or lacks one of the objectives' metrics).
    """
    run_id = trial.run_id
    if job.status != JobStatus.SUCCEEDED:
        return TrialEnd(
            TrialState.FAIL, error=f"run {run_id} {job.status}: {job.error or job.message}"
        )
    run = client.get_run(str(run_id))
    model_id = uuid.UUID(run["model_id"]) if run.get("model_id") else None
    metrics = run.get("metrics") or {}
    try:
        values = objective_values(metrics, objectives)
    except ObjectiveUnavailable as exc:
        return TrialEnd(TrialState.FAIL, model_id=model_id, error=str(exc))
    validation = metrics.get("validation") or {}
    return TrialEnd(
        TrialState.COMPLETE,
        value=values[0],
        values=values,
        model_id=model_id,
        metrics=validation,
    )


def intermediate_values(
    reports: list[dict[str, Any]], objective: Objective, known: dict[str, Any] | None = None
) -> dict[str, float]:
    """``{str(step): value}`` of a run's reports (``known`` first: a value once told is kept):
    the evaluation's mean validation episode reward, negated for a minimize objective (Optuna's
    pruners compare intermediate values in the study's direction). Non-finite values are left out.
    """
    sign = 1.0 if objective.direction == "maximize" else -1.0
    values = {str(k): float(v) for k, v in (known or {}).items()}
    for entry in reports:
        reward = entry.get("mean_reward")
        if isinstance(reward, bool) or not isinstance(reward, int | float):
            continue
        if math.isfinite(float(reward)):
            values.setdefault(str(int(entry["step"])), sign * float(reward))
    return values


def _pruned(study: Study, values: dict[str, float]) -> TrialEnd:
    step = max((int(k) for k in values), default=0)
    last = values.get(str(step))
    return TrialEnd(
        TrialState.PRUNED,
        error=f"pruned by the {study.pruner} pruner at {step} timesteps "
        f"(intermediate value {last})",
    )


def _follow(
    ctx: JobContext, study: Study, opt: optuna.Study, trial: Trial, job: Job, *, ask: bool
) -> TrialEnd | None:
    """Tell Optuna the run's new intermediate values (recorded on the trial row) and, when
    ``ask``, whether to prune: a :class:`TrialEnd` ``PRUNED`` (told to Optuna, whose value is
    then the last intermediate one), else ``None``. A trial Optuna already holds ``PRUNED`` (a
    step that stopped after telling) is pruned again without asking.
    """
    import optuna

    if study.multi_objective:  # Optuna takes no intermediate values then (and never prunes)
        return None
    objective = Objective.model_validate(study.objective)
    known = dict(trial.intermediate_values or {})
    values = intermediate_values(list(job.reports or []), objective, known)
    frozen = opt.get_trials(deepcopy=False)[trial.number]
    prune = frozen.state == optuna.trial.TrialState.PRUNED
    if frozen.state == optuna.trial.TrialState.RUNNING and values:
        handle = optuna.trial.Trial(opt, frozen._trial_id)
        for step in sorted(values, key=int):
            if int(step) not in frozen.intermediate_values:
                handle.report(values[step], int(step))
        prune = ask and handle.should_prune()
        if prune:
            opt.tell(trial.number, state=optuna.trial.TrialState.PRUNED)
    if values != known:
        trial.intermediate_values = values
        ctx.db(lambda s: service.set_intermediate_values(s, trial.id, values))
    return _pruned(study, values) if prune else None


def _record_ended(
    ctx: JobContext, client: TrainingClient, study: Study, opt: optuna.Study
) -> tuple[list[Trial], list[Trial], dict[uuid.UUID, int]]:
    """Step 1 (see the module docstring). Returns the trials still running, the pruned trials
    whose runs are still stopping (their cancel is asked again: idempotent), and how many
    reports of each running trial's run this step has handled.
    """
    import optuna

    objectives = study.objective_list
    pruning = study.pruner != "none"
    rows = list(ctx.db(lambda s: service.list_trials(s, study.id)))
    running: list[Trial] = []
    stopping: list[Trial] = []
    seen: dict[uuid.UUID, int] = {}
    for trial in rows:
        run_job_id = trial.run_job_id
        if trial.state == TrialState.PRUNED and run_job_id is not None:
            job = ctx.db(lambda s, j=run_job_id: service.get_job_status(s, j))  # type: ignore[misc]
            if job.status not in TERMINAL_STATUSES:
                client.cancel_run(str(trial.run_id))
                stopping.append(trial)
            continue
        if trial.state != TrialState.RUNNING:
            continue
        if run_job_id is None:
            running.append(trial)
            continue
        job = ctx.db(lambda s, j=run_job_id: service.get_job_status(s, j))  # type: ignore[misc]
        active = job.status not in TERMINAL_STATUSES
        end = _follow(ctx, study, opt, trial, job, ask=pruning and active)
        if end is None and active:
            seen[run_job_id] = len(job.reports or [])
            running.append(trial)
            continue
        if end is None:
            end = _run_end(ctx, client, trial, objectives, job)
        _tell(opt, trial.number, end.state, end.values)
        ctx.db(lambda s, t=trial, e=end: service.end_trial(s, t.id, e))  # type: ignore[misc]
        if end.state == TrialState.PRUNED and active:
            # stop its training now; the study waits until it has stopped
            client.cancel_run(str(trial.run_id))
            stopping.append(trial)
        metrics.TRIALS_ENDED.labels(str(end.state)).inc()
        log.info(
            "trial.ended",
            study_id=str(study.id),
            number=trial.number,
            state=end.state,
            value=end.value,
            values=end.values,
            error=end.error,
        )
    live = {t.number for t in running}
    for frozen in opt.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if frozen.number not in live:
            opt.tell(frozen.number, state=optuna.trial.TrialState.FAIL)
    return running, stopping, seen


def _start_run(ctx: JobContext, client: TrainingClient, study: Study, trial: Trial) -> Trial:
    """Create (once) the training run of a recorded trial and link it."""
    body = trial_run_body(study, trial.number, trial.params)
    try:
        run = client.create_run(body, f"study-{study.id}-trial-{trial.number}")
    except TrainingRefused as exc:
        # The same request with other values of the searched hyperparameters: a request the
        # training service refuses is the study's problem, not the trial's.
        raise ValidationFailed(f"trial {trial.number}: {exc.detail}") from exc
    run_id, job_id = uuid.UUID(run["id"]), uuid.UUID(run["job_id"])
    ctx.db(lambda s: service.set_trial_run(s, trial.id, run_id, job_id))
    trial.run_id, trial.run_job_id = run_id, job_id
    return trial


def _job_of(trial: Trial) -> uuid.UUID:
    assert trial.run_job_id is not None, "the trial's run was started"
    return trial.run_job_id


def _ask(ctx: JobContext, study: Study, opt: optuna.Study) -> Trial | None:
    """Ask Optuna for the next trial and record it; ``None`` when its values are invalid
    together (told ``PRUNED``, recorded as such).
    """
    space = parse_search_space(study.algorithm, study.search_space)
    number = len(opt.get_trials(deepcopy=False))
    opt.sampler = _sampler_for(study, number)
    asked = opt.ask(to_optuna(space))
    assert asked.number == number
    params = dict(asked.params)
    trial = ctx.db(lambda s: service.add_trial(s, study.id, number, params))
    fixed = study.request.get("hyperparams") or {}
    try:
        validate_hyperparams(
            study.algorithm,
            {**fixed, **to_hyperparams(params)},
            n_envs=study.request.get("n_envs", 1),
        )
    except ValueError as exc:
        _tell(opt, number, TrialState.PRUNED, None)
        end = TrialEnd(TrialState.PRUNED, error=f"invalid combination: {exc}")
        ctx.db(lambda s: service.end_trial(s, trial.id, end))
        metrics.TRIALS_ENDED.labels(str(TrialState.PRUNED)).inc()
        return None
    return trial


def pruned_by_pruner(trial: Trial) -> bool:
    """A trial the pruner stopped during training (it has a run; it counts toward
    ``n_trials``), as opposed to one refused before training (no run; it does not count).
    """
    return trial.state == TrialState.PRUNED and trial.run_id is not None


def counted(trials: list[Trial]) -> int:
    """Trials that count toward ``n_trials``: complete ones and those the pruner stopped (as in
    Optuna's ``optimize(n_trials=...)``, where a pruned trial is a finished trial).
    """
    return sum(t.state == TrialState.COMPLETE or pruned_by_pruner(t) for t in trials)


def _outcome(study: Study, trials: list[Trial], opt: optuna.Study) -> StudyUpdate:
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if pruned_by_pruner(t)]
    failed = [
        t
        for t in trials
        if t.state == TrialState.FAIL or (t.state == TrialState.PRUNED and t.run_id is None)
    ]
    running = [t for t in trials if t.state == TrialState.RUNNING]
    best: dict[str, Any] | None = None
    best_model: uuid.UUID | None = None
    front: list[dict[str, Any]] | None = None
    if study.multi_objective:
        front = pareto_trials(study, complete)
    elif complete:
        reverse = Objective.model_validate(study.objective).direction == "maximize"
        sign = -1.0 if reverse else 1.0
        top = min(complete, key=lambda t: (sign * (t.value or 0.0), t.number))
        best = {
            "number": top.number,
            "params": top.params,
            "value": top.value,
            "model_id": str(top.model_id) if top.model_id else None,
        }
        best_model = top.model_id
    return StudyUpdate(
        n_complete=len(complete),
        n_failed=len(failed),
        n_pruned=len(pruned),
        n_running=len(running),
        best_trial=best,
        best_model_id=best_model,
        best_trials=front,
        progress=round(0.02 + 0.93 * (len(complete) + len(pruned)) / study.n_trials, 4),
    )


def pareto_trials(study: Study, complete: list[Trial]) -> list[dict[str, Any]]:
    """The Pareto front of a multi-objective study's complete trials (by number), each with
    its values, model and the model's registry alias (:func:`pareto_model_alias`).
    """
    directions = [o.direction for o in study.objective_list]
    scored = [t for t in complete if t.values is not None and len(t.values) == len(directions)]
    members = pareto_front([list(t.values or ()) for t in scored], directions)
    return [
        {
            "number": t.number,
            "params": t.params,
            "values": t.values,
            "model_id": str(t.model_id) if t.model_id else None,
            "alias": pareto_model_alias(study.id, t.number) if t.model_id else None,
        }
        for t in (scored[i] for i in members)
    ]


def sharpe_variance(trials: list[Trial]) -> float:
    """Variance (ddof 1) of the complete trials' validation Sharpe ratios (0 for fewer than two
    or without values): the deflated Sharpe ratio's ``V[SR]``.
    """
    values = [
        float(t.metrics["sharpe"])
        for t in trials
        if t.state == TrialState.COMPLETE and isinstance(t.metrics.get("sharpe"), int | float)
    ]
    if len(values) < 2:
        return 0.0
    variance = float(np.var(values, ddof=1))
    return variance if np.isfinite(variance) else 0.0


def _observe_duration(study: Study, status: str) -> None:
    """``tradeopt_tuning_study_duration_seconds{status}`` of a study ending now."""
    began = study.started_at or study.created_at
    if began is not None:
        now = utcnow()
        if began.tzinfo is None:  # SQLite returns naive UTC
            began = began.replace(tzinfo=now.tzinfo)
        metrics.STUDY_DURATION.labels(status).observe(max(0.0, (now - began).total_seconds()))


def best_model_alias(study_id: uuid.UUID) -> str:
    """The model registry alias of a study's best model (moves if a resumed study finds a
    better one).
    """
    return f"study-{study_id.hex[:8]}-best"


def pareto_model_alias(study_id: uuid.UUID, number: int) -> str:
    """The model registry alias of the model of trial ``number`` on a multi-objective study's
    Pareto front (the trial number, not a rank: a resumed study adds members without renaming
    the others).
    """
    return f"study-{study_id.hex[:8]}-pareto-{number}"


@job_function(TaskName.TUNING_RUN_STUDY)
def run_study(
    ctx: JobContext,
    client: TrainingClient | None = None,
    *,
    settings: TuningSettings | None = None,
) -> dict[str, Any]:
    """Run a study (see the module docstring)."""
    settings = settings or get_tuning_settings()
    study_id = uuid.UUID(ctx.params["study_id"])
    study = ctx.db(lambda s: service.get_study(s, study_id))
    own_client = client is None
    client = client or TrainingClient.from_settings(settings)
    started: list[Trial] = []
    try:
        opt = load_optuna_study(settings, study)
        running, stopping, seen = _record_ended(ctx, client, study, opt)
        for trial in running:
            if trial.run_job_id is None:  # recorded, then the step stopped before its run
                started.append(_start_run(ctx, client, study, trial))
                seen[_job_of(trial)] = 0
        trials = list(ctx.db(lambda s: service.list_trials(s, study_id)))
        counts = _outcome(study, trials, opt)
        while len(running) < study.parallelism and counted(trials) + len(running) < study.n_trials:
            if counts["n_failed"] > settings.tuning_max_failed_trials:
                raise ValidationFailed(
                    f"{counts['n_failed']} trials failed (limit "
                    f"{settings.tuning_max_failed_trials}); the last: "
                    f"{next((t.error for t in reversed(trials) if t.error), 'unknown')}"
                )
            ctx.check()
            trial = _ask(ctx, study, opt)
            if trial is not None:
                started.append(_start_run(ctx, client, study, trial))
                seen[_job_of(trial)] = 0  # a new run: every report of it is news
                running.append(trial)
            trials = list(ctx.db(lambda s: service.list_trials(s, study_id)))
            counts = _outcome(study, trials, opt)
        ctx.db(lambda s: service.update_study(s, study_id, counts))
        if running or stopping:
            done = counted(trials)
            note = f", {len(stopping)} pruned run(s) stopping" if stopping else ""
            ctx.wait_for(
                [t.run_job_id for t in [*running, *stopping] if t.run_job_id is not None],
                state={},
                wake="any",
                # with a pruner, a run's evaluation wakes the study too (its pruner decides)
                reports_seen=seen if study.pruner != "none" else None,
                progress=(counts["progress"], counts["progress"]),
                message=f"{done}/{study.n_trials} trials finished, {len(running)} training{note}",
            )
        ctx.progress(0.93, "probability of backtest overfitting (CSCV)", force=True)
        overfitting = study_overfitting(ctx, study, trials)
        ctx.db(lambda s: service.update_study(s, study_id, {"overfitting": overfitting}))
        pbo = overfitting.get("pbo") if overfitting.get("available") else None
        ctx.progress(0.96, "recording the study outcome on the trials' models", force=True)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        variance = sharpe_variance(trials)
        n_tried = counted(trials)  # the deflated Sharpe's N: every trial that trained
        for trial in complete:
            if trial.model_id is not None:
                client.record_study(
                    str(trial.model_id),
                    {
                        "study_id": str(study_id),
                        "trial_number": trial.number,
                        "n_trials": n_tried,
                        "trials_sharpe_variance": variance,
                        "pbo": pbo,
                    },
                )
        best = counts["best_trial"]
        if best is not None and counts["best_model_id"] is not None:
            client.add_alias(
                str(counts["best_model_id"]),
                best_model_alias(study_id),
                note=f"best trial {best['number']} of study {study_id} "
                f"({study.objective.get('metric', 'objective')} {best['value']})",
            )
        metric_names = ", ".join(o.metric for o in study.objective_list)
        for member in counts["best_trials"] or []:
            if member["model_id"] is not None:
                client.add_alias(
                    member["model_id"],
                    member["alias"],
                    note=f"trial {member['number']} on the Pareto front of study {study_id} "
                    f"({metric_names}: {', '.join(f'{v:.4g}' for v in member['values'])})",
                )
        log.info(
            "study.finished",
            study_id=str(study_id),
            best=best,
            pareto=[m["number"] for m in counts["best_trials"] or []],
            n_complete=len(complete),
            n_pruned=counts["n_pruned"],
        )
        _observe_duration(study, "succeeded")
        return {
            "study_id": str(study_id),
            "n_complete": len(complete),
            "n_pruned": counts["n_pruned"],
            "best_trial": best,
            "pareto_front": [m["number"] for m in counts["best_trials"] or []],
            "trials_sharpe_variance": variance,
        }
    except JobCanceled:
        for trial in started:  # not adopted yet: the cascade does not reach them
            client.cancel_run(str(trial.run_id))
        raise
    except ValidationFailed:  # final: the study fails (no retry)
        _observe_duration(study, "failed")
        raise
    finally:
        if own_client:
            client.close()
