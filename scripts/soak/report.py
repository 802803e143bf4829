"""The soak's figures: accounting of every tracked job and request after the drain (lost,
completed twice, failures with and without a clear error, error rates around each fault, the
PostgreSQL recovery times) and their printed form.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

#: Reaper and heartbeat settings of the soak fleet: a dead worker is noticed within seconds.
from scripts.soak.api import TERMINAL, Call
from scripts.soak.infra import Fleet

if TYPE_CHECKING:
    from scripts.soak.run import Soak

#: job status -> the resource statuses that agree with it (the services' ResourceBindings).
AGREES = {
    "queued": {"queued"},
    "running": {"running"},
    "waiting": {"running", "waiting"},
    "succeeded": {"succeeded", "ready"},
    "failed": {"failed"},
    "canceled": {"canceled"},
}


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
    outages = [f for f in soak.faults if f.name != "bad"]  # bad requests break nothing
    for fault in outages:
        # "after": up to 15 s after recovery, but never into the next outage (its errors are
        # that fault's, not a slow recovery from this one)
        until = min([f.start for f in outages if f.start > fault.start] + [fault.recovered + 15])
        during = [c for c in calls if fault.start <= c.t <= fault.recovered]
        after = [c for c in calls if fault.recovered < c.t <= until]
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
        f"{'after (<= 15 s)':<16}{'500s':>5}",
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
