"""A study's results over HTTP — importances (fANOVA, seeded), history with best-so-far, Plotly
figures — on the real Optuna storage (PostgreSQL ``<test db>_optuna``) and trial rows, with the
tuning app in-process. The trials come from a known objective told to Optuna directly (the study
job's trials are runs; tests/services/tuning/test_study_runs.py covers a whole study).
"""

from __future__ import annotations

import math
import uuid

import optuna
import pytest

from tradeopt_common.db.base import utcnow
from tradeopt_ml.tuning.results import history
from tradeopt_tuning.config import get_tuning_settings
from tradeopt_tuning.models import Study, StudyStatus, Trial, TrialState
from tradeopt_tuning.storage import get_storage, study_name

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
KINDS = ["optimization_history", "param_importances", "parallel_coordinate", "slice", "contour"]


def _objective(lr: float, gamma: float) -> float:
    """Mostly the learning rate (peak at 1e-3), a little gamma."""
    return -((math.log10(lr) + 3.0) ** 2) + 0.05 * gamma


async def _study(app, n_complete: int, *, failed: int = 0, seed: int = 5) -> Study:
    """A study row, its Optuna study with ``n_complete`` told trials (+ ``failed``), and rows."""
    study = Study(
        id=uuid.uuid4(),
        status=StudyStatus.SUCCEEDED,
        dataset_id=uuid.uuid4(),
        algorithm="a2c",
        n_trials=n_complete,
        parallelism=1,
        timesteps_per_trial=128,
        objective={"metric": "sharpe", "direction": "maximize"},
        seed=seed,
        sampler="tpe",
        pruner="none",
        n_complete=n_complete,
    )
    rows = []
    if n_complete or failed:
        opt = optuna.create_study(
            storage=get_storage(get_tuning_settings().optuna_url()),
            study_name=study_name(study.id),
            direction="maximize",
            sampler=optuna.samplers.RandomSampler(seed=seed),
        )
        space = {
            "learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
            "gamma": optuna.distributions.CategoricalDistribution([0.9, 0.95, 0.99]),
        }
        for number in range(n_complete + failed):
            trial = opt.ask(space)
            if number == 1 and failed:
                opt.tell(trial, state=optuna.trial.TrialState.FAIL)
                rows.append((number, TrialState.FAIL, None, trial.params))
                continue
            value = _objective(trial.params["learning_rate"], trial.params["gamma"])
            opt.tell(trial, value)
            rows.append((number, TrialState.COMPLETE, value, trial.params))
    async with app.state.tradeopt.db.unit_of_work() as session:
        session.add(study)
        await session.flush()
        for number, state, value, params in rows:
            session.add(
                Trial(
                    study_id=study.id,
                    number=number,
                    params=params,
                    state=state,
                    value=value,
                    started_at=utcnow(),
                    finished_at=utcnow(),
                )
            )
    return study


def _assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    return resp.json()


async def test_history_has_the_best_so_far(tuning_client, tuning_app) -> None:
    study = await _study(tuning_app, 5, failed=1)
    resp = await tuning_client.get(f"/api/v1/studies/{study.id}/history")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["direction"] == "maximize" and body["metric"] == "sharpe"
    points = body["trials"]
    assert [p["number"] for p in points] == list(range(6))
    assert points[1]["state"] == "fail" and points[1]["value"] is None
    best = -math.inf
    for point in points:
        if point["value"] is not None:
            best = max(best, point["value"])
        assert point["best_so_far"] == pytest.approx(best)


def test_history_minimize_and_empty() -> None:
    rows = [(2, "complete", 3.0), (0, "running", None), (1, "complete", 5.0), (3, "pruned", None)]
    got = history(rows, "minimize")
    assert [(p.number, p.best_so_far) for p in got] == [(0, None), (1, 5.0), (2, 3.0), (3, 3.0)]
    assert history([], "maximize") == []


async def test_importances_are_fanova_seeded_and_need_two_trials(tuning_client, tuning_app):
    study = await _study(tuning_app, 16)
    first = await tuning_client.get(f"/api/v1/studies/{study.id}/importances")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["evaluator"] == "fanova" and body["seed"] == 5 and body["n_complete"] == 16
    importances = body["importances"]
    assert set(importances) == {"learning_rate", "gamma"}
    assert sum(importances.values()) == pytest.approx(1.0)
    assert importances["learning_rate"] > importances["gamma"]  # the objective's main driver
    again = await tuning_client.get(f"/api/v1/studies/{study.id}/importances")
    assert again.json() == body  # seeded: the same numbers

    one = await _study(tuning_app, 1)
    problem = _assert_problem(await tuning_client.get(f"/api/v1/studies/{one.id}/importances"), 409)
    assert "at least 2 complete trials" in problem["detail"] and "has 1" in problem["detail"]
    fresh = await _study(tuning_app, 0)  # queued: Optuna has no study yet
    problem = _assert_problem(
        await tuning_client.get(f"/api/v1/studies/{fresh.id}/importances"), 409
    )
    assert "no trials yet" in problem["detail"]


@pytest.mark.parametrize("kind", KINDS)
async def test_every_plot_kind_is_a_plotly_figure(tuning_client, tuning_app, kind: str) -> None:
    study = await _study(tuning_app, 8)
    resp = await tuning_client.get(f"/api/v1/studies/{study.id}/plots/{kind}")
    assert resp.status_code == 200, resp.text
    figure = resp.json()
    assert figure["data"], figure
    assert isinstance(figure["layout"], dict)
    if kind == "optimization_history":
        values = figure["data"][0]["y"]
        assert len(values) == 8  # one point per complete trial


async def test_plot_errors(tuning_client, tuning_app) -> None:
    study = await _study(tuning_app, 1)
    problem = _assert_problem(await tuning_client.get(f"/api/v1/studies/{study.id}/plots/pie"), 404)
    assert "optimization_history" in problem["detail"]
    problem = _assert_problem(
        await tuning_client.get(f"/api/v1/studies/{study.id}/plots/contour"), 409
    )
    assert "contour" in problem["detail"]
    resp = await tuning_client.get(f"/api/v1/studies/{study.id}/plots/slice")
    assert resp.status_code == 200, resp.text
    _assert_problem(await tuning_client.get(f"/api/v1/studies/{uuid.uuid4()}/plots/slice"), 404)


async def test_idle_gauge_of_active_studies(tuning_client, tuning_app) -> None:
    """``tradeopt_tuning_study_idle_seconds{study_id}``: since the last trial start or end of each
    active study (else its start); ended studies have no series."""
    from datetime import timedelta

    from prometheus_client import REGISTRY

    from tradeopt_tuning.app import update_gauges

    now = utcnow()
    waiting = await _study(tuning_app, 2)
    ended = await _study(tuning_app, 1)
    fresh = await _study(tuning_app, 0)
    async with tuning_app.state.tradeopt.db.unit_of_work() as session:
        for study, status, started in (
            (waiting, StudyStatus.WAITING, now - timedelta(hours=2)),
            (ended, StudyStatus.SUCCEEDED, now - timedelta(hours=2)),
            (fresh, StudyStatus.RUNNING, now - timedelta(minutes=3)),
        ):
            row = await session.get(Study, study.id)
            row.status, row.started_at = status, started
        trials = (await tuning_client.get(f"/api/v1/studies/{waiting.id}/trials")).json()
        for trial in await session.run_sync(
            lambda s: s.query(Trial).filter(Trial.study_id == waiting.id).all()
        ):
            trial.started_at = now - timedelta(minutes=50)
            trial.finished_at = now - timedelta(minutes=40 if trial.number == 0 else 45)
    assert len(trials) == 2
    await update_gauges(tuning_app.state.tradeopt)

    def idle(study: Study) -> float | None:
        return REGISTRY.get_sample_value(
            "tradeopt_tuning_study_idle_seconds", {"study_id": str(study.id)}
        )

    assert idle(waiting) == pytest.approx(40 * 60, abs=30)  # the last trial ended 40 min ago
    assert idle(fresh) == pytest.approx(3 * 60, abs=30)  # no trial: since it started
    assert idle(ended) is None


def test_dashboard_app_serves_the_tuning_storage(tmp_path) -> None:
    """tradeopt_tuning.dashboard: optuna-dashboard's WSGI app on the storage the settings name
    (here an embedded SQLite file) lists the studies the tuning service wrote there."""
    import httpx

    from tradeopt_tuning.config import TuningSettings
    from tradeopt_tuning.dashboard import create_app

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    settings = TuningSettings(optuna_db_uri=url, data_dir=tmp_path)
    study_id = uuid.uuid4()
    opt = optuna.create_study(storage=get_storage(url), study_name=study_name(study_id))
    opt.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    with httpx.Client(transport=httpx.WSGITransport(app=create_app(settings))) as client:
        studies = client.get("http://dashboard/api/studies").json()["study_summaries"]
        assert [s["study_name"] for s in studies] == [f"tradeopt-{study_id}"]
        page = client.get("http://dashboard/dashboard", headers={"Accept-Encoding": "identity"})
        assert page.status_code == 200 and "/static/bundle.js" in page.text
