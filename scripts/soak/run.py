"""The fault soak: jobs through the gateway while faults are injected, then the figures.

What it does, in order:

1. A throwaway PostgreSQL cluster and Redis on spare loopback ports, and the local fleet
   (``scripts/fleet.sh up``: S3, data/training/evaluation APIs and workers, beat, nginx) against
   them, with fast reaper settings. A write key and a read key are made with the CLI.
2. For ``seconds``: a stream of dataset (synthetic and sample), training (tiny
   ``total_timesteps``) and evaluation (baselines and trained models) jobs through the gateway,
   some runs cancelled on the way, a poller and a light read probe; meanwhile faults in turn:
   SIGKILL of a worker, a Redis restart (every queued message lost), a PostgreSQL restart, and
   bursts of bad requests (malformed JSON, wrong types, unknown ids, oversized bodies, bad auth).
3. A drain (no new jobs) until every job is terminal or ``drain`` seconds passed.
4. The figures: jobs submitted / succeeded / failed (with a clear error or not) / canceled /
   lost / completed twice, API error rate during and after each fault, time to recover after each
   PostgreSQL restart, and every bad request that did not get a 4xx problem+json.

A job is *lost* when it is not terminal after the drain, or when its resource's status disagrees
with its job's. *Completed twice*: more than one ``job.finished`` event for one job id in the
workers' logs, or more than one registered model for one run. Only loopback addresses are used;
every loop is bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.soak.api import PATHS, PROBLEM_JSON, TERMINAL, Api, json_body, retryable
from scripts.soak.infra import REPO, Fleet, Ports, PostgresCluster, RedisServer, wait_until
from scripts.soak.report import Report, build_report, format_report

#: Reaper and heartbeat settings of the soak fleet: a dead worker is noticed within seconds.
FAST_JOBS_ENV = {
    "TRADING_OPT_JOB_HEARTBEAT_SECONDS": "1",
    "TRADING_OPT_JOB_STALE_AFTER_SECONDS": "6",
    "TRADING_OPT_JOB_REQUEUE_AFTER_SECONDS": "5",
    "TRADING_OPT_REAPER_INTERVAL_SECONDS": "2",
    "TRADING_OPT_JOB_MAX_ATTEMPTS": "4",
}


# ---------------------------------------------------------------------------------------------
# what the soak submitted


@dataclass
class Tracked:
    """A job-backed resource the soak created."""

    kind: str  # dataset | run | evaluation
    id: str
    job_id: str
    submitted: float
    what: str
    status: str = "queued"
    model_id: str | None = None
    dataset_id: str | None = None
    cancel_at: float | None = None
    cancel_answer: int | None = None
    final_job: dict[str, Any] = field(default_factory=dict)
    final_resource: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The resource's API path."""
        return f"/api/v1/{PATHS[self.kind]}/{self.id}"


@dataclass
class Fault:
    """One injected fault: ``start`` .. ``recovered`` is *during*; the next ``after_s`` *after*."""

    name: str
    start: float
    recovered: float = 0.0
    note: str = ""
    recovery_write_s: float | None = None  # PostgreSQL: first successful API write after start
    recovery_job_s: float | None = None  # PostgreSQL: first job completion after start


@dataclass
class BadResult:
    """A bad request and what the API answered."""

    name: str
    status: int | None
    content_type: str
    ok: bool
    detail: str


class Soak:
    """The load, the faults, the accounting."""

    def __init__(
        self,
        fleet: Fleet,
        pg: PostgresCluster,
        redis_server: RedisServer,
        api: Api,
        read_key: str,
        *,
        seconds: float,
        drain: float,
        fault_every: float,
        seed: int,
        log=print,
    ) -> None:
        self.fleet, self.pg, self.redis, self.api = fleet, pg, redis_server, api
        self.read_key = read_key
        self.seconds, self.drain, self.fault_every = seconds, drain, fault_every
        self.rng = random.Random(seed)
        self.log = log
        self.tracked: list[Tracked] = []
        self.faults: list[Fault] = []
        self.bad: list[BadResult] = []
        self.rejected: list[str] = []  # submissions refused with a 4xx (should not happen)
        self.gave_up: list[str] = []  # submissions never accepted (kept failing with 5xx)
        self._lock = threading.Lock()
        self.stop_submitting = threading.Event()
        self.stop_all = threading.Event()
        self.t0 = time.monotonic()

    # -- helpers ---------------------------------------------------------------------------

    def rel(self, t: float) -> float:
        """Seconds since the soak started."""
        return t - self.t0

    def say(self, msg: str) -> None:
        """Log a timestamped line."""
        self.log(f"soak [{self.rel(time.monotonic()):6.1f}s] {msg}")

    def _track(self, item: Tracked) -> Tracked:
        with self._lock:
            self.tracked.append(item)
        return item

    def outstanding(self, kind: str) -> list[Tracked]:
        """Tracked resources of ``kind`` not terminal yet (as last polled)."""
        with self._lock:
            return [t for t in self.tracked if t.kind == kind and t.status not in TERMINAL]

    def done(self, kind: str) -> list[Tracked]:
        """Tracked resources of ``kind`` seen terminal."""
        with self._lock:
            return [t for t in self.tracked if t.kind == kind and t.status in TERMINAL]

    def submit(self, kind: str, body: dict[str, Any], what: str, source: str = "submit"):
        """POST with retries on 5xx/connection errors/429 (the same Idempotency-Key, as a
        client should), for at most 45 s. Returns the Tracked, or None.
        """
        path = f"/api/v1/{PATHS[kind]}"
        headers = {"Idempotency-Key": f"soak-{uuid.uuid4().hex}"}
        deadline = time.monotonic() + 45
        while not self.stop_all.is_set():
            resp = self.api.request(source, "POST", path, json=body, headers=headers)
            if resp is not None and resp.status_code in (200, 201, 202):
                data = resp.json()
                status = data.get("status", "queued")
                item = Tracked(kind, data["id"], data.get("job_id") or "", time.monotonic(), what)
                item.status = status if data.get("job_id") else "succeeded"
                return self._track(item)
            if not retryable(resp):
                assert resp is not None
                self.rejected.append(f"POST {path} {what}: {resp.status_code} {resp.text[:300]}")
                return None
            if time.monotonic() > deadline:
                self.gave_up.append(f"POST {path} {what}: last answer {resp and resp.status_code}")
                return None
            time.sleep(0.5)
        return None

    # -- the workload ----------------------------------------------------------------------

    def dataset_body(self) -> tuple[dict[str, Any], str]:
        """A synthetic (mostly) or sample dataset request, and its label."""
        if self.rng.random() < 0.2:
            symbol = self.rng.choice(["SPY", "QQQ", "TLT", "GLD", "IWM"])
            return {"source": "sample", "symbol": symbol}, f"sample {symbol}"
        seed = self.rng.randrange(1_000_000)
        bars = self.rng.choice([400, 600, 800])
        body = {"source": "synthetic", "symbols": ["SYN"], "bars": bars, "seed": seed}
        return body, f"synthetic {bars} bars seed {seed}"

    def ready_datasets(self) -> list[Tracked]:
        """Datasets seen ready."""
        return [d for d in self.done("dataset") if d.status == "succeeded"]

    def submit_run(self) -> None:
        """A tiny training run on a ready dataset; one in five is cancelled later."""
        dataset = self.rng.choice(self.ready_datasets())
        body = {
            "dataset_id": dataset.id,
            "algorithm": self.rng.choice(["a2c", "ppo"]),
            "total_timesteps": 256,
            "seed": self.rng.randrange(1000),
            "hyperparams": {"n_steps": 32},
            "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
        }
        if body["algorithm"] == "ppo":
            body["hyperparams"] = {"n_steps": 64, "batch_size": 32, "n_epochs": 1}
        run = self.submit("run", body, f"{body['algorithm']} on dataset {dataset.id[:8]}")
        if run is not None:
            run.dataset_id = dataset.id
        if run is not None and self.rng.random() < 0.2:
            run.cancel_at = time.monotonic() + self.rng.uniform(0.2, 4.0)

    def submit_evaluation(self) -> None:
        """A baseline or model evaluation; some are cancelled later."""
        models = [r for r in self.done("run") if r.status == "succeeded" and r.model_id]
        if models and self.rng.random() < 0.5:
            run = self.rng.choice(models)
            body: dict[str, Any] = {
                "model_id": run.model_id,
                "dataset_id": run.dataset_id,
                "split": "test",
            }
            what = f"model {run.model_id[:8] if run.model_id else ''}"
        else:
            dataset = self.rng.choice(self.ready_datasets())
            baseline = self.rng.choice(["buy_and_hold", "sma_crossover", "flat"])
            body = {"baseline": baseline, "dataset_id": dataset.id, "split": "test"}
            what = f"{baseline} on dataset {dataset.id[:8]}"
        evaluation = self.submit("evaluation", body, what)
        if evaluation is not None and self.rng.random() < 0.15:
            evaluation.cancel_at = time.monotonic() + self.rng.uniform(0.0, 2.0)

    def submitter(self) -> None:
        """The job stream, bounded per kind, until submitting stops."""
        while not self.stop_submitting.is_set():
            try:
                ready = self.ready_datasets()
                pending = len(self.outstanding("dataset"))
                wanted = len(ready) < 2 or (pending < 2 and self.rng.random() < 0.3)
                if wanted and pending < 3:
                    body, what = self.dataset_body()
                    self.submit("dataset", body, what)
                if ready and len(self.outstanding("run")) < 2:
                    self.submit_run()
                if ready and len(self.outstanding("evaluation")) < 3:
                    self.submit_evaluation()
                self.cancel_due()
            except Exception as exc:  # the soak itself must not die: record and go on
                self.say(f"submitter error: {type(exc).__name__}: {exc}")
            self.stop_submitting.wait(0.7)
        self.cancel_due(all_now=True)

    def cancel_due(self, all_now: bool = False) -> None:
        """Cancel the runs and evaluations picked for it: through their own service's route,
        or through ``/api/v1/jobs/{id}/cancel`` (served by the data service, which does not
        know runs or evaluations: their service is told by an end notification).
        """
        now = time.monotonic()
        for item in [*self.outstanding("run"), *self.outstanding("evaluation")]:
            if item.cancel_at is None or item.cancel_answer is not None:
                continue
            if not all_now and item.cancel_at > now:
                continue
            path = (
                f"/api/v1/jobs/{item.job_id}/cancel"
                if self.rng.random() < 0.5 or item.kind == "evaluation"
                else f"{item.path}/cancel"
            )
            resp = self.api.request("submit", "POST", path)
            for _ in range(20):
                if not retryable(resp):
                    break
                time.sleep(0.5)
                resp = self.api.request("submit", "POST", path)
            item.cancel_answer = None if resp is None else resp.status_code

    def poller(self) -> None:
        """Polls the outstanding resources (a few per half second)."""
        turn = 0
        while not self.stop_all.is_set():
            with self._lock:
                pending = [t for t in self.tracked if t.status not in TERMINAL]
            if pending:
                batch = pending[turn % len(pending) :] + pending[: turn % len(pending)]
                for item in batch[:6]:
                    resp = self.api.request("poll", "GET", item.path)
                    if resp is not None and resp.status_code == 200:
                        body = resp.json()
                        item.status = {"ready": "succeeded"}.get(body["status"], body["status"])
                        item.model_id = body.get("model_id") or item.model_id
                turn += 6
            self.stop_all.wait(0.5)

    def prober(self) -> None:
        """Light list traffic, so that every fault window has requests."""
        paths = ["/api/v1/datasets?limit=1", "/api/v1/runs?limit=1", "/api/v1/evaluations?limit=1"]
        i = 0
        while not self.stop_all.is_set():
            self.api.request("probe", "GET", paths[i % len(paths)])
            i += 1
            self.stop_all.wait(0.25)

    # -- faults ----------------------------------------------------------------------------

    def fault_plan(self) -> list[str]:
        """The faults, in order, one every ``fault_every`` seconds."""
        workers = [f"{s}-worker" for s in self.fleet.services]
        cycle = [
            "kill:training-worker",
            "redis",
            "bad",
            "postgres",
            "kill:evaluation-worker",
            "kill:data-worker",
            "bad",
            "redis",
            "postgres",
        ]
        cycle = [f for f in cycle if not f.startswith("kill:") or f[5:] in workers]
        n = max(1, int(self.seconds // self.fault_every))
        return [cycle[i % len(cycle)] for i in range(n)]

    def inject(self, name: str) -> Fault:
        """Inject one fault and wait until it is over (the program restarted, the server up)."""
        fault = Fault(name, time.monotonic())
        if name.startswith("kill:"):
            program = name[5:]
            pid = self.fleet.kill_program(program)
            fault.note = f"SIGKILL pid {pid}"

            def restarted() -> bool:
                new = self.fleet.pid(program)
                return (
                    new is not None
                    and new != pid
                    and "RUNNING" in self.fleet.supervisorctl("status", program)
                )

            with contextlib.suppress(TimeoutError):
                wait_until(restarted, 60, 0.2, f"{program} restarted")
        elif name == "redis":
            self.redis.stop()
            time.sleep(2)
            self.redis.start()
            fault.note = "SIGKILL, 2 s down, restarted empty"
        elif name == "postgres":
            self.pg.stop("immediate")
            time.sleep(3)
            self.pg.start()
            fault.note = "pg_ctl stop -m immediate, 3 s down, pg_ctl start"
        elif name == "bad":
            self.bad_burst()
            fault.note = "bad requests"
        fault.recovered = time.monotonic()
        if name == "postgres":
            self.measure_pg_recovery(fault)
        return fault

    def measure_pg_recovery(self, fault: Fault) -> None:
        """From PostgreSQL accepting connections again: the first successful write through the
        gateway (a dataset job created), then that job's completion.
        """
        up = fault.recovered
        body = {"source": "synthetic", "symbols": ["REC"], "bars": 300, "seed": 1}
        headers = {"Idempotency-Key": f"soak-recovery-{uuid.uuid4().hex}"}
        item = None
        while time.monotonic() - up < 60:
            resp = self.api.request(
                "recovery", "POST", "/api/v1/datasets", json=body, headers=headers
            )
            if resp is not None and resp.status_code in (201, 202):
                data = resp.json()
                fault.recovery_write_s = time.monotonic() - up
                item = self._track(
                    Tracked("dataset", data["id"], data["job_id"], time.monotonic(), "recovery")
                )
                break
            time.sleep(0.1)
        if item is None:
            return
        while time.monotonic() - up < 90:
            resp = self.api.request("recovery", "GET", f"/api/v1/jobs/{item.job_id}")
            status = json_body(resp).get("status")
            if status in TERMINAL:
                if status == "succeeded":
                    fault.recovery_job_s = time.monotonic() - up
                break
            time.sleep(0.1)

    def bad_burst(self) -> None:
        """Malformed JSON, wrong types, unknown ids, oversized bodies, bad auth, wrong scope,
        wrong media type: each must get a 4xx application/problem+json, never a 5xx.
        """
        unknown = str(uuid.uuid4())
        dataset = next(iter(self.ready_datasets()), None)
        dataset_id = dataset.id if dataset else unknown
        j = {"Content-Type": "application/json"}
        cases: list[tuple[str, str, str, dict[str, Any]]] = [
            (
                "malformed JSON",
                "POST",
                "/api/v1/datasets",
                {"content": b'{"source": "synth', "headers": j},
            ),
            (
                "malformed JSON (runs)",
                "POST",
                "/api/v1/runs",
                {"content": b"{'dataset_id': 1,}", "headers": j},
            ),
            (
                "wrong types (runs)",
                "POST",
                "/api/v1/runs",
                {"json": {"dataset_id": 5, "total_timesteps": "many", "algorithm": 3}},
            ),
            (
                "wrong types (datasets)",
                "POST",
                "/api/v1/datasets",
                {"json": {"source": "synthetic", "symbols": "SYN", "bars": "lots"}},
            ),
            (
                "wrong types (evaluations)",
                "POST",
                "/api/v1/evaluations",
                {"json": {"baseline": 7, "dataset_id": "not-a-uuid", "split": "sideways"}},
            ),
            ("JSON array body", "POST", "/api/v1/evaluations", {"json": [1, 2, 3]}),
            ("unknown dataset", "GET", f"/api/v1/datasets/{unknown}", {}),
            ("unknown run", "GET", f"/api/v1/runs/{unknown}", {}),
            ("unknown model", "GET", f"/api/v1/models/{unknown}", {}),
            ("unknown evaluation", "GET", f"/api/v1/evaluations/{unknown}", {}),
            ("unknown job", "GET", f"/api/v1/jobs/{unknown}", {}),
            ("cancel unknown job", "POST", f"/api/v1/jobs/{unknown}/cancel", {}),
            ("cancel unknown run", "POST", f"/api/v1/runs/{unknown}/cancel", {}),
            ("malformed id", "GET", "/api/v1/runs/not-a-uuid", {}),
            (
                "run on unknown dataset",
                "POST",
                "/api/v1/runs",
                {"json": {"dataset_id": unknown, "total_timesteps": 64}},
            ),
            (
                "evaluation of unknown model",
                "POST",
                "/api/v1/evaluations",
                {"json": {"model_id": unknown, "split": "test"}},
            ),
            (
                "run with unknown algorithm",
                "POST",
                "/api/v1/runs",
                {"json": {"dataset_id": dataset_id, "algorithm": "magic"}},
            ),
            (
                "wrong media type",
                "POST",
                "/api/v1/runs",
                {"content": b"dataset_id=1", "headers": {"Content-Type": "text/plain"}},
            ),
            (
                "oversized body (11 MiB)",
                "POST",
                "/api/v1/runs",
                {"content": b"{" + b" " * (11 * 1024 * 1024) + b"}", "headers": j},
            ),
            ("no key", "GET", "/api/v1/datasets", {"key": None}),
            ("unknown key", "GET", "/api/v1/runs", {"key": "soak-not-a-key-0123456789abcdef"}),
            (
                "malformed auth header",
                "GET",
                "/api/v1/evaluations",
                {"key": None, "headers": {"Authorization": "Bearer"}},
            ),
            (
                "basic auth",
                "GET",
                "/api/v1/datasets",
                {"key": None, "headers": {"Authorization": "Basic dXNlcjpwdw=="}},
            ),
            (
                "read key writes",
                "POST",
                "/api/v1/datasets",
                {"key": self.read_key, "json": {"source": "sample", "symbol": "SPY"}},
            ),
            ("unknown route", "GET", "/api/v1/nothing-here", {}),
        ]
        for name, method, path, kwargs in cases:
            resp = self.api.request("bad", method, path, **kwargs)
            ctype = "" if resp is None else resp.headers.get("content-type", "")
            status = None if resp is None else resp.status_code
            body = json_body(resp)
            ok = (
                status is not None
                and 400 <= status < 500
                and ctype.startswith(PROBLEM_JSON)
                and body.get("status") == status
                and bool(body.get("title"))
            )
            detail = "" if ok else (resp.text[:300] if resp is not None else "connection error")
            self.bad.append(BadResult(name, status, ctype, ok, detail))
            time.sleep(0.05)  # ~20 requests/s: under the gateway's per-address rate limit

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        """Load + faults for ``seconds``, drain, read every resource and job back."""
        threads = [
            threading.Thread(target=self.submitter, name="submitter", daemon=True),
            threading.Thread(target=self.poller, name="poller", daemon=True),
            threading.Thread(target=self.prober, name="prober", daemon=True),
        ]
        for t in threads:
            t.start()
        # warm-up: the first datasets must be ready before faults start
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: self.ready_datasets(), 60, 0.5, "a first ready dataset")
        plan = self.fault_plan()
        self.say(f"faults every {self.fault_every:.0f}s: {', '.join(plan)}")
        start = time.monotonic()
        for i, name in enumerate(plan):
            due = start + i * self.fault_every + 3
            while time.monotonic() < due:
                time.sleep(0.1)
            fault = self.inject(name)
            self.faults.append(fault)
            extra = ""
            if name == "postgres":
                extra = f" write after {fault.recovery_write_s}s, job after {fault.recovery_job_s}s"
            self.say(f"fault {name}: {fault.note}{extra}")
        while time.monotonic() < start + self.seconds:
            time.sleep(0.2)
        self.stop_submitting.set()
        threads[0].join(60)
        self.say(f"submitting stopped; draining (at most {self.drain:.0f}s)")
        drain_start = time.monotonic()
        while time.monotonic() - drain_start < self.drain:
            with self._lock:
                pending = [t for t in self.tracked if t.status not in TERMINAL]
            if not pending:
                break
            time.sleep(1)
        self.drained_after = time.monotonic() - drain_start
        self.stop_all.set()
        for t in threads[1:]:
            t.join(30)
        self.final_check()

    def final_check(self) -> None:
        """Each resource and its job as a client sees them through the gateway."""
        for item in self.tracked:
            for _ in range(10):
                resp = self.api.request("final", "GET", item.path)
                if resp is not None and resp.status_code == 200:
                    item.final_resource = resp.json()
                    break
                time.sleep(0.5)
            if item.job_id:
                for _ in range(10):
                    resp = self.api.request("final", "GET", f"/api/v1/jobs/{item.job_id}")
                    if resp is not None and resp.status_code == 200:
                        item.final_job = resp.json()
                        break
                    time.sleep(0.5)
            time.sleep(0.03)


# ---------------------------------------------------------------------------------------------
# the whole thing


def _create_key(fleet: Fleet, name: str, scopes: list[str]) -> str:
    argv = [str(REPO / ".venv" / "bin" / "tradeopt"), "keys", "create", "--name", name]
    for scope in scopes:
        argv += ["--scope", scope]
    out = subprocess.run(
        argv, env=fleet.env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"tradeopt keys create failed:\n{out.stdout}{out.stderr}")
    return out.stdout.strip().splitlines()[-1].strip()


def run_soak(
    seconds: float = 600,
    *,
    drain: float = 120,
    fault_every: float | None = None,
    seed: int = 17,
    workdir: Path | None = None,
    keep: bool = False,
    log=print,
) -> Report:
    """Start everything, soak for ``seconds``, drain, tear down; return the figures."""
    own_dir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="tradeopt-soak-"))
    ports = Ports()
    pg = PostgresCluster(workdir, ports.one()).init()
    redis_server = RedisServer(workdir, ports.one())
    fleet = None
    api = None
    started = time.monotonic()
    try:
        pg.start()
        redis_server.start()
        fleet = Fleet(
            workdir / "fleet",
            ports,
            pg.url,
            redis_server.url,
            api_key=f"soak-bootstrap-{uuid.uuid4().hex}",
            extra_env=FAST_JOBS_ENV,
        )
        log(
            f"soak: PostgreSQL 127.0.0.1:{pg.port}, Redis 127.0.0.1:{redis_server.port}, "
            f"gateway {fleet.gateway}, S3 :{fleet.s3_port}, run dir {fleet.run_dir}"
        )
        fleet.up()
        log(f"soak: fleet up in {time.monotonic() - started:.0f}s")
        write_key = _create_key(fleet, "soak-writer", ["read", "write"])
        read_key = _create_key(fleet, "soak-reader", ["read"])
        api = Api(fleet.gateway, write_key)
        soak = Soak(
            fleet,
            pg,
            redis_server,
            api,
            read_key,
            seconds=seconds,
            drain=drain,
            fault_every=fault_every or (15.0 if seconds <= 180 else 25.0),
            seed=seed,
            log=log,
        )
        soak.run()
        report = build_report(soak)
        log(format_report(report))
        return report
    finally:
        if api is not None:
            api.close()
        if fleet is not None:
            down = fleet.down()
            if down.returncode != 0:
                log(f"soak: fleet.sh down failed:\n{down.stdout}{down.stderr}")
        redis_server.stop()
        pg.destroy() if not keep else pg.stop("fast")
        if own_dir and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif keep:
            log(f"soak: kept {workdir}")
        log(f"soak: {time.monotonic() - started:.0f}s in all")


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def main(argv: list[str] | None = None) -> int:
    """Command line: run the soak, print the figures; exit 1 when one does not hold."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m scripts.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=_env_float("SOAK_SECONDS", 600))
    parser.add_argument("--drain", type=float, default=_env_float("SOAK_DRAIN_SECONDS", 120))
    parser.add_argument("--fault-every", type=float, default=None)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    args = parser.parse_args(argv)
    report = run_soak(
        args.seconds,
        drain=args.drain,
        fault_every=args.fault_every,
        seed=args.seed,
        keep=args.keep,
    )
    problems = (
        report.lost_count
        + report.twice_count
        + len(report.failed_unclear)
        + len(report.bad_wrong)
        + len(report.rejected)
        + report.api_500
    )
    return 1 if problems else 0
