"""Composition root: the only module that picks concrete classes."""

from __future__ import annotations

from adapters.settings import Settings
from adapters.storage.memory import InMemoryStore
from adapters.storage.sqlite import SqliteStore
from core.clock import RandomIds, SystemClock
from core.ports import Store
from core.services import Core, CoreSettings
from core.threads import ExpirationSettings


async def open_store(settings: Settings) -> Store:
    if settings.database == "memory":
        return InMemoryStore()
    if settings.database == "sqlite":
        return await SqliteStore.open(settings.sqlite_path, synchronous=settings.sqlite_synchronous)
    raise ValueError(f"unknown database {settings.database!r}: use 'sqlite' or 'memory'")


def build_core(store: Store, settings: Settings) -> Core:
    return Core(
        store,
        SystemClock(offset=settings.clock_offset),
        RandomIds(),
        CoreSettings(
            expiration=ExpirationSettings(
                default_policy=settings.default_policy,
                default_ttl_days=settings.default_ttl_days,
                max_ttl_days=settings.max_ttl_days,
                idempotency_window=settings.idempotency_window,
            ),
            max_messages_per_thread=settings.max_messages_per_thread,
        ),
    )
