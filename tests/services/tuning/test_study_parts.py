"""Pieces of the study job without processes: the trial's run request, the Sharpe variance that
goes to the deflated Sharpe ratio, where Optuna's storage lives, and the storage's database
created on first use (real PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from tradeopt_tuning.config import TuningSettings
from tradeopt_tuning.jobs import sharpe_variance, trial_run_body
from tradeopt_tuning.models import Study, Trial, TrialState
from tradeopt_tuning.storage import ensure_database, get_storage


def _study(**request) -> Study:
    return Study(
        id=uuid.uuid4(),
        dataset_id=uuid.uuid4(),
        algorithm="ppo",
        n_trials=4,
        parallelism=2,
        timesteps_per_trial=256,
        seed=3,
        sampler="tpe",
        pruner="none",
        objective={"metric": "sharpe", "direction": "maximize"},
        search_space={},
        request=request,
    )


@pytest.mark.unit
def test_trial_run_body_tags_the_run_and_merges_fixed_and_sampled_hyperparameters():
    study = _study(
        env={"window": 8}, split={"train": 0.7}, hyperparams={"n_epochs": 2}, symbols=["SPY"]
    )
    body = trial_run_body(study, 5, {"net_arch": "32x32", "learning_rate": 1e-3})
    assert body == {
        "dataset_id": str(study.dataset_id),
        "algorithm": "ppo",
        "total_timesteps": 256,
        "seed": 3,
        "n_envs": 1,
        "env": {"window": 8},
        "split": {"train": 0.7},
        "hyperparams": {"n_epochs": 2, "net_arch": [32, 32], "learning_rate": 1e-3},
        "study_id": str(study.id),
        "trial_number": 5,
        "symbols": ["SPY"],
    }


def _trial(state: TrialState, sharpe) -> Trial:
    return Trial(number=0, state=state, metrics={} if sharpe is None else {"sharpe": sharpe})


@pytest.mark.unit
def test_sharpe_variance_of_complete_trials_only():
    trials = [
        _trial(TrialState.COMPLETE, 1.0),
        _trial(TrialState.COMPLETE, 2.0),
        _trial(TrialState.COMPLETE, 4.0),
        _trial(TrialState.FAIL, 100.0),
        _trial(TrialState.COMPLETE, None),
    ]
    assert sharpe_variance(trials) == pytest.approx(7 / 3)  # ddof 1 of 1, 2, 4
    assert sharpe_variance(trials[:1]) == 0.0


@pytest.mark.unit
def test_optuna_storage_location(tmp_path):
    pg = TuningSettings(db_uri="postgresql+asyncpg://u:p@db:5432/tradeopt", data_dir=tmp_path)
    assert pg.optuna_url() == "postgresql+psycopg://u:p@db:5432/tradeopt_optuna"
    lite = TuningSettings(db_uri=f"sqlite+aiosqlite:///{tmp_path}/t.db", data_dir=tmp_path)
    assert lite.optuna_url() == f"sqlite:///{tmp_path / 'optuna.db'}"
    own = TuningSettings(optuna_db_uri="sqlite:////x/o.db", data_dir=tmp_path)
    assert own.optuna_url() == "sqlite:////x/o.db"


@pytest.mark.integration
def test_the_optuna_database_is_created_once_and_shared(pg_url):
    url = TuningSettings(db_uri=pg_url).optuna_url()
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    try:
        ensure_database(url)
        ensure_database(url)  # idempotent
        storage = get_storage(url)
        assert get_storage(url) is storage  # one per URL and process
        import optuna

        study = optuna.create_study(storage=storage, study_name=f"t-{uuid.uuid4()}")
        study.tell(study.ask(), 1.5)
        assert optuna.load_study(storage=url, study_name=study.study_name).best_value == 1.5
        with admin.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            assert found.scalar() == 1
    finally:
        admin.dispose()


@pytest.mark.unit
def test_embedded_mode_keeps_optuna_in_a_sqlite_file(tmp_path):
    import optuna

    url = TuningSettings(
        db_uri=f"sqlite+aiosqlite:///{tmp_path}/t.db", data_dir=tmp_path
    ).optuna_url()
    study = optuna.create_study(storage=get_storage(url), study_name="embedded")
    study.tell(study.ask(), 0.5)
    assert (tmp_path / "optuna.db").exists()
    assert optuna.load_study(storage=url, study_name="embedded").best_value == 0.5


def test_cscv_blocks_and_the_returns_matrix():
    """The study's PBO input: an even number of CSCV blocks of at least 4 bars (at most 16),
    and trials' return series aligned on their last bar."""
    import numpy as np

    from tradeopt_tuning.overfitting import partitions_for, returns_matrix

    assert partitions_for(15) is None and partitions_for(16) == 4 and partitions_for(30) == 6
    assert partitions_for(64) == 16 and partitions_for(10_000) == 16
    matrix = returns_matrix([np.arange(5.0), np.arange(3.0)])
    assert matrix.tolist() == [[2.0, 0.0], [3.0, 1.0], [4.0, 2.0]]
