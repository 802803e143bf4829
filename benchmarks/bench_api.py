"""Benchmark: API throughput of the data service through the nginx gateway with a real key.

Starts a local fleet (``scripts/fleet.sh``) on spare loopback ports with its own run dir,
database and Redis db (or uses a running one given by ``--api``), creates an ordinary **read** key
with the CLI (``tradeopt keys create``: not the bootstrap key, so every request looks the key
up), seeds datasets (small inline CSV uploads), then measures with ``wrk`` at 32 connections:

* ``GET /api/v1/datasets?limit=20`` (list) and ``GET /api/v1/datasets/{id}`` (get) through the
  gateway with the read key;
* the same straight at the data API, and the data API's ``/healthz`` (no auth, no database) for
  reference.

Each line: requests/s, p50, p99 (wrk's latency distribution) and errors (non-2xx responses plus
socket errors). Then a **profile of one authenticated list request**: N sequential requests
in-process (``httpx.ASGITransport``, same database) with wall-clock timers around the phases —
session set-up / pool checkout and return, key lookup, list query, serialisation, middleware,
logging, the rest of FastAPI — as milliseconds per request (exclusive: nested phases are
subtracted from their parents), plus SQL statements per request.

``--baseline-ref REF`` runs the same measurement first on the Python code of ``REF`` (a temporary
``git worktree``; its ``libs``/``services`` source dirs go first on ``PYTHONPATH`` of the fleet
and of the profile) with the fleet's API settings of that time (one uvicorn worker), then on the
working tree, and prints both side by side. The gateway configuration and the fleet scripts are
the working tree's in both runs (the old template could not lift the 30 r/s limit).

Run: ``.venv/bin/python benchmarks/bench_api.py [--baseline-ref main] [--duration 10]``
     ``.venv/bin/python benchmarks/bench_api.py --api http://127.0.0.1:8080
       --data-api http://127.0.0.1:8001 --admin-key $(cat .run/api-key)`` (a running fleet)

Needs ``wrk`` (Debian: ``apt-get install wrk``), PostgreSQL and Redis running, nginx installed.
Loopback only. Targets (issue 17): >= 1,500 requests/s at p99 < 50 ms through the gateway with a
non-bootstrap key on 2 cores, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import io
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the shared fleet/database helpers of scripts/ and tests/support
from scripts.soak.infra import fleet_sh  # noqa: E402
from tests.support.databases import drop_database, pg_url_for, recreate_database  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

VENV = Path(os.environ.get("VENV", REPO / ".venv"))
if not VENV.is_absolute():
    VENV = REPO / VENV
PY = VENV / "bin" / "python"
TARGET_RPS, TARGET_P99_MS = 1500.0, 50.0
#: Profile phases.
PH_SESSION = "session set-up, commit, close"
PH_CHECKOUT = "pool checkout (+pre-ping) / return"
PH_KEY = "key lookup (auth)"
PH_QUERY = "list query"
PH_SER = "serialisation (pydantic, JSON)"
PH_MW = "middleware (request id, NUL, body size)"
PH_METRICS = "middleware (Prometheus instrumentator)"
PH_LOG = "logging"
PH_FRAMEWORK = "FastAPI/Starlette (routing, deps, endpoint)"
SOURCE_DIRS = ("libs/common/src", "libs/ml/src", "services/*/src", "cli/src")


# --- wrk -------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """One wrk run."""

    name: str
    rps: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    requests: int = 0
    errors: int = 0
    cpu_ms: float = float("nan")  # CPU of the data API processes per request
    note: str = ""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(name: str, out: str) -> WrkResult:
    """Requests/s, p50/p99 and errors from wrk's ``--latency`` output."""
    res = WrkResult(name)
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        res.rps = float(m[1])
    if m := re.search(r"^\s+50%\s+(\S+)", out, re.M):
        res.p50_ms = _ms(m[1])
    if m := re.search(r"^\s+99%\s+(\S+)", out, re.M):
        res.p99_ms = _ms(m[1])
    if m := re.search(r"(\d+) requests in", out):
        res.requests = int(m[1])
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        res.errors += int(m[1])
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        res.errors += sum(int(x) for x in m.groups())
    return res


def run_wrk(
    name: str,
    url: str,
    *,
    key: str | None,
    duration: float,
    connections: int,
    threads: int,
    ids: list[str] | None = None,
    warmup: float = 2.0,
    api_pids: list[int] | None = None,
) -> WrkResult:
    """wrk against ``url`` (with ``ids``: rotate ``{url}/{id}`` over them) after a warm-up."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", "--latency", "--timeout", "10s"]
    if key:
        cmd += ["-H", f"Authorization: Bearer {key}"]
    script = None
    if ids:
        path = url.split("//", 1)[1].split("/", 1)[1]
        lines = ", ".join(json.dumps(f"/{path}/{i}") for i in ids)
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
        script.write(
            f"local paths = {{{lines}}}\nlocal i = 0\n"
            "request = function()\n  i = i + 1\n"
            "  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n"
        )
        script.close()
        cmd += ["-s", script.name]
    try:
        if warmup > 0:
            subprocess.run(
                [*cmd, f"-d{warmup:g}s", url], capture_output=True, text=True, check=False
            )
        cpu_before = cpu_seconds(api_pids) if api_pids else 0.0
        out = subprocess.run(
            [*cmd, f"-d{duration:g}s", url], capture_output=True, text=True, check=False
        )
        cpu_used = cpu_seconds(api_pids) - cpu_before if api_pids else float("nan")
    finally:
        if script:
            os.unlink(script.name)
    res = parse_wrk(name, out.stdout)
    if res.requests:
        res.cpu_ms = cpu_used * 1e3 / res.requests
    if out.returncode != 0 or not res.requests:
        res.note = (out.stderr or out.stdout).strip().splitlines()[-1:][0:1].__str__()
    return res


# --- CPU of the API processes ------------------------------------------------------------------


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn workers), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += children
        frontier = children
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids``."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


# --- the fleet -------------------------------------------------------------------------------


@dataclass
class Target:
    """Where to send requests, and the keys."""

    gateway: str
    data_api: str
    admin_key: str
    env: dict[str, str] = field(default_factory=dict)  # for the CLI and the profile
    api_pid: int | None = None  # the data API's (uvicorn's main) process
    training_pid: int | None = None  # the training API's (runs)


@contextlib.contextmanager
def local_fleet(
    args: argparse.Namespace,
    label: str,
    pythonpath: str | None,
    extra: dict[str, str] | None = None,
) -> Iterator[Target]:
    """A fleet on spare ports, its own run dir, database and Redis db; always taken down.
    ``extra``: more environment for its processes (e.g. ``TRADING_OPT_READ_CACHE_SECONDS``).
    """
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-api-{label}-"))
    db_name = f"tradeopt_bench_api_{label}"
    asyncio.run(recreate_database(db_name))
    ports = {k: str(free_port()) for k in ("GATEWAY", "DATA", "TRAINING", "EVALUATION")}
    env = {
        **os.environ,
        "VENV": str(VENV),
        "FLEET_RUN_DIR": str(run_dir),
        "FLEET_ENV_FILE": "",
        "FLEET_S3": "off",
        "FLEET_TIMEOUT": "120",
        "GATEWAY_PORT": ports["GATEWAY"],
        "DATA_PORT": ports["DATA"],
        "TRAINING_PORT": ports["TRAINING"],
        "EVALUATION_PORT": ports["EVALUATION"],
        "GATEWAY_RATE_LIMIT": "1000000",
        "GATEWAY_RATE_BURST": "1000000",
        "TRADING_OPT_ENV": "development",
        "TRADING_OPT_DB_URI": pg_url_for(db_name),
        "TRADING_OPT_REDIS_URI": args.redis,
        "TRADING_OPT_STORAGE_ENDPOINT": "local",
        "TRADING_OPT_DATA_DIR": str(run_dir / "data"),
        "TRADING_OPT_API_KEY": secrets.token_urlsafe(24),
        "TRADING_OPT_LOG_LEVEL": "INFO",
    }
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
        # The code of that time ran one uvicorn process per API.
        env["FLEET_API_WORKERS"] = "1"
        env["WEB_CONCURRENCY"] = "1"
    elif args.api_workers:
        env["FLEET_API_WORKERS"] = str(args.api_workers)
    env.update(extra or {})
    print(f"[{label}] starting a fleet (gateway :{ports['GATEWAY']}, data :{ports['DATA']})")
    up = fleet_sh(env, "up", timeout=300)
    try:
        if up.returncode != 0:
            raise SystemExit(f"fleet did not start:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")
        pid = fleet_sh(env, "ctl", "pid", "data-api", timeout=30).stdout.strip()
        tpid = fleet_sh(env, "ctl", "pid", "training-api", timeout=30).stdout.strip()
        yield Target(
            gateway=f"http://127.0.0.1:{ports['GATEWAY']}",
            data_api=f"http://127.0.0.1:{ports['DATA']}",
            admin_key=env["TRADING_OPT_API_KEY"],
            env=env,
            api_pid=int(pid) if pid.isdigit() else None,
            training_pid=int(tpid) if tpid.isdigit() else None,
        )
    finally:
        print(f"[{label}] taking the fleet down")
        fleet_sh(env, "down", timeout=120)
        shutil.rmtree(run_dir, ignore_errors=True)
        asyncio.run(drop_database(db_name))
        asyncio.run(drop_database(f"{db_name}_optuna"))  # the fleet's Optuna storage


def create_read_key(env: dict[str, str]) -> str:
    """An ordinary read key, created by the CLI like an operator would."""
    out = subprocess.run(
        [str(VENV / "bin" / "tradeopt"), "keys", "create", "--name", "bench-read"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.strip().splitlines()[-1].strip()
    assert key.startswith("to_"), out.stdout
    return key


def _csv(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    price, out = 100.0, io.StringIO()
    out.write("date,open,high,low,close,volume\n")
    first = datetime.date(2015, 1, 1)
    for day in range(rows):
        o = price
        c = max(1.0, o * (1 + rng.gauss(0, 0.01)))
        hi, lo = max(o, c) * 1.002, min(o, c) * 0.998
        when = first + datetime.timedelta(days=day)
        out.write(f"{when.isoformat()},{o:.4f},{hi:.4f},{lo:.4f},")
        out.write(f"{c:.4f},{rng.randint(1000, 9000)}\n")
        price = c
    return out.getvalue().encode()


def seed_datasets(base: str, admin_key: str, n: int, rows: int = 60) -> list[str]:
    """``n`` small datasets (inline CSV uploads, stored in the request); their ids."""
    import httpx

    ids = []
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    ) as c:
        for i in range(n):
            resp = c.post(
                "/api/v1/datasets",
                files={"file": (f"bench{i}.csv", _csv(rows, i), "text/csv")},
                data={"symbol": f"B{i:03d}", "name": f"bench-{rows}-{i}"},
            )
            if resp.status_code not in (201, 202):
                raise SystemExit(f"seeding failed: {resp.status_code} {resp.text[:500]}")
            ids.append(resp.json()["id"])
    return ids


def seed_runs(base: str, admin_key: str, n: int, env: dict[str, str] | None) -> list[str]:
    """``n`` training runs (``queued``: the fleet's training worker is stopped first, so they
    stay queued and nothing trains during the measurement) on one 400-bar dataset; their ids.
    """
    import httpx

    if env is not None:
        fleet_sh(env, "ctl", "stop", "training-worker", timeout=60)
    (dataset,) = seed_datasets(base, admin_key, 1, rows=400)
    ids = []
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    ) as c:
        for i in range(n):
            resp = c.post(
                "/api/v1/runs",
                json={"dataset_id": dataset, "algorithm": "ppo", "total_timesteps": 256, "seed": i},
            )
            if resp.status_code != 202:
                raise SystemExit(f"seeding runs failed: {resp.status_code} {resp.text[:500]}")
            ids.append(resp.json()["id"])
    return ids


# --- the profile (runs in a child process: python bench_api.py _profile) ----------------------


def profile_main(argv: list[str]) -> None:
    """Time the phases of ``--n`` sequential authenticated list requests in-process; print JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--path", default="/api/v1/datasets?limit=20")
    a = p.parse_args(argv)
    print(json.dumps(asyncio.run(_profile(a.key, a.n, a.path))))


class _Phases:
    """Exclusive wall-clock time per phase (sequential requests: one global stack suffices)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.stack: list[list[Any]] = []  # [label, resumed_at]
        self.on = False

    def enter(self, label: str) -> None:
        now = time.perf_counter()
        if self.stack:
            top = self.stack[-1]
            self.totals[top[0]] = self.totals.get(top[0], 0.0) + now - top[1]
        self.stack.append([label, now])

    def exit(self) -> None:
        now = time.perf_counter()
        label, since = self.stack.pop()
        self.totals[label] = self.totals.get(label, 0.0) + now - since
        if self.stack:
            self.stack[-1][1] = now

    def wrap_async(self, owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name, None)
        if fn is None:
            return
        phases = self

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not phases.on:
                return await fn(*args, **kwargs)
            phases.enter(label)
            try:
                return await fn(*args, **kwargs)
            finally:
                phases.exit()

        setattr(owner, name, wrapper)

    def wrap_sync(self, owner: Any, name: str, label: str, *, classmethod_: bool = False) -> None:
        fn = owner.__dict__[name].__func__ if classmethod_ else getattr(owner, name, None)
        if fn is None:
            return
        phases = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not phases.on:
                return fn(*args, **kwargs)
            phases.enter(label)
            try:
                return fn(*args, **kwargs)
            finally:
                phases.exit()

        setattr(owner, name, classmethod(wrapper) if classmethod_ else wrapper)

    def wrap_asgi(self, cls: Any, label: str) -> None:
        call = cls.__call__
        phases = self

        async def timed_call(inst: Any, scope: Any, receive: Any, send: Any) -> None:
            if not phases.on:
                return await call(inst, scope, receive, send)
            phases.enter(label)
            try:
                return await call(inst, scope, receive, send)
            finally:
                phases.exit()

        cls.__call__ = timed_call

    def wrap_cm(self, owner: Any, name: str, label: str) -> None:
        """An async context manager method: time its ``__aenter__`` and ``__aexit__``."""
        fn = getattr(owner, name)
        phases = self

        @contextlib.asynccontextmanager
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            cm = fn(*args, **kwargs)
            if phases.on:
                phases.enter(label)
            try:
                value = await cm.__aenter__()
            finally:
                if phases.on and phases.stack and phases.stack[-1][0] == label:
                    phases.exit()
            try:
                yield value
            except BaseException as exc:
                if not await cm.__aexit__(type(exc), exc, exc.__traceback__):
                    raise
            else:
                if phases.on:
                    phases.enter(label)
                try:
                    await cm.__aexit__(None, None, None)
                finally:
                    if phases.on and phases.stack and phases.stack[-1][0] == label:
                        phases.exit()

        setattr(owner, name, wrapper)


async def _profile(key: str, n: int, path: str) -> dict[str, Any]:
    import logging

    import fastapi.routing
    import httpx
    import pydantic
    import starlette.middleware.errors
    import starlette.middleware.exceptions
    import starlette.responses
    import starlette.routing
    from prometheus_fastapi_instrumentator import middleware as prom
    from sqlalchemy import event
    from sqlalchemy.pool import base as pool_base

    import tradeopt_common.auth.keys as keys
    import tradeopt_common.db.repository as repository
    import tradeopt_common.db.session as session_mod
    import tradeopt_common.web.middleware as mw

    ph = _Phases()
    ph.wrap_cm(session_mod.Database, "unit_of_work", PH_SESSION)
    if hasattr(session_mod.Database, "read_only"):
        ph.wrap_cm(session_mod.Database, "read_only", PH_SESSION)
    ph.wrap_sync(pool_base._ConnectionFairy, "_checkout", PH_CHECKOUT, classmethod_=True)
    ph.wrap_sync(pool_base._ConnectionFairy, "_checkin", PH_CHECKOUT)
    for name in ("authenticate", "authenticate_cached"):
        ph.wrap_async(keys, name, PH_KEY)
    with contextlib.suppress(ImportError):
        import tradeopt_common.auth.cache as auth_cache

        for cls_name in dir(auth_cache):
            cls = getattr(auth_cache, cls_name)
            if isinstance(cls, type) and hasattr(cls, "principal"):
                ph.wrap_async(cls, "principal", PH_KEY)
    ph.wrap_async(repository.RepositoryBase, "paginate", PH_QUERY)
    ph.wrap_async(fastapi.routing, "serialize_response", PH_SER)
    ph.wrap_sync(starlette.responses.JSONResponse, "render", PH_SER)
    ph.wrap_sync(starlette.responses.Response, "render", PH_SER)
    ph.wrap_sync(pydantic.BaseModel, "model_dump_json", PH_SER)
    ph.wrap_sync(pydantic.BaseModel, "model_validate", PH_SER, classmethod_=True)
    ph.wrap_sync(logging.Logger, "_log", PH_LOG)
    for cls in (mw.RequestIdMiddleware, mw.NulCharacterMiddleware, mw.BodySizeLimitMiddleware):
        ph.wrap_asgi(cls, PH_MW)
    ph.wrap_asgi(prom.PrometheusInstrumentatorMiddleware, PH_METRICS)
    ph.wrap_asgi(starlette.middleware.errors.ServerErrorMiddleware, PH_FRAMEWORK)
    ph.wrap_asgi(starlette.middleware.exceptions.ExceptionMiddleware, PH_FRAMEWORK)
    ph.wrap_asgi(starlette.routing.Router, PH_FRAMEWORK)

    from tradeopt_data.app import create_app

    app = create_app()
    statements = 0

    async with app.router.lifespan_context(app):
        engine = app.state.tradeopt.db.engine
        cache = app.state.tradeopt.read_cache
        for _ in range(500):  # the change feed (which the read cache needs) connects first
            if cache.enabled or cache.ttl == 0:
                break
            await asyncio.sleep(0.01)

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            nonlocal statements
            if ph.on:
                statements += 1

        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(50):  # warm-up: caches, pool, JIT-free but import-time work
                resp = await client.get(path, headers=headers)
                assert resp.status_code == 200, resp.text
            ph.on = True
            started = time.perf_counter()
            cpu_started = time.process_time()
            for _ in range(n):
                ph.enter("test client (httpx, outside the app)")
                resp = await client.get(path, headers=headers)
                ph.exit()
                assert resp.status_code == 200, resp.text
            total = time.perf_counter() - started
            cpu_total = time.process_time() - cpu_started
            ph.on = False
    phases = {k: v * 1e3 / n for k, v in ph.totals.items()}
    return {
        "n": n,
        "ms_per_request": total * 1e3 / n,
        "cpu_ms_per_request": cpu_total * 1e3 / n,
        "phases": phases,
        "statements": statements / n,
        "items": len(resp.json()["items"]),
    }


def run_profile(env: dict[str, str], key: str, n: int) -> dict[str, Any]:
    """The profile in a child process with the fleet's settings (and ``PYTHONPATH``)."""
    out = subprocess.run(
        [str(PY), str(Path(__file__).resolve()), "_profile", "--key", key, "--n", str(n)],
        env={**env, "TRADING_OPT_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=False,
        cwd=str(REPO),
    )
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- one measurement ---------------------------------------------------------------------------


def measure(args: argparse.Namespace, target: Target, label: str) -> dict[str, Any]:
    """Key, seed, wrk runs, profile."""
    key = args.key or create_read_key(target.env)
    ids = seed_datasets(target.gateway, target.admin_key, args.datasets)
    seed_runs(target.gateway, target.admin_key, args.runs, target.env or None)
    load_before = os.getloadavg()[0]
    common = {
        "duration": args.duration,
        "connections": args.connections,
        "threads": args.threads,
        "warmup": args.warmup,
    }
    data_pids = _process_tree(target.api_pid) if target.api_pid else None
    training_pids = _process_tree(target.training_pid) if target.training_pid else None
    runs = []
    for name, base in (("gateway", target.gateway), ("data API", target.data_api)):
        runs.append(
            run_wrk(
                f"{name}: list limit=20",
                f"{base}/api/v1/datasets?limit=20",
                key=key,
                api_pids=data_pids,
                **common,
            )
        )
        runs.append(
            run_wrk(
                f"{name}: get",
                f"{base}/api/v1/datasets",
                key=key,
                ids=ids,
                api_pids=data_pids,
                **common,
            )
        )
        if name == "gateway":
            runs.append(
                run_wrk(
                    "gateway: runs list limit=20",
                    f"{base}/api/v1/runs?limit=20",
                    key=key,
                    api_pids=training_pids,
                    **common,
                )
            )
    runs.append(
        run_wrk(
            "data API: /healthz",
            f"{target.data_api}/healthz",
            key=None,
            api_pids=data_pids,
            **common,
        )
    )
    load = (load_before, os.getloadavg()[0])
    for r in runs:
        print(
            f"[{label}] {r.name:28s} {r.rps:9.1f} r/s  p50 {r.p50_ms:7.2f} ms  "
            f"p99 {r.p99_ms:7.2f} ms  errors {r.errors}  cpu {r.cpu_ms:.2f} ms {r.note}"
        )
    print(f"[{label}] load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after")
    profile = run_profile(target.env, key, args.profile_n) if target.env else {}
    return {"label": label, "runs": runs, "profile": profile, "load": load}


def source_pythonpath(tree: Path) -> str:
    """The tree's source dirs, for ``PYTHONPATH`` (ahead of the venv's editable installs)."""
    dirs = []
    for pattern in SOURCE_DIRS:
        dirs += sorted(str(p) for p in tree.glob(pattern) if p.is_dir())
    return os.pathsep.join(dirs)


# --- report ------------------------------------------------------------------------------------


def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Side-by-side tables: wrk figures and the profile."""
    cores = os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(
        f"== API throughput: {args.connections} connections, {args.threads} wrk threads, "
        f"{args.duration:g} s per run, {cores} cores, load average now {load} =="
    )
    header = f"{'endpoint':28s}" + "".join(f"| {r['label'][:43]:43s} " for r in results)
    print(header)
    print(
        f"{'':28s}"
        + "".join(
            f"| {'r/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'err':>5s} {'cpu ms':>7s}   "
            for _ in results
        )
    )
    for i, run in enumerate(results[0]["runs"]):
        line = f"{run.name:28s}"
        for r in results:
            x = r["runs"][i]
            line += (
                f"| {x.rps:8.0f} {x.p50_ms:7.2f} {x.p99_ms:7.2f} {x.errors:5d} {x.cpu_ms:7.2f}   "
            )
        print(line)
    print(
        f"{'load average (1 min) b/a':28s}"
        + "".join(
            f"| {r['load'][0]:8.2f} {r['load'][1]:7.2f} {'':29s}" if "load" in r else f"| {'':43s} "
            for r in results
        )
    )
    print("cpu ms: CPU time of the API processes per request (user + system, all workers; the")
    print("        training API for the runs list, else the data API); unlike r/s and latency it")
    print("        depends little on what else the machine is doing.")
    if len(results) > 1:
        base = results[0]
        print()
        print(f"== ratios against {base['label']} (same run): r/s x, cpu per request x ==")
        for i, run in enumerate(base["runs"]):
            line = f"{run.name:28s}"
            for r in results[1:]:
                x = r["runs"][i]
                rps = x.rps / run.rps if run.rps else float("nan")
                cpu = run.cpu_ms / x.cpu_ms if x.cpu_ms else float("nan")
                line += f"| {r['label'][:24]:24s} r/s {rps:5.2f}x  cpu {cpu:5.2f}x less "
            print(line)
    for r in results:
        gw = [x for x in r["runs"] if x.name.startswith("gateway")]
        ok = all(x.rps >= TARGET_RPS and x.p99_ms < TARGET_P99_MS and x.errors == 0 for x in gw)
        print(
            f"target (gateway, read key): >= {TARGET_RPS:.0f} r/s, p99 < {TARGET_P99_MS:.0f} ms, "
            f"0 errors: {'PASS' if ok else 'FAIL'} ({r['label']})"
        )
    if not any(r["profile"] for r in results):
        return
    print()
    print(
        "== where the time goes: one authenticated list request (limit=20), in-process, "
        "sequential, ms per request (exclusive) =="
    )
    names: list[str] = []
    for r in results:
        for k in r["profile"].get("phases", {}):
            if k not in names:
                names.append(k)
    print(f"{'phase':46s}" + "".join(f"| {r['label'][:22]:>22s} " for r in results))
    for name in sorted(names, key=lambda k: -results[0]["profile"].get("phases", {}).get(k, 0)):
        print(
            f"{name:46s}"
            + "".join(f"| {r['profile'].get('phases', {}).get(name, 0.0):22.3f} " for r in results)
        )
    print(
        f"{'total (client-side wall time)':46s}"
        + "".join(f"| {r['profile'].get('ms_per_request', float('nan')):22.3f} " for r in results)
    )
    print(
        f"{'CPU of the process (client + app), ms':46s}"
        + "".join(
            f"| {r['profile'].get('cpu_ms_per_request', float('nan')):22.3f} " for r in results
        )
    )
    print(
        f"{'SQL statements per request':46s}"
        + "".join(f"| {r['profile'].get('statements', float('nan')):22.2f} " for r in results)
    )
    for r in results:
        if "error" in r["profile"]:
            print(f"profile of {r['label']} failed:\n{r['profile']['error']}")


def main() -> None:
    """Entry point."""
    if len(sys.argv) > 1 and sys.argv[1] == "_profile":
        profile_main(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--api", help="gateway of a running fleet (skip starting one)")
    p.add_argument("--data-api", help="its data API (with --api)")
    p.add_argument("--admin-key", help="a write/admin key of that fleet, for seeding (with --api)")
    p.add_argument("--key", help="the read key to measure with (default: one made by the CLI)")
    p.add_argument("--baseline-ref", help="also measure the code of this git ref, first")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per wrk run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--datasets", type=int, default=25, help="datasets to seed")
    p.add_argument("--runs", type=int, default=25, help="training runs to seed (kept queued)")
    p.add_argument(
        "--compare-uncached",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the working tree with the read cache off "
        "(TRADING_OPT_READ_CACHE_SECONDS=0), before the defaults",
    )
    p.add_argument("--profile-n", type=int, default=300, help="requests in the profile")
    p.add_argument(
        "--api-workers",
        type=int,
        default=2,
        help="uvicorn processes per API in the measured fleet (FLEET_API_WORKERS; default 2, "
        "one per core; the --baseline-ref fleet runs 1, as the fleet did then)",
    )
    p.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="Redis of the fleet")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed: apt-get install wrk (Debian) — see benchmarks/README.md"
        )

    results = []
    if args.api:
        if not (args.data_api and args.admin_key):
            raise SystemExit("--api needs --data-api and --admin-key")
        target = Target(args.api.rstrip("/"), args.data_api.rstrip("/"), args.admin_key)
        if args.key is None:
            raise SystemExit("--api needs --key (a read key of that fleet)")
        results.append(measure(args, target, "given fleet"))
    else:
        if args.baseline_ref:
            tree = Path(tempfile.mkdtemp(prefix="bench-api-baseline-"))
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(REPO),
                    "worktree",
                    "add",
                    "--detach",
                    str(tree),
                    args.baseline_ref,
                ],
                check=True,
                capture_output=True,
            )
            try:
                label = f"before ({args.baseline_ref})"
                with local_fleet(args, "before", source_pythonpath(tree)) as target:
                    results.append(measure(args, target, label))
            finally:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                    check=False,
                    capture_output=True,
                )
        if args.compare_uncached:
            extra = {"TRADING_OPT_READ_CACHE_SECONDS": "0"}
            with local_fleet(args, "uncached", None, extra) as target:
                results.append(measure(args, target, "after, read cache off"))
        with local_fleet(args, "after", None) as target:
            results.append(measure(args, target, "after (defaults)"))
    print_report(results, args)


if __name__ == "__main__":
    main()
