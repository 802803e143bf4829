"""Benchmark: what parallel trials and pruning buy a tuning study, with real processes.

Starts its own fleet on loopback: a throwaway database on the local PostgreSQL (plus its Optuna
database), its own Redis db index, the S3 test server (SeaweedFS), the data, training and tuning
APIs (uvicorn) and Celery workers (one data worker, up to two training workers, one tuning
worker; the test-suite helpers of ``tests/support``), ingests the SPY daily sample, then prints:

(a) **parallel trials**: an 8-trial A2C study with ``parallelism`` 1 on one training worker vs
    the same study (same seed) with ``parallelism`` 2 on two training workers: wall time from
    ``POST /studies`` to ``succeeded`` and the speed-up (goal >= 1.8x; on a machine with spare
    cores, since each training worker runs one trial on one torch thread);
(b) **pruning**: a 16-trial study with the median pruner vs ``pruner: none`` (same seed, an
    evaluation every ``eval_every`` timesteps in both): timesteps trained over all its runs (from
    the training API: a pruned run stops where it was canceled; its figure is its last progress
    report, at most about a second of training before it stopped), the fraction median/none
    (goal <= 70%), trials pruned and both studies' best objective.

Everything is torn down afterwards (processes, databases, S3 data). ``--quick``: tiny studies,
a smoke run of the same code path (the figures mean nothing then).

Run: ``.venv/bin/python benchmarks/bench_tuning.py [--quick] [--db NAME] [--redis URL]``
Needs PostgreSQL (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379) running and the ``weed``
binary of the test S3 server in the venv. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the shared helpers of tests/support
from tests.support.databases import drop_database, pg_url_for, recreate_database  # noqa: E402
from tests.support.live import fuzz_env, live_api  # noqa: E402
from tests.support.processes import (  # noqa: E402
    ManagedProcess,
    celery_worker,
    wait_for,
    wait_worker_ready,
)
from tests.support.s3server import S3Server  # noqa: E402

API_KEY = "bench-tuning-key-0123456789abcdef"
TARGET_SPEEDUP, TARGET_FRACTION = 1.8, 0.70
TERMINAL = ("succeeded", "failed", "canceled")


@dataclass(frozen=True)
class Plan:
    """Sizes of the two experiments."""

    parallel_trials: int
    parallel_timesteps: int
    prune_trials: int
    prune_timesteps: int
    eval_every: int
    timeout: float


FULL = Plan(8, 4096, 16, 2048, 256, 900.0)
QUICK = Plan(2, 128, 4, 256, 64, 300.0)


def study_body(dataset_id: str, **fields: Any) -> dict[str, Any]:
    """A small A2C study on SPY (window 5, log returns, 16-step rollouts)."""
    return {
        "dataset_id": dataset_id,
        "algorithm": "a2c",
        "seed": 3,
        "sampler": "tpe",
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "gamma": {"type": "categorical", "choices": [0.9, 0.95, 0.99]},
            "ent_coef": {"type": "float", "low": 0.0, "high": 0.05},
        },
        "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
        "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
        "hyperparams": {"n_steps": 16},
        **fields,
    }


class Bench:
    """The fleet under measurement and the HTTP clients of its APIs."""

    def __init__(self, env: dict[str, str], log_dir: Path, urls: dict[str, str]) -> None:
        self.env, self.log_dir, self.urls = env, log_dir, urls
        self.workers: dict[str, ManagedProcess] = {}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        self.http = {
            name: httpx.Client(base_url=url, headers=headers, timeout=30)
            for name, url in urls.items()
        }

    def worker(self, app: str, queues: str, name: str) -> None:
        """Start a worker (once) and wait until it is ready."""
        if name not in self.workers:
            self.workers[name] = celery_worker(app, queues, self.env, self.log_dir, name).start()
            wait_worker_ready(self.workers[name])

    def ingest_spy(self) -> str:
        """The SPY daily sample as a ready dataset; its id."""
        resp = self.http["data"].post(
            "/api/v1/datasets", json={"source": "sample", "symbol": "SPY"}
        )
        resp.raise_for_status()
        dataset_id = resp.json()["id"]

        def ready() -> bool:
            status = self.http["data"].get(f"/api/v1/datasets/{dataset_id}").json()["status"]
            if status in ("failed", "canceled"):
                raise RuntimeError(f"the SPY ingest {status}")
            return status == "ready"

        wait_for(ready, 120, 0.2, "the SPY dataset")
        return dataset_id

    def run_study(self, body: dict[str, Any], timeout: float) -> tuple[dict[str, Any], float]:
        """Create a study and wait for its end; the study and the wall seconds it took."""
        started = time.perf_counter()
        resp = self.http["tuning"].post("/api/v1/studies", json=body)
        if resp.status_code != 202:
            raise RuntimeError(f"study refused: {resp.status_code} {resp.text}")
        path = f"/api/v1/studies/{resp.json()['id']}"

        def ended() -> dict[str, Any] | None:
            study = self.http["tuning"].get(path).json()
            return study if study["status"] in TERMINAL else None

        study = wait_for(ended, timeout, 0.1, f"study {path}")
        elapsed = time.perf_counter() - started
        if study["status"] != "succeeded":
            raise RuntimeError(f"study ended {study['status']}: {study.get('error')}")
        return study, elapsed

    def timesteps_trained(self, study_id: str) -> tuple[int, int]:
        """Timesteps trained over every run of a study, and its number of runs."""
        runs = (
            self.http["training"]
            .get("/api/v1/runs", params={"study_id": study_id, "limit": 200})
            .json()["items"]
        )
        return sum(int(r["timesteps"] or 0) for r in runs), len(runs)

    def close(self) -> None:
        for client in self.http.values():
            client.close()
        for worker in reversed(self.workers.values()):
            worker.stop()


@contextlib.contextmanager
def fleet(db: str, redis_url: str, workdir: Path) -> Iterator[Bench]:
    """The benchmark's own database, Redis db, S3 server and APIs until the block ends."""
    from tradeopt_common.db.migrations import upgrade

    asyncio.run(recreate_database(db))
    url = pg_url_for(db)
    redis.Redis.from_url(redis_url).flushdb()
    s3 = S3Server(workdir)
    s3.start()
    log_dir = workdir / "logs"
    log_dir.mkdir()
    try:
        env = {
            **fuzz_env(url, redis_url, s3, workdir, API_KEY),
            "TRADING_OPT_LOG_LEVEL": "INFO",
            "TRADING_OPT_JOB_HEARTBEAT_SECONDS": "1",
        }
        os.environ.update(env)
        upgrade(url)
        with contextlib.ExitStack() as stack:
            urls = {}
            for name in ("data", "training", "tuning"):
                app = f"tradeopt_{name}.app:create_app"
                urls[name] = stack.enter_context(live_api(app, env, log_dir, f"{name}-api"))
            bench = Bench({**env, "TRADING_OPT_TRAINING_URL": urls["training"]}, log_dir, urls)
            try:
                yield bench
            finally:
                bench.close()
    finally:
        s3.stop()
        redis.Redis.from_url(redis_url).flushdb()
        asyncio.run(drop_database(db))
        asyncio.run(drop_database(f"{db}_optuna"))


def measure(plan: Plan, bench: Bench) -> dict[str, Any]:
    """Run both experiments; their figures."""
    bench.worker("tradeopt_data.worker:celery_app", "data,maintenance", "data-worker")
    bench.worker("tradeopt_tuning.worker:celery_app", "tuning", "tuning-worker")
    bench.worker("tradeopt_training.worker:celery_app", "training", "training-1")
    spy = bench.ingest_spy()

    n, steps = plan.parallel_trials, plan.parallel_timesteps
    one = study_body(spy, n_trials=n, parallelism=1, timesteps_per_trial=steps)
    serial, t_serial = bench.run_study(one, plan.timeout)
    bench.worker("tradeopt_training.worker:celery_app", "training", "training-2")
    two = {**one, "parallelism": 2}
    parallel, t_parallel = bench.run_study(two, plan.timeout)

    n, steps = plan.prune_trials, plan.prune_timesteps
    base = study_body(
        spy, n_trials=n, parallelism=2, timesteps_per_trial=steps, eval_every=plan.eval_every
    )
    unpruned, t_none = bench.run_study({**base, "pruner": "none"}, plan.timeout)
    pruned, t_median = bench.run_study({**base, "pruner": "median"}, plan.timeout)
    ts_none, runs_none = bench.timesteps_trained(unpruned["id"])
    ts_median, runs_median = bench.timesteps_trained(pruned["id"])
    return {
        "serial_s": t_serial,
        "parallel_s": t_parallel,
        "speedup": t_serial / t_parallel,
        "same_best": serial["best_trial"]["params"] == parallel["best_trial"]["params"],
        "none_timesteps": ts_none,
        "median_timesteps": ts_median,
        "fraction": ts_median / ts_none,
        "runs": (runs_none, runs_median),
        "n_pruned": pruned["n_pruned"],
        "n_complete": (unpruned["n_complete"], pruned["n_complete"]),
        "best": (unpruned["best_trial"]["value"], pruned["best_trial"]["value"]),
        "wall": (t_none, t_median),
    }


def report(plan: Plan, fig: dict[str, Any], quick: bool) -> None:
    """Print the figures (and PASS/FAIL against the goals unless ``quick``)."""

    def verdict(ok: bool) -> str:
        return "" if quick else ("  PASS" if ok else "  FAIL")

    print(f"CPUs: {os.cpu_count()}, load average at the end: {os.getloadavg()}")
    print(
        f"(a) {plan.parallel_trials} trials x {plan.parallel_timesteps} timesteps (A2C, SPY): "
        f"parallelism 1 on 1 training worker {fig['serial_s']:.1f} s, parallelism 2 on 2 "
        f"workers {fig['parallel_s']:.1f} s -> {fig['speedup']:.2f}x "
        f"(goal >= {TARGET_SPEEDUP}x){verdict(fig['speedup'] >= TARGET_SPEEDUP)}"
    )
    print(f"    same best trial parameters in both: {fig['same_best']}")
    print(
        f"(b) {plan.prune_trials} trials x {plan.prune_timesteps} timesteps, eval every "
        f"{plan.eval_every}: none {fig['none_timesteps']} timesteps trained "
        f"({fig['runs'][0]} runs, {fig['wall'][0]:.1f} s), median {fig['median_timesteps']} "
        f"({fig['runs'][1]} runs, {fig['n_pruned']} pruned, {fig['wall'][1]:.1f} s) -> "
        f"{fig['fraction']:.1%} (goal <= {TARGET_FRACTION:.0%})"
        f"{verdict(fig['fraction'] <= TARGET_FRACTION)}"
    )
    print(
        f"    best objective (validation Sharpe): none {fig['best'][0]:.4f}, "
        f"median {fig['best'][1]:.4f}; complete trials {fig['n_complete']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny studies (a smoke run)")
    parser.add_argument("--db", default=f"tradeopt_bench_tuning_{uuid.uuid4().hex[:6]}")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as tmp:
        with fleet(args.db, args.redis, Path(tmp)) as bench:
            figures = measure(plan, bench)
        report(plan, figures, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
