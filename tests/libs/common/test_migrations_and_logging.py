"""Migrations match the models on both databases; logging renders JSON with context ids."""

from __future__ import annotations

import json
import logging

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tradeopt_common.asyncutil import run_sync
from tradeopt_common.db.base import Base
from tradeopt_common.db.migrations import current, discover_trees, upgrade
from tradeopt_common.db.session import create_engine


def _import_all_models() -> None:
    import tradeopt_common.references  # noqa: F401
    import tradeopt_data.models  # noqa: F401
    import tradeopt_evaluation.models  # noqa: F401
    import tradeopt_training.models  # noqa: F401
    import tradeopt_tuning.models  # noqa: F401


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_migrations_reach_head_and_match_models(backend, request, tmp_path):
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    upgrade(url)  # idempotent
    heads = {
        "core": "0009",
        "data": "0001",
        "training": "0001",
        "tuning": "0005",
        "evaluation": "0002",
        "strategy": "0004",
    }
    assert current(url) == {t.name: heads[t.name] for t in discover_trees()}
    _import_all_models()

    async def _diff(target) -> list:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(
                        MigrationContext.configure(
                            c, opts={"include_schemas": backend == "postgresql"}
                        ),
                        target,
                    )
                )
        finally:
            await engine.dispose()

    if backend == "sqlite":  # no schemas: compare tables and columns
        from sqlalchemy import inspect

        async def _columns() -> dict[str, set[str]]:
            engine = create_engine(url)
            try:
                async with engine.connect() as conn:
                    return await conn.run_sync(
                        lambda c: {
                            t: {col["name"] for col in inspect(c).get_columns(t)}
                            for t in inspect(c).get_table_names()
                            if not t.startswith("alembic_")
                        }
                    )
            finally:
                await engine.dispose()

        expected = {t.name: {c.name for c in t.columns} for t in Base.metadata.tables.values()}
        assert run_sync(_columns()) == expected
        return
    diff = run_sync(_diff(Base.metadata))
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("alembic_"))]
    assert diff == [], diff


@pytest.mark.unit
def test_json_logging_carries_context(capsys):
    from tradeopt_common.logging import bind_context, clear_context, configure_logging, get_logger

    configure_logging("INFO", json=True)
    try:
        bind_context(request_id="r-1", job_id="j-9")
        get_logger("t").info("job.claimed", attempt=2)
        logging.getLogger("stdlib").warning("plain %s", "message")
    finally:
        clear_context()
        configure_logging("INFO", json=False)
    lines = [json.loads(x) for x in capsys.readouterr().err.strip().splitlines()]
    assert lines[0]["event"] == "job.claimed" and lines[0]["request_id"] == "r-1"
    assert lines[0]["job_id"] == "j-9" and lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert lines[1]["event"] == "plain message" and lines[1]["request_id"] == "r-1"
