"""``tradeopt pipeline``: a reduced config end to end in-process (SQLite + a temporary artifact
folder, the services' own job code through ``InlineDispatcher``), determinism, config errors and
the config → HTTP request translation used by ``pipeline submit``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tradeopt_cli.main import app
from tradeopt_cli.pipeline.config import ConfigError, load_config, parse_config
from tradeopt_cli.pipeline.requests import compare_request, dataset_request, run_request
from tradeopt_cli.pipeline.results import render
from tradeopt_cli.pipeline.tuning import study_request

pytestmark = pytest.mark.integration

TINY = {
    "name": "tiny",
    "dataset": {"source": "synthetic", "symbols": ["SYN"], "bars": 500, "seed": 3},
    "features": {
        "features": [
            {"name": "log_return", "params": {"horizon": 1}},
            {"name": "volatility", "params": {"window": 10}},
        ]
    },
    "env": {"window": 10, "cost_bps": 2.0},
    "split": {"train": 0.6, "validation": 0.2, "test": 0.2},
    "train": {
        "algorithms": ["ppo"],
        "seeds": [0],
        "total_timesteps": 256,
        "hyperparams": {"ppo": {"n_steps": 128, "batch_size": 64, "n_epochs": 1}},
    },
    "tune": {
        "algorithm": "ppo",
        "n_trials": 2,
        "timesteps_per_trial": 128,
        "seed": 1,
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}
        },
    },
    "evaluate": {"baselines": ["buy_and_hold", "flat"]},
    "paper": {"enabled": True},
}


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """Embedded defaults in a temporary data dir (never the repo's ``.tradeopt/``)."""
    from tradeopt_common.config import get_settings
    from tradeopt_common.jobs.runtime import reset_runtime

    for var in ("TRADING_OPT_DB_URI", "TRADING_OPT_STORAGE_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TRADING_OPT_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    reset_runtime()
    yield tmp_path / "data"
    reset_runtime()
    get_settings.cache_clear()


def _write(tmp_path: Path, raw: dict, name: str = "p.yaml") -> Path:
    import yaml

    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def test_reduced_pipeline_end_to_end_is_reported_and_repeatable(embedded, tmp_path):
    config = _write(tmp_path, TINY)
    runner = CliRunner()
    first = runner.invoke(
        app, ["pipeline", "run", str(config), "--summary", str(tmp_path / "a.json")]
    )
    assert first.exit_code == 0, first.output
    summary = json.loads((tmp_path / "a.json").read_text())

    # the report is the evaluation's own HTML, stored in the local artifact folder
    report = Path(summary["report_path"])
    assert report.is_file() and report.is_relative_to(embedded / "artifacts")
    assert report.parent.name == summary["evaluation_id"]
    assert "<html" in report.read_text().lower()
    assert f"report: {report}" in first.output.replace("\n", "")

    # one trained run + two tuning trials; the best trial's model is evaluated as well
    labels = [s["label"] for s in summary["subjects"]]
    assert labels[0] == "ppo seed 0" and labels[1].startswith("ppo tuned #")
    assert labels[2:] == ["buy_and_hold", "flat"]
    study = summary["study"]
    assert study["n_trials"] == 2 and len(study["trials"]) == 2
    values = [t["value"] for t in study["trials"]]
    assert study["best_value"] == max(values)
    mean = sum(values) / 2
    assert study["trials_sharpe_variance"] == pytest.approx(sum((v - mean) ** 2 for v in values))
    flat = summary["subjects"][3]
    assert flat["metrics"]["total_return"] == pytest.approx(0.0, abs=1e-12)
    for model in summary["subjects"][:2]:
        m = model["metrics"]
        assert set(m) >= {"total_return", "sharpe", "max_drawdown", "turnover", "n_trades"}
        assert m["max_drawdown"] <= 0
        lo, hi = model["sharpe_ci"]
        assert lo <= m["sharpe"] <= hi
        assert model["verdict"] in {
            "beats buy-and-hold",
            "worse than buy-and-hold",
            "not distinguishable from buy-and-hold",
        }
        # the evaluation service's paired test vs buy-and-hold, adjusted over the two models
        assert 0 <= model["p_value"] <= model["p_value_adjusted"] <= 1
        assert model["verdicts"]["buy_and_hold"]["family_size"] == 2
        if model["p_value_adjusted"] >= 0.05:
            assert model["verdict"] == "not distinguishable from buy-and-hold"
        elif model["sharpe_difference"] < 0:
            assert model["verdict"] == "worse than buy-and-hold"
        assert set(model["verdicts"]) == {"buy_and_hold", "flat", "sma_crossover", "momentum"}
        assert model["spec"] is None  # one seed per spec here
    assert "Romano-Wolf" in first.output and "p adj." in first.output
    assert summary["subjects"][1]["deflated_sharpe"] is not None  # the tuned model only
    assert summary["subjects"][0]["deflated_sharpe"] is None
    evaluated = {(s["label"], s["model_id"]) for s in summary["subjects"] if s["model_id"]}
    assert (labels[1], study["best_model_id"]) in evaluated
    # the paper step: the best evaluated model replayed over the test split by the strategy
    # service's own job, parity with the evaluation backtest printed (0 divergences)
    paper = summary["paper"]
    assert (paper["label"], paper["model_id"]) in evaluated
    assert paper["status"] == "completed" and paper["bars"] > 50, paper
    assert paper["parity"]["ok"] and paper["parity"]["n_divergences"] == 0
    assert paper["parity"]["bars_compared"] == paper["bars"]
    assert paper["equity"] == paper["parity"]["final_equity_backtest"]
    assert "0 divergences" in first.output and "skipped" not in first.output

    # same config again (same data dir, new ids) -> the same numbers
    second = runner.invoke(
        app, ["pipeline", "run", str(config), "--summary", str(tmp_path / "b.json")]
    )
    assert second.exit_code == 0, second.output
    again = json.loads((tmp_path / "b.json").read_text())
    assert again["evaluation_id"] != summary["evaluation_id"]
    for key in ("subjects", "folds"):
        strip = [{k: v for k, v in s.items() if k != "model_id"} for s in summary[key]]
        assert strip == [{k: v for k, v in s.items() if k != "model_id"} for s in again[key]]
    assert [(t["params"], t["value"]) for t in again["study"]["trials"]] == [
        (t["params"], t["value"]) for t in study["trials"]
    ]
    assert (again["paper"]["bars"], again["paper"]["equity"]) == (paper["bars"], paper["equity"])


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dataset: [unclosed", "not valid YAML at line 1"),
        ("- just\n- a list\n", "top level must be a mapping"),
        (
            "dataset: {source: sample, symbol: SPY}\ntrian: {}\n",
            "trian: Extra inputs are not permitted",
        ),
        ("dataset: {source: ftp}\n", "dataset: Input tag 'ftp' found"),
        (
            "dataset: {source: sample, symbol: SPY}\ntrain: {algorithms: [ppo, xgb]}\n",
            "train.algorithms.1: Input should be",
        ),
        (
            "dataset: {source: sample, symbol: SPY}\nevaluate: {baselines: [flat]}\n",
            "must include 'buy_and_hold'",
        ),
        (
            "dataset: {source: sample, symbol: SPY}\n"
            "tune: {search_space: {lr: {type: float, low: 2, high: 1}}}\n",
            "tune.search_space.lr.float: Value error, 'low' must be below 'high'",
        ),
        ("dataset: {source: sample, symbol: SPY}\nenv: {features: {}}\n", "not inside 'env'"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.unit
def test_bad_config_exits_2_with_the_problem_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADING_OPT_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "bad.yaml"
    path.write_text("dataset: {source: sample, symbol: SPY}\ntrain: {seeds: [1, 1]}\n")
    result = CliRunner().invoke(app, ["pipeline", "run", str(path)])
    assert result.exit_code == 2
    assert "'seeds' must not repeat" in result.output
    assert not (tmp_path / "data" / "tradeopt.db").exists()
    missing = CliRunner().invoke(app, ["pipeline", "run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "cannot read the file" in missing.output


@pytest.mark.unit
def test_config_translates_to_the_api_requests():
    from tradeopt_evaluation.schemas import EvaluationCompare
    from tradeopt_training.schemas import RunCreate

    config = parse_config(TINY)
    ds = uuid.uuid4()
    assert dataset_request(config) == {
        "source": "synthetic",
        "kind": "gbm",
        "symbols": ["SYN"],
        "bars": 500,
        "seed": 3,
        "frequency": "1d",
        "params": {},
    }
    body = run_request(config, ds, "ppo", 0, hyperparams={"learning_rate": 0.001})
    assert body["env"] == {"window": 10, "cost_bps": 2.0, "features": TINY["features"]}
    assert body["hyperparams"] == {
        "n_steps": 128,
        "batch_size": 64,
        "n_epochs": 1,
        "learning_rate": 0.001,
    }
    assert body["split"] == TINY["split"] and body["total_timesteps"] == 256
    run = RunCreate.model_validate(body)  # what POST /api/v1/runs accepts
    assert run.dataset_id == ds and run.seed == 0 and run.study_id is None
    tagged = run_request(config, ds, "ppo", 1, total_timesteps=128, study_id=ds, trial_number=3)
    assert RunCreate.model_validate(tagged).trial_number == 3 and tagged["total_timesteps"] == 128
    models = [uuid.uuid4(), uuid.uuid4()]
    cmp = compare_request(config, ds, models)
    assert EvaluationCompare.model_validate(cmp).model_ids == models
    assert cmp["split"] == "test" and cmp["baselines"] == ["buy_and_hold", "flat"]
    window = compare_request(config, ds, models, start="2020-01-01", end="2020-06-30")
    assert "split" not in window and EvaluationCompare.model_validate(window).start is not None
    sample = parse_config({"dataset": {"source": "sample", "symbol": ["SPY", "TLT"]}})
    assert dataset_request(sample) == {"source": "sample", "symbol": ["SPY", "TLT"]}


@pytest.mark.unit
def test_the_study_is_a_tuning_service_request_with_the_runs_fields():
    from tradeopt_tuning.schemas import StudyCreate
    from tradeopt_tuning.service import validate_study

    config = parse_config(TINY)
    ds = uuid.uuid4()
    body = study_request(config, ds)
    study = StudyCreate.model_validate(body)  # what POST /api/v1/studies accepts
    assert (study.n_trials, study.parallelism, study.seed, study.sampler) == (2, 1, 1, "tpe")
    assert study.timesteps_per_trial == 128 and study.objective.metric == "sharpe"
    run = run_request(config, ds, "ppo", 1)
    assert (study.env, study.split, study.n_envs) == (run["env"], run["split"], run["n_envs"])
    # fixed hyperparameters are the run's minus the searched one
    assert study.hyperparams == {"n_steps": 128, "batch_size": 64, "n_epochs": 1}
    space = validate_study(study, max_trials=10, max_parallelism=4)  # the service's own checks
    assert space["learning_rate"] == {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}
    searched = {
        **TINY["tune"],
        "search_space": {"n_steps": {"type": "categorical", "choices": [64, 128]}},
    }
    clash = study_request(parse_config({**TINY, "tune": searched}), ds)
    assert "n_steps" not in clash["hyperparams"] and clash["hyperparams"]["batch_size"] == 64
    with pytest.raises(ConfigError, match="'parallelism' must not exceed 'n_trials'"):
        parse_config({**TINY, "tune": {**TINY["tune"], "parallelism": 3}})


@pytest.mark.unit
def test_a_multi_objective_study_and_its_summary():
    from tradeopt_cli.pipeline.tuning import study_summary
    from tradeopt_tuning.schemas import StudyCreate
    from tradeopt_tuning.service import validate_study

    tune = {**TINY["tune"], "sampler": "nsga2", "objectives": ["max_drawdown", "sharpe"]}
    body = study_request(parse_config({**TINY, "tune": tune}), uuid.uuid4())
    assert "objective" not in body
    study = StudyCreate.model_validate(body)
    assert [(o.metric, o.direction) for o in study.objective_list()] == [
        ("max_drawdown", "minimize"),
        ("sharpe", "maximize"),
    ]
    validate_study(study, max_trials=10, max_parallelism=4)
    for bad, message in (
        (["max_drawdown", "turnover"], "must include sharpe"),
        (["sharpe", "sharpe"], "each metric once"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config({**TINY, "tune": {**tune, "objectives": bad}})
    with pytest.raises(ConfigError, match="cmaes"):
        parse_config({**TINY, "tune": {**tune, "sampler": "cmaes"}})

    # the tuned model: the Pareto member with the highest validation Sharpe (values[1] here)
    trials = [
        {"number": n, "params": {"n": n}, "values": v, "value": v[0], "model_id": f"m{n}"}
        | {"state": "complete"}
        for n, v in enumerate([[0.1, 0.5], [0.3, 0.9], [0.05, 0.2], [0.3, 0.9]])
    ]
    finished = {
        "id": "s",
        "objective": {"metric": "max_drawdown", "direction": "minimize"},
        "objectives": [
            {"metric": "max_drawdown", "direction": "minimize"},
            {"metric": "sharpe", "direction": "maximize"},
        ],
        "best_trial": None,
        "best_trials": [{"number": n} for n in (1, 2, 3)],  # trial 0 is dominated by 2
    }
    summary = study_summary(finished, trials)
    assert (summary.best_trial, summary.best_value, summary.best_model_id) == (1, 0.9, "m1")
    assert summary.trials_sharpe_variance == pytest.approx(np.var([0.5, 0.9, 0.2, 0.9], ddof=1))


@pytest.mark.unit
def test_upload_paths_resolve_against_the_config_file(tmp_path):
    path = _write(tmp_path, {"dataset": {"source": "upload", "path": "bars.csv", "symbol": "X"}})
    config = load_config(path)
    assert config.dataset.path == tmp_path / "bars.csv"
    assert dataset_request(config) == {"source": "upload", "symbol": "X", "timeframe": "1d"}


@pytest.mark.unit
@pytest.mark.parametrize("name", ["spy_ppo.yaml", "multi_asset.yaml", "walk_forward.yaml"])
def test_examples_are_valid(name):
    root = Path(__file__).resolve().parents[2] / "examples"
    config = load_config(root / name)
    assert config.evaluate.baselines[0] == "buy_and_hold"


VERDICT = {
    "verdict": "worse",
    "sharpe_difference": -0.2,
    "p_value": 0.01,
    "p_value_adjusted": 0.04,
    "family_size": 2,
    "level": 0.05,
    "test": "Ledoit-Wolf studentized circular block bootstrap of the Sharpe difference",
}
#: A parity report as ``GET /api/v1/paper-sessions/{id}/parity`` shows it.
PARITY = {
    "ok": True, "n_divergences": 0, "bars_compared": 40, "session_bars": 40, "backtest_bars": 40,
    "tolerance": 1e-9, "max_abs_equity_diff": 0.0, "final_equity_session": 1.1,
    "final_equity_backtest": 1.1, "fills_session": 3, "fills_backtest": 3, "divergences": [],
}  # fmt: skip


@pytest.mark.unit
def test_submit_drives_the_http_api_in_order_and_polls_until_done():
    import httpx

    from tradeopt_cli.pipeline.remote import RemoteError, submit_pipeline

    raw = {k: v for k, v in TINY.items() if k != "tune"}
    raw["train"] = {**TINY["train"], "seeds": [0, 1]}
    config = parse_config(raw)
    calls: list[tuple[str, str]] = []
    polls: dict[str, int] = {}
    posted: list[dict] = []
    equity = [{"t": f"2020-01-{d:02d}", "equity": 1 + 0.01 * d * (-1) ** d} for d in range(1, 30)]

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        calls.append((request.method, path))
        assert request.headers["authorization"] == "Bearer k3y"
        if request.method == "POST":
            body = json.loads(request.content)
            posted.append(body)
            rid = str(uuid.uuid4())
            return httpx.Response(202, json={"id": rid, "status": "queued", "progress": 0})
        rid = path.split("/")[2]
        if path.endswith("/parity"):
            return httpx.Response(200, json=PARITY)
        polls[rid] = polls.get(rid, 0) + 1
        if path.endswith("/equity"):
            return httpx.Response(200, json=equity)
        if path.startswith("/paper-sessions/"):
            done = polls[rid] >= 2
            session = {"id": rid, "status": "completed" if done else "running", "progress": 0.5,
                       "model_id": posted[-2]["model_id"], "strategy_id": posted[-1]["strategy_id"],
                       "n_bars": 40, "n_orders": 3, "equity": 1.1, "halt_reason": None}  # fmt: skip
            return httpx.Response(200, json=session)
        if polls[rid] < 2:
            return httpx.Response(200, json={"id": rid, "status": "running", "progress": 0.5})
        if path.startswith("/datasets/"):
            return httpx.Response(
                200, json={"id": rid, "status": "ready", "name": "SYN", "rows": 500}
            )
        if path.startswith("/runs/"):
            return httpx.Response(
                200,
                json={
                    "id": rid,
                    "status": "succeeded",
                    "progress": 1,
                    "model_id": f"m-{rid}",
                    "algorithm": "ppo",
                    "seed": 0,
                    "metrics": {"validation": {"sharpe": 0.5}},
                },
            )
        spec = {
            "spec": "spec:ppo:0123abcd",
            "seeds": [0, 1],
            "sharpe": {"mean": 0.1, "std": 0.05, "ci_low": -0.35, "ci_high": 0.55},
            "verdicts": {"buy_and_hold": {**VERDICT, "verdict": "not distinguishable"}},
        }
        comparison = [
            {
                "subject": f"model:{m}",
                "sharpe": 0.1,
                "sharpe_ci": [-0.5, 0.7],
                "verdicts": {"buy_and_hold": VERDICT},
                "spec": spec,
            }
            for m in posted[-1]["model_ids"]
        ]
        comparison += [{"subject": "buy_and_hold", "sharpe": 0.3}, {"subject": "flat"}]
        return httpx.Response(
            200,
            json={
                "id": rid,
                "status": "succeeded",
                "comparison": comparison,
                "bars": {"bars_per_year": 252},
            },
        )

    result = submit_pipeline(
        config, api="http://gw", api_key="k3y", poll=0.01, transport=httpx.MockTransport(handler)
    )
    posts = [p for m, p in calls if m == "POST"]
    assert posts == [
        "/datasets", "/runs", "/runs", "/evaluations/compare", "/strategies", "/paper-sessions",
    ]  # fmt: skip
    assert posted[0] == dataset_request(config)
    # the paper step: the best evaluated model (first on a tie) promoted, the test split replayed
    assert posted[4]["model_id"] == result.subjects[0].model_id
    assert posted[5]["split"] == "test" and posted[5]["speed"] == "max"
    assert result.paper is not None and result.paper.parity["ok"] and result.paper.bars == 40
    assert [b["seed"] for b in posted[1:3]] == [0, 1]
    assert posted[3]["baselines"] == ["buy_and_hold", "flat"] and len(posted[3]["model_ids"]) == 2
    assert [s.label for s in result.subjects] == [
        "ppo seed 0",
        "ppo seed 1",
        "buy_and_hold",
        "flat",
    ]
    assert result.report_path.endswith(f"/api/v1/evaluations/{result.evaluation_id}/report")
    assert all(n >= 2 for n in polls.values())  # every resource was polled until terminal
    # the verdicts are the service's, displayed as they are
    model = result.subjects[0]
    assert model.verdict == "worse than buy-and-hold" and model.p_value_adjusted == 0.04
    assert model.sharpe_ci == (-0.5, 0.7) and result.subjects[2].verdict is None
    console = Console(record=True, width=240)
    render(result, console)
    text = console.export_text()
    assert "run specs over seeds" in text and "0, 1" in text
    assert "0.040" in text and "Romano-Wolf step-down over the 2 model(s)" in text
    assert "paper ppo seed 0: replay session" in text and "0 divergences" in text

    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422,
            json={
                "title": "Unprocessable",
                "detail": "bad run",
                "errors": [{"loc": ["body", "seed"], "msg": "too big"}],
            },
        )

    with pytest.raises(RemoteError, match=r"422 bad run\n  - body.seed: too big"):
        submit_pipeline(
            config, api="http://gw", api_key="k3y", transport=httpx.MockTransport(failing)
        )


@pytest.mark.unit
def test_submit_runs_the_study_on_the_tuning_service_and_evaluates_its_best_model():
    import httpx

    from tradeopt_cli.pipeline.remote import submit_pipeline

    config = parse_config({**TINY, "paper": {"enabled": False}})  # the paper step: test above
    calls: list[tuple[str, str]] = []
    posted: dict[str, dict] = {}
    polls: dict[str, int] = {}
    trials = [
        {
            "number": 0,
            "params": {"learning_rate": 2e-4},
            "value": 0.2,
            "state": "complete",
            "model_id": "m-0",
        },
        {
            "number": 1,
            "params": {"learning_rate": 9e-4},
            "value": None,
            "state": "fail",
            "model_id": None,
        },
        {
            "number": 2,
            "params": {"learning_rate": 5e-4},
            "value": 0.7,
            "state": "complete",
            "model_id": "m-2",
        },
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        calls.append((request.method, path))
        if request.method == "POST":
            posted[path] = json.loads(request.content)
            return httpx.Response(202, json={"id": f"id{len(calls)}", "status": "queued"})
        if path.endswith("/trials"):
            return httpx.Response(200, json=trials)
        if path.endswith("/equity"):
            return httpx.Response(200, json=[{"t": "2020-01-01", "equity": 1.0}] * 3)
        rid = path.split("/")[2]
        polls[rid] = polls.get(rid, 0) + 1
        if polls[rid] < 2:
            return httpx.Response(200, json={"id": rid, "status": "running", "progress": 0.5})
        if path.startswith("/datasets/"):
            return httpx.Response(200, json={"id": rid, "status": "ready", "name": "S", "rows": 1})
        if path.startswith("/runs/"):
            return httpx.Response(
                200, json={"id": rid, "status": "succeeded", "model_id": "m-run", "seed": 0}
            )
        if path.startswith("/studies/"):
            best = {"number": 2, "params": trials[2]["params"], "value": 0.7, "model_id": "m-2"}
            return httpx.Response(
                200, json={"id": rid, "status": "succeeded", "progress": 1.0, "best_trial": best}
            )
        comparison = [
            {"subject": f"model:{m}"} for m in posted["/evaluations/compare"]["model_ids"]
        ]
        return httpx.Response(
            200, json={"id": rid, "status": "succeeded", "comparison": comparison, "bars": {}}
        )

    result = submit_pipeline(
        config, api="http://gw", api_key="k", poll=0.01, transport=httpx.MockTransport(handler)
    )
    posts = [p for m, p in calls if m == "POST"]
    assert posts == ["/datasets", "/runs", "/studies", "/evaluations/compare"]
    assert posted["/studies"] == study_request(config, posted["/runs"]["dataset_id"])
    assert not any(m == "PUT" for m, _ in calls)  # the tuning service records the outcome
    study = result.study
    assert (study.n_trials, study.best_trial, study.best_model_id) == (2, 2, "m-2")
    assert study.trials_sharpe_variance == pytest.approx(0.125)  # var([0.2, 0.7], ddof=1)
    assert posted["/evaluations/compare"]["model_ids"] == ["m-run", "m-2"]
    assert [s.label for s in result.subjects] == ["ppo seed 0", "ppo tuned #2"]


def test_submit_client_retries_the_gateways_rate_limit(monkeypatch):
    import httpx

    from tradeopt_cli.pipeline import remote

    monkeypatch.setattr(remote.time, "sleep", lambda _s: None)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "slow down"})
        return httpx.Response(200, json={"ok": True})

    client = remote.Client("http://gw", "key", transport=httpx.MockTransport(handler))
    assert client.call("GET", "/datasets") == {"ok": True}
    assert len(calls) == 3

    always = remote.Client(
        "http://gw", "key", transport=httpx.MockTransport(lambda r: httpx.Response(429, json={}))
    )
    with pytest.raises(remote.RemoteError, match="429"):
        always.call("GET", "/datasets")


def test_submit_prints_a_rounded_validation_sharpe(monkeypatch):
    """Hardening item 25: ``pipeline submit`` printed ``validation Sharpe 0.123456789``."""
    import httpx

    from tradeopt_cli.pipeline import progress
    from tradeopt_cli.pipeline.remote import RemoteError, submit_pipeline

    printed: list[str] = []
    original = progress.StepBars.done

    def recording(self, task, text, *args, **kwargs):
        printed.append(text)
        return original(self, task, text, *args, **kwargs)

    monkeypatch.setattr(progress.StepBars, "done", recording)
    raw = {k: v for k, v in TINY.items() if k not in ("tune", "paper")}
    config = parse_config(raw)

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        if request.method == "POST":
            if path.startswith("/evaluations"):
                return httpx.Response(422, json={"title": "Unprocessable", "detail": "stop here"})
            json.loads(request.content)
            return httpx.Response(202, json={"id": str(uuid.uuid4()), "status": "queued"})
        rid = path.split("/")[2]
        if path.startswith("/datasets/"):
            return httpx.Response(
                200, json={"id": rid, "status": "ready", "name": "SYN", "rows": 500}
            )
        return httpx.Response(
            200,
            json={
                "id": rid, "status": "succeeded", "progress": 1, "model_id": f"m-{rid}",
                "algorithm": "ppo", "seed": 0,
                "metrics": {"validation": {"sharpe": 0.123456789}},
            },
        )  # fmt: skip

    with pytest.raises(RemoteError, match="stop here"):
        submit_pipeline(
            config, api="http://gw", api_key="k", poll=0.01, transport=httpx.MockTransport(handler)
        )
    sharpe_lines = [t for t in printed if "Sharpe" in t]
    assert sharpe_lines, printed
    assert all("0.123456789" not in t and "0.12" in t for t in sharpe_lines), sharpe_lines
