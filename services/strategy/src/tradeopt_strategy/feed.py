"""The bar feed: live sessions with ``"feed": "alpaca"`` pull their bars from Alpaca.

Alpaca's market-data API (:mod:`tradeopt_strategy.alpaca_data`) is polled by one long-running
process, ``python -m tradeopt_strategy.feed [--once] [--heartbeat PATH]`` (compose profile
``paper-trading``, the k8s component ``components/paper-trading``, the local fleet with
``FLEET_PAPER_FEED=on``).

Every ``TRADING_OPT_STRATEGY_FEED_POLL_SECONDS`` (60) it asks the provider for each running feed
session's bars since the session's newest stored bar (its first poll: the newest
:func:`~tradeopt_ml.paper.signals.required_bars` bars, the features' warm-up and the window, so
no historical bar trades) and hands each new **complete** bar (its period has ended) to
:func:`tradeopt_strategy.service.push_bar`, the code path of a pushed bar, one transaction per
bar:

- idempotent by timestamp: the cursor is the newest stored bar, a bar seen twice is skipped, and
  the session's unique ``(session, t)`` bars refuse a second copy (so even two feeds never make a
  second order);
- an out-of-order bar (older than the newest stored one) is skipped with a ``feed.bar_out_of_order``
  log line; a bar with bad values is skipped with ``feed.bar_refused`` and recorded in
  ``feed_error``; a gap is the push path's (the engine takes bars as they come);
- bad credentials (HTTP 401/403, or no keys configured) halt the session with the reason, as a
  broker refusal does; the provider down (connection errors, timeouts, 429, 5xx) is retried
  with exponential backoff (``poll * 2**(failures-1)``, at most
  ``TRADING_OPT_STRATEGY_FEED_MAX_BACKOFF_SECONDS``) while the session stays running and its
  ``feed_error`` says why; nothing is lost, since the next successful poll starts from the
  newest stored bar.

Keys are never logged: the client's errors name the endpoint and the HTTP status only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update

from tradeopt_common.contracts.models import read_lineage
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import Database
from tradeopt_common.errors import AppError
from tradeopt_common.logging import configure_logging, get_logger
from tradeopt_common.storage import ArtifactStore
from tradeopt_ml.paper.signals import required_bars
from tradeopt_strategy import service
from tradeopt_strategy.alpaca_data import (
    AlpacaBars,
    DataAuthError,
    DataError,
    ProviderBar,
)
from tradeopt_strategy.config import StrategySettings
from tradeopt_strategy.errors import DuplicateBar, SessionStateConflict
from tradeopt_strategy.models import LiveBar, PaperSession, SessionStatus
from tradeopt_strategy.schemas import Bar

log = get_logger(__name__)

#: Feeds this process serves (``PaperSession.feed``).
FEEDS = ("alpaca",)
#: The loop wakes at least this often (heartbeat file, new sessions), whatever the poll interval.
TICK_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class FeedSession:
    """What the feed needs of a running feed session."""

    id: uuid.UUID
    model_id: uuid.UUID
    symbol: str
    timeframe: str
    last_t: datetime | None


@dataclass
class _Retry:
    failures: int = 0
    next_at: float = 0.0  # time.monotonic()


@dataclass
class PollResult:
    """What one poll of one session did."""

    session_id: uuid.UUID
    fetched: int = 0
    processed: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    incomplete: int = 0
    refused: int = 0
    halted: str | None = None
    error: str | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)


class BarFeed:
    """Polls the running feed sessions and hands their new complete bars to the push path.

    Args:
        db: the database (one unit of work per bar).
        store: the artifact store (model lineage and weights).
        settings: strategy settings (``ALPACA_*``, poll interval, backoff).
        client_factory: builds the market-data client (default: from ``settings``).
        on_bar: called after each committed bar with the session id (wakes event streams).
        clock: "now" for bar completeness (tests).
    """

    def __init__(
        self,
        db: Database,
        store: ArtifactStore,
        settings: StrategySettings,
        *,
        client_factory: Callable[[StrategySettings], AlpacaBars] = AlpacaBars.from_settings,
        on_bar: Callable[[uuid.UUID], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db, self.store, self.settings = db, store, settings
        self.client_factory = client_factory
        self.on_bar = on_bar
        self.clock = clock
        self._retry: dict[uuid.UUID, _Retry] = {}
        self._next_poll: dict[uuid.UUID, float] = {}
        self._need: dict[uuid.UUID, int] = {}

    # ------------------------------------------------------------------------------------------
    async def sessions(self) -> list[FeedSession]:
        """Running live sessions with a pulled feed, and each one's newest stored bar."""
        newest = (
            select(LiveBar.session_id, func.max(LiveBar.t).label("last_t"))
            .group_by(LiveBar.session_id)
            .subquery()
        )
        stmt = (
            select(
                PaperSession.id,
                PaperSession.model_id,
                PaperSession.symbols,
                PaperSession.feed_timeframe,
                newest.c.last_t,
            )
            .outerjoin(newest, newest.c.session_id == PaperSession.id)
            .where(
                PaperSession.mode == "live",
                PaperSession.status == SessionStatus.RUNNING,
                PaperSession.feed.in_(FEEDS),
            )
            .order_by(PaperSession.created_at)
        )
        async with self.db.read_only() as session:
            rows = (await session.execute(stmt)).all()
        return [
            FeedSession(r.id, r.model_id, r.symbols[0], r.feed_timeframe or "1Day", r.last_t)
            for r in rows
        ]

    async def poll_once(self, *, force: bool = False) -> list[PollResult]:
        """Poll every running feed session that is due (``force``: all of them, backoff
        included); returns what each poll did.
        """
        now = time.monotonic()
        due = [
            s for s in await self.sessions()
            if force or max(self._next_poll.get(s.id, 0.0),
                            self._retry.get(s.id, _Retry()).next_at) <= now
        ]  # fmt: skip
        if not due:
            return []
        try:
            client = self.client_factory(self.settings)
        except DataAuthError as exc:  # no keys configured
            return [await self._halt(s.id, f"feed: {exc}") for s in due]
        try:
            results = []
            for s in due:
                self._next_poll[s.id] = time.monotonic() + self.settings.strategy_feed_poll_seconds
                results.append(await self.poll_session(client, s))
            return results
        finally:
            await client.aclose()

    async def poll_session(self, client: AlpacaBars, s: FeedSession) -> PollResult:
        """Fetch the session's new bars and process the complete ones, oldest first."""
        result = PollResult(s.id)
        try:
            if s.last_t is None:
                need = await self._required_bars(s.model_id)
                now = self.clock()
                fetched = await client.bars(s.symbol, s.timeframe, last=need + 1, now=now)
                fetched = [b for b in fetched if b.complete(s.timeframe, now)][-need:]
            else:
                fetched = await client.bars(s.symbol, s.timeframe, start=s.last_t)
        except DataAuthError as exc:
            return await self._halt(s.id, f"feed: {exc}")
        except DataError as exc:  # down, overloaded, unreadable, refused: retried
            return await self._failed(s.id, str(exc), result)
        except Exception as exc:  # the model gone, storage down: retried too
            log.exception("feed.poll_failed", session_id=str(s.id))
            return await self._failed(s.id, f"feed: {type(exc).__name__}: {exc}"[:500], result)
        self._retry.pop(s.id, None)
        result.fetched = len(fetched)
        try:
            problem = await self._process(s, fetched, result)
        except Exception as exc:  # the database or the model store failed mid-way: retried
            log.exception("feed.process_failed", session_id=str(s.id))
            return await self._failed(s.id, f"feed: {type(exc).__name__}: {exc}"[:500], result)
        await self._record(s.id, error=problem)
        return result

    async def _process(
        self, s: FeedSession, fetched: Sequence[ProviderBar], result: PollResult
    ) -> str | None:
        last = s.last_t
        now = self.clock()
        problem = None
        for pbar in fetched:
            if last is not None and pbar.t == last:
                result.duplicates += 1  # the cursor's own bar (start is inclusive), or a repeat
                continue
            if last is not None and pbar.t < last:
                if await self._stored(s.id, pbar.t):
                    result.duplicates += 1  # served again, late
                    continue
                result.out_of_order += 1
                log.warning("feed.bar_out_of_order", session_id=str(s.id), t=pbar.t.isoformat(),
                            last_t=last.isoformat())  # fmt: skip
                continue
            if not pbar.complete(s.timeframe, now):
                result.incomplete += 1  # still forming: it (and what follows) at a later poll
                break
            try:
                bar = Bar(t=pbar.t, open=pbar.open, high=pbar.high, low=pbar.low,
                          close=pbar.close, volume=pbar.volume)  # fmt: skip
                async with self.db.unit_of_work() as session:
                    step = await service.push_bar(
                        session, self.store, s.id, bar, settings=self.settings, from_feed=True
                    )
                    status, reason = step.session.status, step.session.halt_reason
                    decision = step.decision
            except DuplicateBar:
                result.duplicates += 1
                last = pbar.t
                continue
            except SessionStateConflict as exc:  # stopped or halted meanwhile
                log.info("feed.session_ended", session_id=str(s.id), reason=str(exc))
                return problem
            except (AppError, ValidationError) as exc:  # bad values, out of order (a race)
                result.refused += 1
                problem = f"feed: bar at {pbar.t.isoformat()} refused: {exc}"[:500]
                log.warning("feed.bar_refused", session_id=str(s.id), t=pbar.t.isoformat(),
                            reason=str(exc)[:300])  # fmt: skip
                continue
            last = pbar.t
            result.processed += 1
            if decision is not None:
                result.decisions.append(decision)
            if self.on_bar is not None:
                with contextlib.suppress(Exception):
                    await self.on_bar(s.id)
            if status != SessionStatus.RUNNING:
                result.halted = reason
                log.info("feed.session_halted", session_id=str(s.id), reason=reason)
                return problem
        return problem

    async def _stored(self, session_id: uuid.UUID, t: datetime) -> bool:
        async with self.db.read_only() as session:
            found = await session.scalar(
                select(LiveBar.id).where(LiveBar.session_id == session_id, LiveBar.t == t)
            )
        return found is not None

    async def _required_bars(self, model_id: uuid.UUID) -> int:
        if model_id not in self._need:
            lineage = await asyncio.to_thread(read_lineage, self.store, model_id)
            if lineage is None:
                raise RuntimeError(f"the model {model_id} is not registered")
            self._need[model_id] = required_bars(lineage)
        return self._need[model_id]

    async def _failed(self, session_id: uuid.UUID, reason: str, result: PollResult) -> PollResult:
        retry = self._retry.setdefault(session_id, _Retry())
        retry.failures += 1
        delay = min(
            self.settings.strategy_feed_poll_seconds * 2 ** (retry.failures - 1),
            self.settings.strategy_feed_max_backoff_seconds,
        )
        retry.next_at = time.monotonic() + delay
        result.error = f"{reason}; retry {retry.failures} in {delay:g} s"
        log.warning("feed.provider_failed", session_id=str(session_id), reason=reason,
                    failures=retry.failures, retry_in_seconds=delay)  # fmt: skip
        await self._record(session_id, error=result.error)
        return result

    async def _halt(self, session_id: uuid.UUID, reason: str) -> PollResult:
        async with self.db.unit_of_work() as session:
            halted = await service.halt_session(session, session_id, reason)
        if halted:
            log.warning("feed.session_halted", session_id=str(session_id), reason=reason)
            if self.on_bar is not None:
                with contextlib.suppress(Exception):
                    await self.on_bar(session_id)
        self._retry.pop(session_id, None)
        return PollResult(session_id, halted=reason)

    async def _record(self, session_id: uuid.UUID, *, error: str | None) -> None:
        async with self.db.unit_of_work() as session:
            await session.execute(
                update(PaperSession)
                .where(PaperSession.id == session_id)
                .values(feed_error=error, feed_polled_at=utcnow())
            )

    # ------------------------------------------------------------------------------------------
    async def run_forever(self, stop: asyncio.Event, heartbeat: Path | None = None) -> None:
        """Poll until ``stop`` is set: wake every :data:`TICK_SECONDS` (or the poll interval when
        shorter), touch ``heartbeat``, poll the sessions that are due. A failed pass (database
        down) is logged and the next one tries again.
        """
        tick = min(TICK_SECONDS, self.settings.strategy_feed_poll_seconds)
        while not stop.is_set():
            try:
                results = await self.poll_once()
                for r in results:
                    if r.processed or r.halted or r.refused or r.out_of_order:
                        log.info("feed.polled", session_id=str(r.session_id), fetched=r.fetched,
                                 processed=r.processed, duplicates=r.duplicates,
                                 out_of_order=r.out_of_order, refused=r.refused,
                                 halted=r.halted)  # fmt: skip
            except Exception:
                log.exception("feed.pass_failed")
            if heartbeat is not None:
                await asyncio.to_thread(heartbeat.touch)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)


async def serve(settings: StrategySettings, *, once: bool, heartbeat: Path | None) -> None:
    """Run the feed with the deployment's database, storage and Redis until SIGTERM/SIGINT."""
    import redis.asyncio as aioredis

    from tradeopt_common.storage.configured import store_from_settings

    db = Database(settings.db_uri)
    redis = aioredis.from_url(settings.redis_uri)

    async def wake(session_id: uuid.UUID) -> None:  # as a pushed bar does: …/events wakes up
        await redis.publish(service.live_channel(session_id), "bar")

    feed = BarFeed(db, store_from_settings(settings), settings, on_bar=wake)
    log.info("feed.started", poll_seconds=settings.strategy_feed_poll_seconds,
             data_url=settings.alpaca_data_url, data_feed=settings.alpaca_data_feed,
             keys_configured=settings.alpaca_api_key is not None)  # fmt: skip
    try:
        if once:
            await feed.poll_once(force=True)
            if heartbeat is not None:
                await asyncio.to_thread(heartbeat.touch)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await feed.run_forever(stop, heartbeat)
    finally:
        log.info("feed.stopped")
        await redis.aclose()
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tradeopt_strategy.feed``."""
    from tradeopt_strategy.config import get_strategy_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="poll every feed session once, exit")
    parser.add_argument(
        "--heartbeat", type=Path, default=None,
        help="touch this file after every pass (a liveness check reads its age)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    settings = get_strategy_settings()
    configure_logging(settings.log_level, settings.log_json, log_file=settings.log_file)
    asyncio.run(serve(settings, once=args.once, heartbeat=args.heartbeat))


if __name__ == "__main__":
    main()
