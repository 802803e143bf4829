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

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scripts.soak.infra import REPO, Fleet, Ports, PostgresCluster, RedisServer, wait_until

#: Reaper and heartbeat settings of the soak fleet: a dead worker is noticed within seconds.
FAST_JOBS_ENV = {
    "TRADING_OPT_JOB_HEARTBEAT_SECONDS": "1",
    "TRADING_OPT_JOB_STALE_AFTER_SECONDS": "6",
    "TRADING_OPT_JOB_REQUEUE_AFTER_SECONDS": "5",
    "TRADING_OPT_REAPER_INTERVAL_SECONDS": "2",
    "TRADING_OPT_JOB_MAX_ATTEMPTS": "4",
}
TERMINAL = {"succeeded", "failed", "canceled"}
#: job status -> the resource statuses that agree with it (the services' ResourceBindings).
AGREES = {
    "queued": {"queued"},
    "running": {"running"},
    "waiting": {"running", "waiting"},
    "succeeded": {"succeeded", "ready"},
    "failed": {"failed"},
    "canceled": {"canceled"},
}
PATHS = {"dataset": "datasets", "run": "runs", "evaluation": "evaluations"}
PROBLEM_JSON = "application/problem+json"


# ---------------------------------------------------------------------------------------------
# the client side: every request is recorded


@dataclass(frozen=True)
class Call:
    """One HTTP request the soak made."""

    t: float  # monotonic, when it was sent
    source: str  # submit | poll | probe | recovery | bad | final
    method: str
    path: str
    status: int | None  # None: connection error / timeout
    ms: float


class Api:
    """httpx clients through the gateway, one loopback source address per role (the gateway's
    rate limit is per client address), recording every call.
    """

    SOURCES = {
        "submit": "127.0.0.2",
        "poll": "127.0.0.3",
        "probe": "127.0.0.4",
        "recovery": "127.0.0.5",
        "bad": "127.0.0.6",
        "final": "127.0.0.7",
    }

    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, int], httpx.Client] = {}

    def _client(self, source: str) -> httpx.Client:
        ident = (source, threading.get_ident())
        client = self._clients.get(ident)
        if client is None:
            transport = httpx.HTTPTransport(local_address=self.SOURCES[source], retries=0)
            client = httpx.Client(base_url=self.base, transport=transport, timeout=15.0)
            self._clients[ident] = client
        return client

    def request(
        self,
        source: str,
        method: str,
        path: str,
        *,
        key: str | None = "default",
        **kwargs: Any,
    ) -> httpx.Response | None:
        """Send one request as ``source``; None on a connection error or timeout."""
        headers = dict(kwargs.pop("headers", None) or {})
        if key == "default":
            key = self.key
        if key is not None and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {key}"
        started = time.monotonic()
        resp: httpx.Response | None
        try:
            resp = self._client(source).request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError:
            resp = None
        call = Call(
            started,
            source,
            method,
            path,
            None if resp is None else resp.status_code,
            (time.monotonic() - started) * 1000,
        )
        with self._lock:
            self.calls.append(call)
        return resp

    def close(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            client.close()


def _json(resp: httpx.Response | None) -> dict[str, Any]:
    if resp is None:
        return {}
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retryable(resp: httpx.Response | None) -> bool:
    return resp is None or resp.status_code >= 500 or resp.status_code == 429


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
            if not _retryable(resp):
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
                if not _retryable(resp):
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
            status = _json(resp).get("status")
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
            body = _json(resp)
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
# figures


@dataclass
class Report:
    """The soak's figures (printed by :func:`format_report`)."""

    seconds: float
    submitted: Counter[str]
    succeeded: Counter[str]
    failed_clear: Counter[str]
    failed_unclear: list[str]
    canceled: Counter[str]
    lost: list[str]
    completed_twice: list[str]
    retried: int
    bad_total: int
    bad_wrong: list[str]
    rejected: list[str]
    gave_up: list[str]
    fault_rates: list[dict[str, Any]]
    pg_recoveries: list[tuple[float | None, float | None]]
    failure_errors: Counter[str]
    api_total: int
    api_errors: int
    api_500: int
    drained_after: float
    notes: list[str] = field(default_factory=list)

    @property
    def lost_count(self) -> int:
        """How many jobs were lost."""
        return len(self.lost)

    @property
    def twice_count(self) -> int:
        """How many jobs completed twice."""
        return len(self.completed_twice)


def _finished_events(fleet: Fleet) -> Counter[str]:
    """``job.finished`` events per job id in every worker log (JSON lines)."""
    counts: Counter[str] = Counter()
    for path in fleet.log_files("*-worker.log*"):
        for line in path.read_text(errors="replace").splitlines():
            if '"job.finished"' not in line:
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(line[line.index("{") :])
                if event.get("event") == "job.finished" and event.get("job_id"):
                    counts[event["job_id"]] += 1
    return counts


def _duplicate_models(db_url: str) -> list[str]:
    import asyncpg

    async def _go() -> list[str]:
        conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await conn.fetch(
                "SELECT run_id, count(*) AS n FROM training.model WHERE run_id IS NOT NULL "
                "GROUP BY run_id HAVING count(*) > 1"
            )
            return [f"run {r['run_id']}: {r['n']} models" for r in rows]
        finally:
            await conn.close()

    return asyncio.run(_go())


def _clear_error(job: dict[str, Any], resource: dict[str, Any]) -> bool:
    error = (job.get("error") or "").strip()
    return bool(error) and len(error) >= 10 and bool((resource.get("error") or "").strip())


def build_report(soak: Soak) -> Report:
    """The figures of a finished soak."""
    submitted: Counter[str] = Counter()
    succeeded: Counter[str] = Counter()
    failed_clear: Counter[str] = Counter()
    canceled: Counter[str] = Counter()
    failure_errors: Counter[str] = Counter()
    failed_unclear: list[str] = []
    lost: list[str] = []
    retried = 0
    for item in soak.tracked:
        submitted[item.kind] += 1
        job, res = item.final_job, item.final_resource
        jstatus, rstatus = job.get("status"), res.get("status")
        label = f"{item.kind} {item.id} ({item.what}; job {item.job_id})"
        if not job or not res:
            lost.append(f"{label}: could not be read back (job {bool(job)}, resource {bool(res)})")
            continue
        if jstatus not in TERMINAL:
            lost.append(f"{label}: job still {jstatus} ({job.get('message')}) after the drain")
            continue
        if rstatus not in AGREES[jstatus]:
            lost.append(f"{label}: job {jstatus} but the {item.kind} is {rstatus}")
            continue
        if (job.get("attempts") or 0) > 1:
            retried += 1
        if jstatus == "succeeded":
            succeeded[item.kind] += 1
        elif jstatus == "canceled":
            canceled[item.kind] += 1
        else:
            error = (job.get("error") or "").strip()
            failure_errors[error[:160]] += 1
            if _clear_error(job, res):
                failed_clear[item.kind] += 1
            else:
                failed_unclear.append(
                    f"{label}: error {error!r}, resource error {res.get('error')!r}"
                )

    finished = _finished_events(soak.fleet)
    ids = {item.job_id for item in soak.tracked}
    twice = [f"job {jid}: {n} job.finished events" for jid, n in finished.items() if n > 1]
    twice += _duplicate_models(soak.pg.url)
    notes = []
    if not any(jid in finished for jid in ids):
        notes.append("no job.finished event found in the worker logs: the check cannot work")

    calls = [c for c in soak.api.calls if c.source not in ("bad", "final")]
    fault_rates = []
    for fault in soak.faults:
        if fault.name == "bad":
            continue
        during = [c for c in calls if fault.start <= c.t <= fault.recovered]
        after = [c for c in calls if fault.recovered < c.t <= fault.recovered + 15]
        fault_rates.append(
            {
                "fault": fault.name,
                "at": soak.rel(fault.start),
                "down_s": fault.recovered - fault.start,
                "during": _rate(during),
                "after": _rate(after),
                "during_500": sum(c.status == 500 for c in during),
                "after_500": sum(c.status == 500 for c in after),
            }
        )
    return Report(
        seconds=soak.seconds,
        submitted=submitted,
        succeeded=succeeded,
        failed_clear=failed_clear,
        failed_unclear=failed_unclear,
        canceled=canceled,
        lost=lost,
        completed_twice=twice,
        retried=retried,
        bad_total=len(soak.bad),
        bad_wrong=[
            f"{b.name}: {b.status} {b.content_type} {b.detail}" for b in soak.bad if not b.ok
        ],
        rejected=soak.rejected,
        gave_up=soak.gave_up,
        fault_rates=fault_rates,
        pg_recoveries=[
            (f.recovery_write_s, f.recovery_job_s) for f in soak.faults if f.name == "postgres"
        ],
        failure_errors=failure_errors,
        api_total=len(calls),
        api_errors=sum(c.status is None or c.status >= 500 for c in calls),
        api_500=sum(c.status == 500 for c in calls),
        drained_after=getattr(soak, "drained_after", float("nan")),
        notes=notes,
    )


def _rate(calls: list[Call]) -> tuple[int, int]:
    """(errors, total): errors are 5xx answers and connection errors."""
    return sum(c.status is None or c.status >= 500 for c in calls), len(calls)


def _pct(pair: tuple[int, int]) -> str:
    errors, total = pair
    return f"{errors}/{total} ({100 * errors / total:.0f}%)" if total else "0/0"


def format_report(r: Report) -> str:
    """The figures as printed."""
    kinds = ["dataset", "run", "evaluation"]
    failed = sum(r.failed_clear.values()) + len(r.failed_unclear)
    lines = [
        "",
        f"=== fault soak: {r.seconds:.0f}s of load and faults, "
        f"drained in {r.drained_after:.0f}s ===",
        f"{'jobs':<28}" + "".join(f"{k:>12}" for k in kinds) + f"{'total':>10}",
    ]
    for name, counter in (
        ("submitted", r.submitted),
        ("succeeded", r.succeeded),
        ("failed with a clear error", r.failed_clear),
        ("canceled (by the soak)", r.canceled),
    ):
        lines.append(
            f"{name:<28}"
            + "".join(f"{counter.get(k, 0):>12}" for k in kinds)
            + f"{sum(counter.values()):>10}"
        )
    lines += [
        f"{'failed without a clear error':<28}{len(r.failed_unclear):>46}",
        f"{'LOST (must be 0)':<28}{r.lost_count:>46}",
        f"{'COMPLETED TWICE (must be 0)':<28}{r.twice_count:>46}",
        f"{'retried (attempts > 1)':<28}{r.retried:>46}",
        f"failed jobs: {failed}; their errors:",
        *[f"  {n} x {e}" for e, n in r.failure_errors.most_common()],
        "",
        "API error rate (5xx + connection errors / requests; load, poll and probe traffic):",
        f"  whole soak: {_pct((r.api_errors, r.api_total))}, of which HTTP 500: {r.api_500}",
        f"  {'fault':<24}{'at':>7}{'down':>7}  {'during':<18}{'500s':>5}  "
        f"{'15 s after':<16}{'500s':>5}",
    ]
    for f in r.fault_rates:
        lines.append(
            f"  {f['fault']:<24}{f['at']:>6.0f}s{f['down_s']:>6.1f}s  {_pct(f['during']):<18}"
            f"{f['during_500']:>5}  {_pct(f['after']):<16}{f['after_500']:>5}"
        )
    lines.append("PostgreSQL restart -> recovery (from PostgreSQL accepting connections again):")
    for i, (write, job) in enumerate(r.pg_recoveries, 1):
        w = f"{write:.2f}s" if write is not None else "never"
        j = f"{job:.2f}s" if job is not None else "never"
        lines.append(f"  restart {i}: first API write after {w}, first job completed after {j}")
    lines.append(
        f"bad requests: {r.bad_total}, answered with a 4xx problem+json: "
        f"{r.bad_total - len(r.bad_wrong)}"
    )
    for title, items in (
        ("bad requests answered wrongly", r.bad_wrong),
        ("lost jobs", r.lost),
        ("completed twice", r.completed_twice),
        ("failed without a clear error", r.failed_unclear),
        ("submissions refused with a 4xx", r.rejected),
        ("submissions never accepted (45 s of retries)", r.gave_up),
        ("notes", r.notes),
    ):
        if items:
            lines.append(f"{title}:")
            lines += [f"  - {x}" for x in items[:30]]
    return "\n".join(lines)


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
