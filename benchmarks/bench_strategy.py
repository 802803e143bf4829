"""Strategy service benchmarks (issue 13): replay throughput and signal latency, printed.

1. **Replay throughput**, a seeded 1-asset PPO MLP (discrete) over all SPY bars at
   ``speed: max``: the engine with the policy's actions planned by the evaluation's exact
   batched path (:meth:`PaperEngine.plan`, what the replay job runs at ``max``) vs the baseline
   measured in the same run, ``model.predict`` per bar (what paced and live sessions run). Then
   the replay **end to end** into a throwaway PostgreSQL database: plan, step and record with
   the job's own :func:`tradeopt_strategy.jobs.run_replay` (writes on an event-loop thread,
   overlapped with the next batch) vs the previous loop (flags read per batch, 512-bar
   batches, write and wait), best of two each, with the CPU time per 1,000 bars of the replay
   process and of its PostgreSQL backends, and the CPU-bound rate (bars / the larger of the two
   CPU times: what two idle cores give). Goal: >= 20,000 bars/s. Both loops run today's engine
   and rows (time-ordered ids, lean indexes); only ``run_replay`` keeps the process's existing
   objects out of the cyclic collector while it runs (``gc.freeze``).
   ``--baseline-tree DIR`` measures only this end-to-end replay, this tree against another
   checkout (say, the commit before a change: ``git worktree add /tmp/base HEAD~1`` or
   ``git archive``), each run as this script with its tree's sources first on ``PYTHONPATH``,
   alternated ``--rounds`` times: a baseline in the same run for the engine, rows and schema.
2. **Signal latency at the API**: ``POST /api/v1/strategies/{id}/signal`` with 60 recent bars
   through the strategy app's whole ASGI stack (auth, problem handlers, middleware, the policy
   cache, features, normalisation, predict), in-process over ``httpx.ASGITransport`` (no
   network), p50/p99 over ``--requests`` calls after a warm-up, against the same app's
   ``/healthz`` as the baseline. Goal: p99 < 20 ms.

Needs PostgreSQL on 127.0.0.1:5432 (trust) and Redis on 127.0.0.1:6379; uses its own database
``tradeopt_bench_strategy`` (dropped afterwards), Redis db 14 and a temporary artifact folder;
``--db``/``--redis`` (or ``TRADEOPT_BENCH_DB``/``TRADEOPT_BENCH_REDIS``) pick others, so that
runs beside each other do not share them.

``.venv/bin/python benchmarks/bench_strategy.py [--quick] [--db NAME] [--redis URL]
[--baseline-tree DIR [--rounds N]]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB = os.environ.get("TRADEOPT_BENCH_DB", "tradeopt_bench_strategy")
REDIS = os.environ.get("TRADEOPT_BENCH_REDIS", "redis://127.0.0.1:6379/14")
API_KEY = "bench-bootstrap-key-0123456789abcdef"


def _model(tmp: Path):
    """A seeded untrained PPO MLP on SPY (1 asset, discrete; window 30, two features)."""
    from tradeopt_ml.agents import make_model
    from tradeopt_ml.data import load_sample
    from tradeopt_ml.envs import make_env
    from tradeopt_ml.training.experiment import ExperimentSpec, lineage_of, prepare

    bars = load_sample("SPY")
    spec = ExperimentSpec.model_validate(
        {
            "algorithm": "ppo",
            "symbols": ["SPY"],
            "env": {"window": 30, "bust_fraction": 0.0},
            "features": {"features": ["log_return", "rsi"]},
            "split": {"train": 0.7, "validation": 0.15, "test": 0.15},
        }
    )
    data = prepare(bars, spec)
    env = make_env(data.panel, data.observations, spec.env, stop=data.splits.train.stop)
    model = make_model("ppo", env, seed=7, device="cpu")
    path = tmp / "model.zip"
    model.save(path)
    return bars, model, path, lineage_of(spec, data)


def bench_engine(bars, model, recipe):
    from tradeopt_ml.paper import PaperEngine, RiskLimits

    def run(plan: bool):
        engine = PaperEngine.for_range(recipe, bars, model, RiskLimits(), part=None)
        t0 = time.perf_counter()
        if plan:
            engine.plan()
        records = []
        while not engine.done:
            records.append(engine.step())
        return records, time.perf_counter() - t0

    base, t_base = run(False)
    fast, t_fast = run(True)
    assert [r.value for r in base] == [r.value for r in fast], "planned replay diverged"
    n = len(fast)
    print(f"replay engine, {n} SPY bars, 1-asset PPO MLP (discrete), no database:")
    print(f"  predict per bar (paced/live path): {n / t_base:10,.0f} bars/s")
    print(
        f"  planned, speed max (replay job):   {n / t_fast:10,.0f} bars/s"
        f"   ({t_base / t_fast:.1f}x; identical equity: yes)"
    )
    return fast, n / t_fast


class _ReplayDb:
    """What both replay measurements share: a throwaway PostgreSQL database (:data:`DB`,
    migrated), its engine on an event-loop thread (as the worker runs it), one strategy, and the
    timing of one replay of a new session (wall, this process's CPU, PostgreSQL's CPU). Imports
    are resolved here, with whatever ``tradeopt_*`` code is importable (``--baseline-tree``).
    """

    def __init__(self, bars, model, recipe) -> None:
        import threading

        from tests.support.databases import pg_url_for, recreate_database
        from tradeopt_common.db.migrations import upgrade
        from tradeopt_common.db.session import Database
        from tradeopt_ml.paper import PaperEngine, RiskLimits

        asyncio.run(recreate_database(DB))
        url = pg_url_for(DB)
        upgrade(url)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

        async def make_db() -> Database:
            return Database(url)

        self.db = self.run(make_db())
        self.sid = uuid.uuid4()
        self.engine = lambda: PaperEngine.for_range(recipe, bars, model, RiskLimits(), part=None)

    def run(self, coro):
        """Run ``coro`` on the loop thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def new_session(self) -> uuid.UUID:
        from tradeopt_strategy.models import PaperSession, Strategy

        pid = uuid.uuid4()
        async with self.db.unit_of_work() as s:
            if await s.get(Strategy, self.sid) is None:
                s.add(Strategy(id=self.sid, model_id=uuid.uuid4(), evaluation_id=uuid.uuid4(),
                               algorithm="ppo", symbols=["SPY"], action_space="discrete",
                               window=30, risk={}))  # fmt: skip
                await s.flush()
            s.add(
                PaperSession(
                    id=pid, strategy_id=self.sid, model_id=uuid.uuid4(), symbols=["SPY"],
                    mode="replay", status="running", position=[0.0], units=[0.0],
                )
            )  # fmt: skip
        return pid

    async def record(self, pid, records, control: bool):
        from tradeopt_strategy import service

        async with self.db.unit_of_work() as s:
            return await service.record_bars(s, pid, records, control=control)

    async def control(self, pid):
        from tradeopt_strategy import service

        async with self.db.unit_of_work() as s:
            return await service.session_control(s, pid)

    def writer(self, pid):
        """The replay job's ``write``: record a batch on the loop thread, not waiting."""
        return lambda records: asyncio.run_coroutine_threadsafe(
            self.record(pid, records, True), self.loop
        )

    async def backends(self) -> list[int]:
        from sqlalchemy import text

        async with self.db.unit_of_work() as s:
            rows = await s.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": DB}
            )
            return [r for (r,) in rows.all()]

    def timed(self, replay):
        """``replay(session id)`` of a new session: ``(pid, engine, wall s, CPU s, PG CPU s)``."""
        pid = self.run(self.new_session())
        pg0, c0, t0 = _cpu_of(self.run(self.backends())), time.process_time(), time.perf_counter()
        e = replay(pid)
        elapsed = time.perf_counter() - t0
        client = time.process_time() - c0
        pg1 = _cpu_of(self.run(self.backends()))
        server = sum(v - pg0.get(k, 0.0) for k, v in pg1.items())
        return pid, e, elapsed, client, server

    def close(self) -> None:
        self.run(self.db.dispose())
        self.loop.call_soon_threadsafe(self.loop.stop)


def bench_replay(bars, model, recipe, batch: int) -> float:
    """The replay job's loop end to end, through PostgreSQL: plan, step, record (real
    :func:`tradeopt_strategy.jobs.run_replay` and :func:`service.record_bars` on a loop thread,
    as the worker runs them) vs the previous method in the same run (plan, then per batch: read
    the stop/halt flags, step ``batch`` bars, write them and wait; nothing overlapped).
    """
    from tradeopt_ml.paper import PaperEngine
    from tradeopt_strategy.jobs import run_replay

    bench = _ReplayDb(bars, model, recipe)

    def previous(pid) -> PaperEngine:
        e = bench.engine()
        e.plan()
        while not e.done:
            stop, halt = bench.run(bench.control(pid))
            if stop or halt:
                break
            pending = []
            while not e.done and len(pending) < 512:
                pending.append(e.step())
            bench.run(bench.record(pid, pending, False))
        return e

    def current(pid) -> PaperEngine:
        e = bench.engine()
        e.plan()
        return run_replay(e, bench.writer(pid), bench.engine, speed=None, batch=batch)

    rates: dict[str, float] = {}
    cpu: dict[str, tuple[float, float]] = {}
    finals = {}
    for name, fn in (("previous", previous), ("current", current)) * 2:
        pid, e, elapsed, client, server = bench.timed(fn)
        n = e.k
        if n / elapsed > rates.get(name, 0.0):
            rates[name], cpu[name] = n / elapsed, (client, server)
        finals[name] = (n, float(e.core.value))
        stored = bench.run(_stored(bench.db, pid))
        assert stored == (n, finals[name][1]), (stored, finals[name])
    bench.close()
    assert finals["previous"] == finals["current"], finals
    n = finals["current"][0]
    print(f"replay end to end (plan + step + PostgreSQL rows, {n} bars, best of 2):")
    for name, label in (
        ("previous", "previous loop (flags read, 512-bar batches, write and wait)"),
        ("current", f"run_replay (flags in the batch, 256->{batch}-bar batches, overlapped)"),
    ):
        client, server = cpu[name]
        print(
            f"  {label:68s} {rates[name]:8,.0f} bars/s wall;  CPU per 1,000 bars: replay "
            f"process {1e6 * client / n:5.1f} ms, PostgreSQL {1e6 * server / n:5.1f} ms;  "
            f"CPU-bound rate {n / max(client, server):8,.0f} bars/s"
        )
    ratio = rates["current"] / rates["previous"]
    bound = n / max(cpu["current"])
    print(
        f"  run_replay vs previous: {ratio:.2f}x wall (identical final equity and rows: yes); "
        f"wall {rates['current']:,.0f} bars/s "
        f"{'PASS' if rates['current'] >= 20_000 else 'FAIL'} (goal >= 20,000 bars/s); CPU-bound "
        f"{bound:,.0f} bars/s (what two idle cores would give: the replay process and "
        f"PostgreSQL overlap)"
    )
    return rates["current"]


def replay_only(bars, model, recipe, batch: int, runs: int) -> dict[str, float]:
    """``run_replay`` end to end ``runs`` times (as in :func:`bench_replay`, with whatever
    ``tradeopt_*`` code is importable): the lowest CPU per 1,000 bars of the replay process and
    of PostgreSQL, the best wall rate and the final equity. For ``--baseline-tree``.
    """
    from tradeopt_strategy.jobs import run_replay

    bench = _ReplayDb(bars, model, recipe)

    def replay(pid):
        e = bench.engine()
        e.plan()
        return run_replay(e, bench.writer(pid), bench.engine, speed=None, batch=batch)

    out = {"client": float("inf"), "server": float("inf"), "rate": 0.0}
    for _ in range(runs):
        _, e, elapsed, client, server = bench.timed(replay)
        n = e.k
        out["client"] = min(out["client"], 1e6 * client / n)
        out["server"] = min(out["server"], 1e6 * server / n)
        out["rate"] = max(out["rate"], n / elapsed)
        out["equity"], out["bars"] = float(e.core.value), n
    bench.close()
    return out


def compare_trees(baseline: Path, rounds: int, args: argparse.Namespace) -> None:
    """This tree's replay end to end against ``baseline``'s (another checkout of the repo, e.g.
    the commit before a change), each run as this script with ``--replay-only`` and the
    ``tradeopt_*`` sources of its tree first on ``PYTHONPATH``, alternating ``rounds`` times
    (lowest CPU per 1,000 bars and best wall rate of each over all its runs).
    """
    import json
    import subprocess

    def sources(tree: Path) -> str:
        found = [*tree.glob("libs/*/src"), *tree.glob("services/*/src"), *tree.glob("cli/src")]
        dirs = sorted(str(p) for p in found if p.is_dir())
        return os.pathsep.join(dirs)

    results: dict[str, list[dict[str, float]]] = {"baseline": [], "this tree": []}
    for _ in range(rounds):
        for name, tree in (("baseline", baseline), ("this tree", ROOT)):
            env = dict(os.environ, PYTHONPATH=sources(tree))
            cmd = [sys.executable, str(Path(__file__).resolve()), "--replay-only", "3",
                   "--db", DB, "--batch", str(args.batch)]  # fmt: skip
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = {
        name: {
            "client": min(r["client"] for r in rs),
            "server": min(r["server"] for r in rs),
            "rate": max(r["rate"] for r in rs),
            "equity": rs[-1]["equity"],
            "bars": rs[-1]["bars"],
        }
        for name, rs in results.items()
    }
    n = int(best["this tree"]["bars"])
    print(f"replay end to end, this tree vs {baseline} ({n} bars, {rounds} x 3 runs each, "
          "alternating; lowest CPU, best wall):")  # fmt: skip
    for name, b in best.items():
        print(
            f"  {name:10s} {b['rate']:8,.0f} bars/s wall;  CPU per 1,000 bars: replay process "
            f"{b['client']:5.1f} ms, PostgreSQL {b['server']:5.1f} ms;  final equity "
            f"{b['equity']!r}"
        )
    base, this = best["baseline"], best["this tree"]
    print(
        f"  this tree / baseline: replay process CPU {this['client'] / base['client']:.2f}x, "
        f"PostgreSQL CPU {this['server'] / base['server']:.2f}x, wall rate "
        f"{this['rate'] / base['rate']:.2f}x; identical final equity: "
        f"{'yes' if this['equity'] == base['equity'] else 'NO'}"
    )


def _cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each local process of ``pids`` (the
    benchmark database's PostgreSQL backends on this machine; unreadable ones left out)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


async def _stored(db, pid) -> tuple[int, float]:
    from sqlalchemy import func, select

    from tradeopt_strategy.models import PaperBar, PaperSession

    async with db.unit_of_work() as s:
        n = await s.scalar(select(func.count()).where(PaperBar.session_id == pid))
        paper = await s.get(PaperSession, pid)
        return int(n or 0), float(paper.equity)


async def bench_signal(bars, model, path, recipe, n_requests: int, tmp: Path) -> None:
    import httpx

    from tests.support.databases import pg_url_for, recreate_database
    from tradeopt_common.contracts.models import (
        LINEAGE_VERSION,
        DatasetRef,
        ModelChecksums,
        ModelLineage,
        model_key,
        write_lineage,
    )  # fmt: skip
    from tradeopt_common.db.base import utcnow
    from tradeopt_common.db.migrations import upgrade

    await recreate_database(DB)
    url = pg_url_for(DB)
    await asyncio.to_thread(upgrade, url)
    os.environ.update(
        TRADING_OPT_ENV="test", TRADING_OPT_DB_URI=url, TRADING_OPT_API_KEY=API_KEY,
        TRADING_OPT_REDIS_URI=REDIS, TRADING_OPT_DATA_DIR=str(tmp / "data"),
        TRADING_OPT_LOG_LEVEL="WARNING",
    )  # fmt: skip
    import hashlib

    from tradeopt_common.storage.integrity import Digest, record_digests
    from tradeopt_strategy.app import create_app
    from tradeopt_strategy.models import Strategy

    app = create_app()
    model_id = uuid.uuid4()
    blob = path.read_bytes()
    lineage = ModelLineage(
        **dict(recipe), lineage_version=LINEAGE_VERSION, model_id=model_id, run_id=uuid.uuid4(),
        dataset=DatasetRef(id=uuid.uuid4(), checksum="0" * 64, symbols=["SPY"]),
        code_version="bench", validation={}, created_at=utcnow(), study=None,
        checksums=ModelChecksums(sha256=hashlib.sha256(blob).hexdigest(), size=len(blob),
                                 artifact="final"),
    )  # fmt: skip
    frame = bars.tail(60)
    body = {"bars": [
        {"t": r.timestamp.isoformat(), "open": r.open, "high": r.high, "low": r.low,
         "close": r.close, "adj_close": r.adj_close, "volume": r.volume}
        for r in frame.itertuples()
    ]}  # fmt: skip
    async with app.router.lifespan_context(app):
        state = app.state.tradeopt
        state.store.put_bytes(model_key(model_id), blob)
        write_lineage(state.store, lineage)
        sid = uuid.uuid4()
        async with state.db.unit_of_work() as s:
            # the digest the training service records at registration (the policy is verified)
            await record_digests(
                s, {model_key(model_id): Digest(hashlib.sha256(blob).hexdigest(), len(blob))}
            )
        async with state.db.unit_of_work() as s:
            # the bench inserts the strategy row itself: promotion needs an evaluation on record
            s.add(
                Strategy(
                    id=sid, model_id=model_id, evaluation_id=uuid.uuid4(), algorithm="ppo",
                    symbols=["SPY"], action_space="discrete", window=30, risk={},
                )
            )  # fmt: skip
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://strategy.bench",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as client:  # fmt: skip

            async def timed(method: str, route: str, **kw) -> list[float]:
                out = []
                for i in range(n_requests + 20):
                    t0 = time.perf_counter()
                    resp = await client.request(method, route, **kw)
                    dt = time.perf_counter() - t0
                    assert resp.status_code == 200, resp.text
                    if i >= 20:  # warm-up: first load of the policy, caches
                        out.append(dt * 1000)
                return out

            health = await timed("GET", "/healthz")
            signal = await timed("POST", f"/api/v1/strategies/{sid}/signal", json=body)
    for name, xs in (("GET /healthz (baseline)", health), ("POST …/signal, 60 bars", signal)):
        p50, p99 = np.percentile(xs, 50), np.percentile(xs, 99)
        print(
            f"  {name:28s} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   mean "
            f"{statistics.fmean(xs):6.2f} ms   ({len(xs)} requests)"
        )
    p99 = float(np.percentile(signal, 99))
    print(f"  signal p99 {p99:.2f} ms: {'PASS' if p99 < 20 else 'FAIL'} (goal < 20 ms)")


def main() -> None:
    global DB, REDIS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer signal requests")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument(
        "--batch", type=int, default=2048, help="largest replay batch (the service default)"
    )
    parser.add_argument("--db", default=DB, help="the throwaway database (dropped afterwards)")
    parser.add_argument("--redis", default=REDIS, help="Redis URL for the signal bench's app")
    parser.add_argument(
        "--baseline-tree", type=Path, default=None,
        help="another checkout (e.g. the commit before a change): only the replay end to end, "
        "this tree vs that one, alternating",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="with --baseline-tree")
    parser.add_argument("--replay-only", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    DB, REDIS = args.db, args.redis
    import torch

    torch.set_num_threads(1)
    from tests.support.databases import drop_database

    if args.baseline_tree is not None:
        try:
            compare_trees(args.baseline_tree.resolve(), args.rounds, args)
        finally:
            asyncio.run(drop_database(DB))
        return
    with tempfile.TemporaryDirectory(prefix="bench-strategy-") as tmp_name:
        tmp = Path(tmp_name)
        bars, model, path, recipe = _model(tmp)
        if args.replay_only:
            import json
            import logging

            logging.disable(logging.INFO)
            print(json.dumps(replay_only(bars, model, recipe, args.batch, args.replay_only)))
            return
        bench_engine(bars, model, recipe)
        try:
            bench_replay(bars, model, recipe, args.batch)
            print("signal latency at the API (in-process ASGI, PostgreSQL, local artifacts):")
            asyncio.run(bench_signal(bars, model, path, recipe,
                                     50 if args.quick else args.requests, tmp))  # fmt: skip
        finally:
            asyncio.run(drop_database(DB))


if __name__ == "__main__":
    main()
