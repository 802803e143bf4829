"""End to end: the fleet's ``tensorboard`` component behind the gateway. After a small run
finishes, its event files are downloadable as an archive (``/api/v1/runs/{id}/tensorboard``) and,
once the sync loop has mirrored them, TensorBoard's scalars API at ``/tensorboard/`` lists the
run's scalars, for an API key and for a read key's session cookie; without credentials the
gateway refuses (401 problem+json)."""

from __future__ import annotations

import asyncio
import io
import tarfile
import time

import httpx
import pytest

from tests.e2e.conftest import Fleet
from tests.support.runs import small_ppo

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"
TAGS = "/tensorboard/data/plugin/scalars/tags"


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def assert_problem(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_JSON), resp.headers
    body = resp.json()
    assert body["status"] == status and body["detail"]
    return body


def _read_key(fleet: Fleet) -> str:
    from tradeopt_common.auth.keys import Scope, create_key
    from tradeopt_common.db.session import Database

    async def create() -> str:
        db = Database(fleet.env["TRADING_OPT_DB_URI"])
        try:
            async with db.unit_of_work() as session:
                _, key = await create_key(session, "e2e-tensorboard-reader", [Scope.READ])
            return key
        finally:
            await db.dispose()

    return asyncio.run(create())


def test_tensorboard_shows_a_finished_runs_scalars_behind_the_gateway(fleet: Fleet) -> None:
    auth = {"Authorization": f"Bearer {fleet.api_key}"}
    started = time.monotonic()
    with httpx.Client(base_url=fleet.gateway, timeout=20) as client:
        # no key, no cookie (or a wrong key): the gateway refuses before TensorBoard sees it
        for path in ("/tensorboard/", TAGS, "/tensorboard/data/runs"):
            assert "session" in assert_problem(client.get(path), 401)["detail"]
        assert_problem(client.get(TAGS, headers={"Authorization": "Bearer nope"}), 401)
        assert client.get("/tensorboard").headers["location"] == "/tensorboard/"

        resp = client.post(
            "/api/v1/datasets", json={"source": "sample", "symbol": "SPY"}, headers=auth
        )
        assert resp.status_code == 202, resp.text
        dataset_id = resp.json()["id"]

        def dataset_ready() -> bool:
            got = client.get(f"/api/v1/datasets/{dataset_id}", headers=auth).json()
            assert got["status"] != "failed", got
            return got["status"] == "ready"

        wait_for(dataset_ready, 60, "the dataset")
        body = {"dataset_id": dataset_id, **small_ppo(total_timesteps=256, seed=5)}
        resp = client.post("/api/v1/runs", json=body, headers=auth)
        assert resp.status_code == 202, resp.text
        run_id = resp.json()["id"]
        # not trained yet: no event files (409 names the state)
        early = client.get(f"/api/v1/runs/{run_id}/tensorboard", headers=auth)
        if early.status_code != 200:  # (a very fast worker may have finished already)
            assert_problem(early, 409)

        def run_done() -> bool:
            got = client.get(f"/api/v1/runs/{run_id}", headers=auth).json()
            assert got["status"] not in ("failed", "canceled"), got
            return got["status"] == "succeeded"

        wait_for(run_done, 90, "the run")

        # the archive through the gateway
        archive = client.get(f"/api/v1/runs/{run_id}/tensorboard", headers=auth)
        assert archive.status_code == 200, archive.text
        assert archive.headers["content-type"] == "application/gzip"
        with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
            names = tar.getnames()
        assert names and all(n.startswith(f"{run_id}/events.out.tfevents.") for n in names)

        # TensorBoard lists the run's scalars once the sync loop has fetched them
        def listed() -> dict | None:
            resp = client.get(TAGS, headers=auth)
            assert resp.status_code == 200, resp.text
            return resp.json().get(run_id)

        tags = wait_for(listed, 30, "the run in TensorBoard", interval=1)
        assert any(tag.startswith("train/") for tag in tags), tags
        tag = sorted(tags)[0]
        points = client.get(
            "/tensorboard/data/plugin/scalars/scalars",
            params={"run": run_id, "tag": tag},
            headers=auth,
        )
        assert points.status_code == 200, points.text
        assert points.json() and len(points.json()[0]) == 3  # [wall_time, step, value]

    # a browser: a read key exchanged for a session cookie; TensorBoard's POST queries pass
    with httpx.Client(base_url=fleet.gateway, timeout=20) as browser:
        session = browser.post("/api/v1/auth/session", json={"api_key": _read_key(fleet)})
        assert session.status_code == 201, session.text
        page = browser.get("/tensorboard/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert run_id in browser.get(TAGS).json()
        multirun = browser.post(
            "/tensorboard/data/plugin/scalars/scalars_multirun",
            data={"tag": tag, "runs": [run_id]},
        )
        assert multirun.status_code == 200, multirun.text
        assert multirun.json()[run_id]
        assert browser.delete("/api/v1/auth/session").status_code == 204
        assert_problem(browser.get(TAGS), 401)
    print(f"tensorboard e2e: {time.monotonic() - started:.1f}s after the fleet was up")
