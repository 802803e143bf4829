"""The one-command demo on embedded defaults (SQLite + local artifact folder, no servers).

Until the pipeline lands (``tradeopt pipeline run``), it shows the data-service slice: migrate,
create a dataset from a bundled real sample, run its ingest job in-process with the same job code
the fleet's workers run, and print what was stored.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from tradeopt_common.asyncutil import run_sync
from tradeopt_common.config import get_settings
from tradeopt_common.db.migrations import upgrade
from tradeopt_common.db.session import Database
from tradeopt_common.jobs import service as jobs_service
from tradeopt_common.jobs.runner import InlineDispatcher
from tradeopt_common.logging import configure_logging

console = Console()


def run_demo(symbol: str = "SPY") -> None:
    """Ingest ``symbol`` in-process and print the dataset and its job."""
    import tradeopt_data.jobs  # noqa: F401 - registers the job bodies
    from tradeopt_data import service
    from tradeopt_data.schemas import DatasetCreateSample

    settings = get_settings()
    configure_logging("WARNING", settings.log_json)
    started = time.perf_counter()
    console.print(f"[bold]tradeopt demo[/bold] — database {settings.db_uri}")
    upgrade(settings.db_uri)

    async def _go() -> None:
        db = Database(settings.db_uri)
        try:
            async with db.unit_of_work() as session:
                dataset = await service.create_dataset(
                    session,
                    InlineDispatcher(),
                    DatasetCreateSample(source="sample", symbol=symbol),
                    created_by="demo",
                    max_attempts=1,
                )
            # The unit of work committed and the inline dispatcher ran the ingest job.
            async with db.unit_of_work() as session:
                dataset = await service.get_dataset(session, dataset.id)
                job = await jobs_service.get_job(session, dataset.job_id)
        finally:
            await db.dispose()
        table = Table("field", "value", title=f"dataset {dataset.id}")
        for name in ("name", "status", "symbols", "rows", "start", "end", "checksum"):
            table.add_row(name, str(getattr(dataset, name)))
        table.add_row("job", f"{job.kind} {job.status} (attempt {job.attempts})")
        table.add_row("stored at", f"{settings.artifact_dir}/{dataset.storage_key}")
        console.print(table)
        if dataset.status != "ready":
            raise SystemExit(f"demo failed: {dataset.error or job.error}")

    run_sync(_go())
    console.print(f"done in {time.perf_counter() - started:.1f}s")
