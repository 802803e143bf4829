"""TensorBoard: ``GET /api/v1/runs/{id}/tensorboard`` (a streamed tar.gz of the run's event files,
404/409 problems) and the ``tensorboard`` component's sync loop (object storage -> the folder
TensorBoard serves: incremental, deletions followed, a vanished object skipped), on the tests'
real S3 server with real event files."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.support.jobrun import ingest
from tests.support.runs import small_ppo
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.s3 import S3ArtifactStore
from tradeopt_training.tensorboard import EventFileSync, tensorboard_prefix

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def write_events(folder: Path, tag: str, values: list[float]) -> Path:
    """A real TensorBoard event file with scalar ``tag`` (what SB3's TensorBoard logger writes)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder))
    for step, value in enumerate(values):
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
        writer.add_event(Event(step=step, wall_time=1.0 + step, summary=summary))
    writer.close()
    (path,) = folder.glob("events.out.tfevents.*")
    return path


def upload_events(store: ArtifactStore, run_id: uuid.UUID, tmp: Path, tag: str) -> str:
    folder = tmp / f"ev-{run_id}"
    folder.mkdir()
    path = write_events(folder, tag, [0.5, 1.5, 2.5])
    key = tensorboard_prefix(run_id) + path.name
    store.put_file(key, path)
    return key


def scalars(logdir: Path) -> dict[str, dict[str, list[float]]]:
    """run -> tag -> values, as TensorBoard's loader reads ``logdir``."""
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    mux = EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    out: dict[str, dict[str, list[float]]] = {}
    for run in mux.Runs():
        acc = mux.GetAccumulator(run)
        for tag in acc.Tags()["tensors"]:
            out.setdefault(run, {})[tag] = [
                float(e.tensor_proto.float_val[0]) for e in acc.Tensors(tag)
            ]
    return out


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    return resp.json()


async def test_archive_of_a_runs_event_files(training_client, training_app, client, tmp_path):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = {"dataset_id": spy["id"], **small_ppo(total_timesteps=512, seed=3)}
    run = (await training_client.post("/api/v1/runs", json=body)).json()
    url = f"/api/v1/runs/{run['id']}/tensorboard"

    # queued: nothing uploaded yet -> 409 naming the state
    problem = _problem(await training_client.get(url), 409)
    assert "queued" in problem["detail"] and problem["run_status"] == "queued"
    _problem(await training_client.get(f"/api/v1/runs/{uuid.uuid4()}/tensorboard"), 404)
    _problem(await training_client.get("/api/v1/runs/not-a-uuid/tensorboard"), 422)

    store = training_app.state.tradeopt.store
    key = upload_events(store, uuid.UUID(run["id"]), tmp_path, "rollout/ep_rew_mean")
    resp = await training_client.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/gzip"
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="run-{run["id"]}-tensorboard.tar.gz"'
    )
    with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "extracted", filter="data")
    assert names == [f"{run['id']}/{key.rsplit('/', 1)[1]}"]
    assert scalars(tmp_path / "extracted") == {run["id"]: {"rollout/ep_rew_mean": [0.5, 1.5, 2.5]}}

    no_key = await training_client.get(url, headers={"Authorization": ""})
    _problem(no_key, 401)


@pytest.fixture
def s3(s3_server) -> S3ArtifactStore:
    store = S3ArtifactStore(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        f"tradeopt-tb-{uuid.uuid4().hex[:8]}",
        region="us-east-1",
    )
    store.ensure_ready()
    return store


def test_sync_mirrors_runs_incrementally_and_follows_deletions(s3, tmp_path):
    a, b = uuid.uuid4(), uuid.uuid4()
    key_a = upload_events(s3, a, tmp_path, "train/loss")
    upload_events(s3, b, tmp_path, "eval/mean_reward")
    s3.put_bytes(f"runs/{a}/checkpoints/000000000256/model.zip", b"not an event file")
    s3.put_bytes("datasets/x/bars.parquet", b"elsewhere")
    logdir = tmp_path / "tb"
    sync = EventFileSync(s3, logdir)

    first = sync.sync_once()
    assert (first.listed, first.downloaded, first.removed, first.skipped) == (2, 2, 0, 0)
    assert first.downloaded_bytes > 0
    assert sorted(p.name for p in logdir.iterdir()) == sorted([str(a), str(b)])
    assert scalars(logdir) == {
        str(a): {"train/loss": [0.5, 1.5, 2.5]},
        str(b): {"eval/mean_reward": [0.5, 1.5, 2.5]},
    }

    again = sync.sync_once()  # incremental: nothing fetched twice
    assert (again.listed, again.downloaded, again.removed) == (2, 0, 0)

    c = uuid.uuid4()
    upload_events(s3, c, tmp_path, "train/entropy_loss")
    s3.delete(key_a)
    third = sync.sync_once()
    assert (third.listed, third.downloaded, third.removed) == (2, 1, 1)
    assert sorted(p.name for p in logdir.iterdir()) == sorted([str(b), str(c)])
    assert not list(logdir.glob(".sync-partial-*"))


def test_sync_skips_an_object_deleted_after_the_listing(s3, s3_server, tmp_path):
    run = uuid.uuid4()
    key = upload_events(s3, run, tmp_path, "train/loss")

    class DeletesAfterListing(S3ArtifactStore):
        def list_keys(self, prefix: str = "") -> list[str]:
            keys = super().list_keys(prefix)
            self.delete(key)  # gone between the listing and the download
            return keys

    racing = DeletesAfterListing(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        s3.bucket,
        region="us-east-1",
    )
    stats = EventFileSync(racing, tmp_path / "tb").sync_once()
    assert (stats.listed, stats.downloaded, stats.skipped) == (1, 0, 1)
    assert not any((tmp_path / "tb").rglob("*"))


def test_the_component_serves_synced_runs_under_its_prefix(
    fleet_env, processes, tmp_path, s3_server
):
    """``python -m tradeopt_training.tensorboard``: the sync thread fetches a run's event files
    from the configured bucket and TensorBoard lists its scalars under ``/tensorboard/``."""
    import sys

    import httpx

    from tests.support.processes import ManagedProcess, free_port, wait_for
    from tradeopt_common.storage.configured import store_from_settings
    from tradeopt_training.config import TrainingSettings

    store = store_from_settings(TrainingSettings())
    store.ensure_ready()
    run = uuid.uuid4()
    upload_events(store, run, tmp_path, "train/value_loss")
    port = free_port()
    env = {"TRADING_OPT_TENSORBOARD_SYNC_SECONDS": "0.5"}
    argv = [sys.executable, "-m", "tradeopt_training.tensorboard", "--port", str(port)]
    proc = processes(ManagedProcess("tensorboard", argv, env, tmp_path))
    base = f"http://127.0.0.1:{port}/tensorboard"

    def tags() -> dict | None:
        assert proc.proc is not None and proc.proc.poll() is None, proc.log_path.read_text()
        try:
            resp = httpx.get(f"{base}/data/plugin/scalars/tags", timeout=5)
        except httpx.TransportError:
            return None
        return resp.json() if resp.status_code == 200 and resp.json() else None

    assert wait_for(tags, 60, interval=0.5, what="the run in TensorBoard") == {
        str(run): {"train/value_loss": {"displayName": "train/value_loss", "description": ""}}
    }
    points = httpx.get(
        f"{base}/data/plugin/scalars/scalars", params={"run": str(run), "tag": "train/value_loss"}
    ).json()
    assert [(step, value) for _, step, value in points] == [(0, 0.5), (1, 1.5), (2, 2.5)]
    logdir = Path(fleet_env["TRADING_OPT_DATA_DIR"]) / "tensorboard"
    assert [p.name for p in logdir.iterdir()] == [str(run)]
    # served under its prefix only (the gateway's location)
    assert httpx.get(f"http://127.0.0.1:{port}/data/runs").status_code == 404
