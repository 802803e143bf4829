"""The bodies of the strategy service's jobs, registered by kind for the worker's Celery tasks
(:mod:`tradeopt_strategy.tasks`) and in-process runs. They touch the database only through
:mod:`tradeopt_strategy.service`; a replay session follows its job through
``service.PAPER_SESSION``.

``strategy.replay_session`` steps a dataset range through the strategy with
:class:`tradeopt_ml.paper.PaperEngine` (the env's execution model: the simulated broker):

1. load the bars, the model (verified checksum) and its lineage; build the engine over the
   range exactly as the evaluation backtest builds its core;
2. **resume**: re-step the bars already recorded (their decisions, without the policy) and
   check that the recomputed book equals the stored one — a worker killed mid-replay (the
   reaper hands the job on) continues at the next unprocessed bar with the same state;
3. decide, check risk, fill and record each bar (at ``speed: max`` the policy's actions are
   precomputed by the evaluation's exact batched path, :meth:`PaperEngine.plan`, and used
   while no risk decision departs from them; paced sessions call ``predict`` per bar); bars
   are committed in batches (``speed: max``: growing from 256 to
   ``TRADING_OPT_STRATEGY_COMMIT_BARS``, each batch written while the next one is computed) or
   one by one (paced at ``speed`` bars per second). Each batch's own transaction reads the
   session's stop and kill-switch flags under the row lock it takes anyway
   (:func:`service.record_bars` with ``control``): a batch offered after the kill switch was
   committed is refused whole and the engine, rebuilt at the last committed bar, flattens at
   the very next bar — the kill switch acts **within one bar** whatever the batch size;
4. at the end, the parity report: the evaluation backtest of the same model over the same bars
   and costs (:func:`tradeopt_ml.evaluation.backtest_model`, fast path) against the bars as
   stored, bar by bar.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.contracts.models import download_model, model_digests
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobContext, job_function
from tradeopt_common.logging import get_logger
from tradeopt_ml.data import read_bars_parquet
from tradeopt_ml.evaluation import backtest_model
from tradeopt_ml.paper import Applied, BarRecord, PaperEngine, RiskLimits, parity_report
from tradeopt_strategy import service
from tradeopt_strategy.config import get_strategy_settings
from tradeopt_strategy.models import PaperBar, PaperSession

log = get_logger(__name__)


def _row(bar: PaperBar) -> dict[str, Any]:
    return {
        "seq": bar.seq,
        "t": bar.t.isoformat(),
        "value": bar.value,
        "units": bar.units,
        "cost": bar.cost,
        "traded": bar.traded,
    }


def _resume(engine: PaperEngine, stored: list[PaperBar]) -> None:
    """Re-step the stored decisions; the recomputed book must equal the stored one."""
    again = engine.restore([Applied.from_dict(b.applied) for b in stored])
    for bar, rec in zip(stored, again, strict=True):
        if bar.value != rec.value or list(bar.units) != rec.units:
            raise ValidationFailed(
                f"resume: bar {bar.seq} ({bar.t.isoformat()}) recomputes to equity {rec.value}, "
                f"stored {bar.value}: the model, bars or code changed under the session"
            )


@job_function(TaskName.STRATEGY_REPLAY_SESSION)
def replay_session(ctx: JobContext, *, commit_bars: int | None = None) -> dict[str, Any]:
    """Run (or resume) one replay session (see the module docstring)."""
    commit_bars = commit_bars or get_strategy_settings().strategy_commit_bars
    session_id = uuid.UUID(ctx.params["paper_session_id"])
    paper: PaperSession = ctx.db(lambda s: service.get_session(s, session_id))
    store = ctx.store
    manifest = read_manifest(store, paper.dataset_id) if paper.dataset_id else None
    if manifest is None or manifest.checksum != paper.dataset_checksum:
        raise ValidationFailed(f"dataset {paper.dataset_id} is gone or changed")
    with tempfile.TemporaryDirectory(prefix=f"tradeopt-paper-{session_id}-") as tmp:
        workdir = Path(tmp)
        ctx.progress(0.02, "loading bars and model", force=True)
        store.download_file(manifest.bars_key, workdir / "bars.parquet")
        bars = read_bars_parquet(workdir / "bars.parquet")
        expected = ctx.db(lambda s: model_digests(s, [paper.model_id]))
        lineage, path = download_model(store, paper.model_id, workdir, expected)
        model = service.load_policy(lineage, path)
        limits = RiskLimits.model_validate(paper.risk or {})

        def build() -> PaperEngine:
            try:
                return PaperEngine.for_range(
                    lineage, bars, model, limits,
                    part=paper.part, start=paper.start, end=paper.end,
                    cost_bps=paper.cost_bps, slippage_bps=paper.slippage_bps,
                )  # fmt: skip
            except ValueError as exc:
                raise ValidationFailed(f"paper session {session_id}: {exc}") from exc

        def resumed() -> PaperEngine:
            """The engine at the last committed bar (re-stepped from the stored decisions)."""
            engine = build()
            stored = ctx.db(lambda s: service.processed_bars(s, session_id))
            if stored:
                _resume(engine, stored)
            return engine

        engine = build()
        if paper.speed is None:
            ctx.progress(0.03, "planning the policy's actions (batched, exact)", force=True)
            engine.plan()
        stored = ctx.db(lambda s: service.processed_bars(s, session_id))
        if stored:
            ctx.progress(0.05, f"resuming after {len(stored)} recorded bars", force=True)
            _resume(engine, stored)

        def write(records: list[BarRecord]) -> Future[service.Control]:
            async def go() -> service.Control:
                async with ctx.runtime.db.unit_of_work() as s:
                    return await service.record_bars(s, session_id, records, control=True)

            return asyncio.run_coroutine_threadsafe(go(), ctx.runtime.loop)

        def progress(k: int, total: int) -> None:
            ctx.progress(0.05 + 0.9 * k / total, f"bar {k} of {total}")

        engine = run_replay(
            engine, write, resumed, speed=paper.speed, batch=commit_bars, progress=progress
        )
        ctx.progress(0.97, "parity report", force=True)
        rows = [_row(b) for b in ctx.db(lambda s: service.processed_bars(s, session_id))]
        backtest, _, _ = backtest_model(
            path, lineage, bars, part=paper.part, start=paper.start, end=paper.end,
            cost_bps=paper.cost_bps, slippage_bps=paper.slippage_bps, model=model,
        )  # fmt: skip
        report = parity_report(rows, backtest).to_dict()
    ctx.db(lambda s: service.set_parity(s, session_id, report))
    return {
        "paper_session_id": str(session_id),
        "bars": len(rows),
        "halted": engine.halted,
        "parity_ok": report["ok"],
    }


#: First batch of a ``speed: max`` replay (batches then double up to the configured size: the
#: first write starts early, so computing and writing overlap from the start).
FIRST_BATCH = 256


def run_replay(
    engine: PaperEngine,
    write: Callable[[list[BarRecord]], Future[service.Control]],
    rebuild: Callable[[], PaperEngine],
    *,
    speed: float | None,
    batch: int,
    progress: Callable[[int, int], None] | None = None,
) -> PaperEngine:
    """Step ``engine`` to the end of its range (or a halt or stop) and record every bar.

    ``speed`` None (``max``): batches of :data:`FIRST_BATCH` bars doubling up to ``batch``,
    each handed to ``write`` (which records it in its own transaction on another thread and
    answers a :class:`~tradeopt_strategy.service.Control`) while the next batch is computed;
    at most one write is in flight, so batches commit in order. Otherwise one bar per write,
    paced at ``speed`` bars per second.

    A refused batch (the session's row said stop or halt when it was offered) is not recorded,
    nor is anything computed after it: on a stop the replay ends; on the kill switch the engine
    is rebuilt at the last committed bar (``rebuild``) and flattens at the next one. Returns the
    engine that ran last.
    """
    if speed is not None:
        return _run_replay(engine, write, rebuild, speed=speed, batch=batch, progress=progress)
    # A replay at max allocates tens of thousands of small records; with the worker's loaded
    # model, torch and pandas (~600,000 tracked objects) each full cyclic collection they
    # trigger walks them all. Frozen, those objects are left out of collections while the
    # loop runs (the collector stays on for everything the loop creates), then put back.
    gc.freeze()
    try:
        return _run_replay(engine, write, rebuild, speed=None, batch=batch, progress=progress)
    finally:
        gc.unfreeze()


def _run_replay(
    engine: PaperEngine,
    write: Callable[[list[BarRecord]], Future[service.Control]],
    rebuild: Callable[[], PaperEngine],
    *,
    speed: float | None,
    batch: int,
    progress: Callable[[int, int], None] | None,
) -> PaperEngine:
    total = max(engine.n_decisions, 1)
    started = time.monotonic()
    done_at_start = engine.k
    size = 1 if speed is not None else min(batch, FIRST_BATCH)
    in_flight: Future[service.Control] | None = None
    while True:
        pending: list[BarRecord] = []
        while not engine.done and len(pending) < size:
            pending.append(engine.step())
            if speed is not None:
                due = started + (engine.k - done_at_start) / speed
                time.sleep(max(0.0, due - time.monotonic()))
        if in_flight is not None:
            control = in_flight.result()
            in_flight = None
            if control.stop:
                return engine
            if control.halt is not None:  # refused: what was computed after it is dropped too
                engine = rebuild()
                engine.request_halt(f"kill switch: {control.halt}")
                continue
        if not pending:
            return engine
        if progress is not None:
            progress(engine.k, total)
        in_flight = write(pending)
        if speed is None:
            size = min(batch, size * 2)
