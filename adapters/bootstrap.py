"""Composition root: the only module that picks concrete classes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from adapters.settings import Settings
from adapters.storage.memory import InMemoryStore
from adapters.storage.rows import SchemaTooNew
from adapters.storage.sqlite import SqliteStore
from core.clock import RandomIds, SystemClock
from core.ports import Store
from core.services import Core, CoreSettings
from core.threads import ExpirationSettings


class StoreError(Exception):
    """The configured store cannot be opened (bad URL, unreachable server...)."""


def redact_dsn(dsn: str) -> str:
    """A database URL without its password, for logs and messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


async def open_store(settings: Settings) -> Store:
    try:
        return await _open_store(settings)
    except SchemaTooNew as exc:
        raise StoreError(str(exc)) from exc


async def _open_store(settings: Settings) -> Store:
    """``sqlite`` (file under the data folder), ``sqlite:///path``, ``memory`` or
    ``postgresql://…`` (also ``postgres://``)."""
    db = settings.database
    if db == "memory":
        return InMemoryStore()
    if db == "sqlite":
        return await SqliteStore.open(settings.sqlite_path, synchronous=settings.sqlite_synchronous)
    if db.startswith("sqlite:///"):
        return await SqliteStore.open(
            Path(db.removeprefix("sqlite:///")), synchronous=settings.sqlite_synchronous
        )
    if db.startswith(("postgresql://", "postgres://")):
        from adapters.storage.postgres import PostgresStore

        try:
            return await PostgresStore.open(
                db,
                min_size=settings.pg_pool_min,
                max_size=settings.pg_pool_max,
                statement_timeout_ms=settings.pg_statement_timeout_ms,
                connect_timeout_s=settings.pg_connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise StoreError(f"cannot reach PostgreSQL at {redact_dsn(db)}: {exc}") from exc
    raise StoreError(
        f"unknown database {redact_dsn(db)!r}: use sqlite, sqlite:///path, memory or postgresql://…"
    )


def build_core(store: Store, settings: Settings) -> Core:
    return Core(
        store,
        SystemClock(),
        RandomIds(),
        CoreSettings(
            expiration=ExpirationSettings(
                default_policy=settings.default_policy,
                default_ttl_days=settings.default_ttl_days,
                max_ttl_days=settings.max_ttl_days,
            ),
            idempotency_window=settings.idempotency_window,
            max_messages_per_thread=settings.max_messages_per_thread,
        ),
    )
