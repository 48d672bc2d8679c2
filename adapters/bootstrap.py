"""Composition root: the only module that picks concrete classes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from adapters.settings import Settings
from adapters.storage.memory import InMemoryStore
from adapters.storage.rows import SchemaTooNew, UnreadableStore
from adapters.storage.sqlite import SqliteStore
from adapters.storage.sqlite_transfer import ReadOnlySqlite
from core.clock import RandomIds, SystemClock
from core.errors import Unavailable
from core.ports import Store
from core.services import Core, CoreSettings
from core.threads import ExpirationSettings
from core.transfer import SnapshotSource


class StoreError(Exception):
    """The configured store cannot be opened (bad URL, unreachable server...)."""


def redact_dsn(dsn: str) -> str:
    """A database URL without its password, for logs and messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


# seconds the start-up write check may take
WRITE_CHECK_TIMEOUT = 10.0


def _where(settings: Settings) -> str:
    db = settings.database
    if db == "sqlite":
        return str(settings.sqlite_path)
    return redact_dsn(db.removeprefix("sqlite:///"))


async def open_store(settings: Settings) -> Store:
    """Open the configured store and check that it can write: a server must not start
    (and say it is ready) on a read-only or full store.  Every failure is a one-line
    ``StoreError``."""
    try:
        store = await _open_store(settings)
    except SchemaTooNew as exc:
        raise StoreError(str(exc)) from exc
    except Unavailable as exc:
        raise StoreError(f"cannot open the store {_where(settings)}: {exc.detail}") from exc
    except OSError as exc:
        raise StoreError(f"cannot open the store {_where(settings)}: {exc}") from exc
    try:
        await asyncio.wait_for(store.ping(), WRITE_CHECK_TIMEOUT)
    except (Unavailable, TimeoutError) as exc:
        await store.close()
        detail = exc.detail if isinstance(exc, Unavailable) else f"no answer in {WRITE_CHECK_TIMEOUT:g} s"
        raise StoreError(f"the store {_where(settings)} cannot write: {detail}") from exc
    return store


async def _open_store(settings: Settings) -> Store:
    """``sqlite`` (file under the data folder), ``sqlite:///path``, ``memory`` or
    ``postgresql://…`` (also ``postgres://``)."""
    db = settings.database
    if db == "memory":
        return InMemoryStore()
    if db == "sqlite" or db.startswith("sqlite:///"):
        path = settings.sqlite_path if db == "sqlite" else Path(db.removeprefix("sqlite:///"))
        return await SqliteStore.open(
            path, synchronous=settings.sqlite_synchronous, lock_timeout=settings.sqlite_lock_timeout
        )
    if db.startswith(("postgresql://", "postgres://")):
        import asyncpg

        from adapters.storage.postgres import PostgresStore

        try:
            return await PostgresStore.open(
                db,
                min_size=settings.pg_pool_min,
                max_size=settings.pg_pool_max,
                statement_timeout_ms=settings.pg_statement_timeout_ms,
                connect_timeout_s=settings.pg_connect_timeout,
                acquire_timeout_s=settings.pg_acquire_timeout,
                query_timeout_s=settings.pg_query_timeout,
            )
        except Unavailable as exc:
            raise StoreError(f"cannot use PostgreSQL at {redact_dsn(db)}: {exc.detail}") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # a bad password, no database
            raise StoreError(f"cannot open PostgreSQL at {redact_dsn(db)}: {exc}") from exc
    raise StoreError(
        f"unknown database {redact_dsn(db)!r}: use sqlite, sqlite:///path, memory or postgresql://…"
    )


async def open_export_source(settings: Settings) -> SnapshotSource:
    """The configured store opened for reading only: never created, migrated or
    written, so ``threadgate export`` runs on a standby or a read-only copy."""
    db = settings.database
    try:
        if db == "sqlite" or db.startswith("sqlite:///"):
            return ReadOnlySqlite(
                settings.sqlite_path if db == "sqlite" else Path(db.removeprefix("sqlite:///"))
            )
        if db.startswith(("postgresql://", "postgres://")):
            import asyncpg

            from adapters.storage.postgres_transfer import ReadOnlyPostgres

            try:
                return await ReadOnlyPostgres.open(
                    db, connect_timeout=settings.pg_connect_timeout, query_timeout=settings.pg_query_timeout
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise StoreError(f"cannot read PostgreSQL at {redact_dsn(db)}: {exc}") from exc
    except UnreadableStore as exc:
        raise StoreError(str(exc)) from exc
    raise StoreError(f"cannot export {redact_dsn(db)!r}: use sqlite, sqlite:///path or postgresql://…")


def build_core(store: Store, settings: Settings) -> Core:
    # 0 is the longest a thread may live; serve's argument check keeps it in range
    conversation_ttl = settings.conversation_ttl_days or settings.max_ttl_days
    return Core(
        store,
        SystemClock(),
        RandomIds(),
        CoreSettings(
            expiration=ExpirationSettings(
                default_policy=settings.default_policy,
                default_ttl_days=settings.default_ttl_days,
                max_ttl_days=settings.max_ttl_days,
                conversation_ttl_days=conversation_ttl,
            ),
            idempotency_window=settings.idempotency_window,
            max_messages_per_thread=settings.max_messages_per_thread,
        ),
    )
