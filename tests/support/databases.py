"""Throwaway databases on the machine's PostgreSQL for tests."""

from __future__ import annotations

import os

import asyncpg

PG_ADMIN_DSN = os.environ.get(
    "TRADEOPT_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def drop_database(name: str) -> None:
    """Drop a database (terminating its sessions) if it exists."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def recreate_database(name: str) -> None:
    """Drop and create a database."""
    await drop_database(name)
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def pg_url_for(name: str) -> str:
    """The SQLAlchemy (asyncpg) URL of a database on the same server."""
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"
