"""Defect #25 (smaller), the sub-points with an HTTP surface, adapted from main's
* tests/services/evaluation/test_evaluations_api.py::test_baseline_on_spy_reports_everything
  (the block added for issue 16 #16/#25: ISO 8601 Z instants in equity and trades; every name in
  `subjects` round-trips in `/equity?subject=`), split into 25a (instants) and 25c (subjects);
* tests/services/data/test_dataset_reads.py::test_bars_filters_and_errors (volumes come back as
  integers in JSON and CSV) -> 25b;
* tests/services/test_client_input.py::test_a_json_route_given_another_media_type_is_a_415_on_every_service
  -> 25d (c20e05e has no tuning service: data, training and evaluation only).

On c20e05e: 25a trade entry_time is an epoch-ns integer (1604016000000000000) while equity `t`
is ISO Z; 25b the
volume is a float (1003200.0); 25c `subjects` lists `baseline:sma_crossover` which
`/equity?subject=` refuses with 422; 25d text/plain on /runs and /evaluations is a 422, not 415.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.support.jobrun import ingest, run_job

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
ISO_Z = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


@pytest.fixture
async def spy(client) -> dict:
    return await ingest(client, {"source": "sample", "symbol": "SPY"})


async def _baseline(evaluation_client, spy) -> tuple[dict, str]:
    body = {"dataset_id": spy["id"], "baseline": "sma_crossover", "cost_bps": 5}
    resp = await evaluation_client.post("/api/v1/evaluations", json=body)
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert (await run_job(evaluation_client, created["job_id"]))["status"] == "succeeded"
    done = (await evaluation_client.get(f"/api/v1/evaluations/{created['id']}")).json()
    return done, f"/api/v1/evaluations/{done['id']}"


async def test_d25a_instants_are_iso_8601_z_in_equity_and_trades(evaluation_client, spy):
    _done, base = await _baseline(evaluation_client, spy)
    equity = (await evaluation_client.get(f"{base}/equity")).json()
    trades = (await evaluation_client.get(f"{base}/trades")).json()
    got = {"equity t": equity[0]["t"], "trade entry_time": trades[0]["entry_time"]}
    assert all(isinstance(v, str) and re.match(ISO_Z, v) for v in got.values()), got
    for trade in trades:
        assert trade["exit_time"] is None or re.match(ISO_Z, trade["exit_time"]), trade


async def test_d25c_subject_names_round_trip(evaluation_client, spy):
    done, base = await _baseline(evaluation_client, spy)
    answers = {}
    for subject in done["subjects"]:
        named = await evaluation_client.get(f"{base}/equity", params={"subject": subject})
        answers[subject] = named.status_code
    assert answers and set(answers.values()) == {200}, answers


async def test_d25b_whole_share_volumes_come_back_as_integers(client, spy):
    base = f"/api/v1/datasets/{spy['id']}/bars"
    body = (
        await client.get(base, params={"start": "2020-03-02", "end": "2020-03-06", "limit": 50})
    ).json()
    assert all(isinstance(b["volume"], int) for b in body["items"]), body["items"][0]
    csv = await client.get(base, params={"format": "csv", "limit": 2})
    assert not csv.text.splitlines()[1].endswith(".0"), csv.text.splitlines()[1]


WRITE_ROUTES = {
    "client": ("/api/v1/datasets", {"source": "sample", "symbol": "SPY"}),
    "training_client": ("/api/v1/runs", {"dataset_id": str(uuid.uuid4())}),
    "evaluation_client": (
        "/api/v1/evaluations",
        {"dataset_id": str(uuid.uuid4()), "baseline": "flat"},
    ),
}


async def test_d25d_a_json_route_given_another_media_type_is_a_415(
    client, training_client, evaluation_client
):
    clients = {
        "client": client,
        "training_client": training_client,
        "evaluation_client": evaluation_client,
    }
    got = {}
    for name, (path, body) in WRITE_ROUTES.items():
        for media in ("text/plain", "application/x-www-form-urlencoded"):
            resp = await clients[name].post(
                path, content=json.dumps(body).encode(), headers={"Content-Type": media}
            )
            ok = (
                resp.status_code == 415
                and resp.headers["content-type"].startswith(PROBLEM)
                and "application/json" in resp.json()["detail"]
            )
            got[f"{path} {media}"] = resp.status_code if not ok else "415 ok"
    assert set(got.values()) == {"415 ok"}, got
    resp = await training_client.post("/api/v1/runs", json=[1, 2])
    assert resp.status_code == 422


INSTANT = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
TIME_KEYS = re.compile(r"(^t$|_time$|_at$|^start$|^end$|^timestamp$)")


def _instants(value, path="$"):
    """Every value that is an instant: a date-time string, or an integer under a time-like key."""
    if isinstance(value, dict):
        for k, v in value.items():
            if (
                isinstance(v, int)
                and not isinstance(v, bool)
                and TIME_KEYS.search(k)
                and v > 10**15
            ):
                yield f"{path}.{k}", v
            else:
                yield from _instants(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _instants(v, f"{path}[{i}]")
    elif isinstance(value, str) and INSTANT.match(value):
        yield path, value


async def test_d25a_every_instant_a_client_reads_has_one_format(
    client, training_client, evaluation_client, spy
):
    """Broader than main's test (not in main): every instant in the dataset, job, evaluation
    (row, list, equity, trades) and run-list answers is ISO 8601 with Z (the issue names four
    formats: Z, +00:00, naive, epoch ns). Date-only values (YYYY-MM-DD) are not instants.
    """
    done, base = await _baseline(evaluation_client, spy)
    answers = {
        "dataset": (await client.get(f"/api/v1/datasets/{spy['id']}")).json(),
        "datasets": (await client.get("/api/v1/datasets")).json(),
        "job": (await client.get(f"/api/v1/jobs/{spy['job_id']}")).json(),
        "bars": (
            await client.get(f"/api/v1/datasets/{spy['id']}/bars", params={"limit": 2})
        ).json(),
        "evaluation": done,
        "evaluations": (await evaluation_client.get("/api/v1/evaluations")).json(),
        "equity": (await evaluation_client.get(f"{base}/equity")).json(),
        "trades": (await evaluation_client.get(f"{base}/trades")).json(),
        "runs": (await training_client.get("/api/v1/runs")).json(),
    }
    wrong = {
        f"{name}{path}": value
        for name, answer in answers.items()
        for path, value in _instants(answer)
        if not (
            isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", value)
        )
    }
    assert not wrong, wrong
