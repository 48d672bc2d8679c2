from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from adapters.storage.memory import InMemoryStore
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteStore
from core.ports import Store
from testkit.postgres import PgServer, postgres_server


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """One throw-away PostgreSQL for the whole session; never skipped: no server, failed tests."""
    with postgres_server() as server:
        yield server


async def empty_database(dsn: str) -> None:
    """Drop everything a previous test made, so each test starts on an empty database."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


@pytest.fixture
async def pg_dsn(pg: PgServer) -> str:
    """The DSN of an empty database on the session's server."""
    await empty_database(pg.dsn)
    return pg.dsn


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every backend behind the port; the contract suite runs once per backend."""
    backend: Store
    if request.param == "memory":
        backend = InMemoryStore()
    elif request.param == "sqlite":
        backend = await SqliteStore.open(tmp_path / "threads.db")
    else:
        # the server starts with the first test that asks for it, then serves the session
        server: PgServer = request.getfixturevalue("pg")
        await empty_database(server.dsn)
        backend = await PostgresStore.open(server.dsn)
    try:
        yield backend
    finally:
        await backend.close()
