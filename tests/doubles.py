"""Test doubles for the core's injected time and ids, and a store with outages on demand."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.storage.memory import InMemoryStore


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        self._now = when


class SequentialIds:
    """Predictable ids for tests: ``thread_000001``, ``msg_000002``…"""

    def __init__(self) -> None:
        self._n = 0

    def new_id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:06d}"


class OutageStore(InMemoryStore):
    """The memory store, failing on demand as a real backend does in an outage.

    After ``fail(error, *methods)`` each call of those store methods (all of them when
    none is named, key lookups included) raises ``error`` instead of touching the data,
    as SQLite and PostgreSQL raise the core's ``Unavailable``; ``recover()`` ends it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._error: Exception | None = None
        self._failing: frozenset[str] = frozenset()
        for name, method in inspect.getmembers(self, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                setattr(self, name, self._guarded(name, method))

    def fail(self, error: Exception, *methods: str) -> None:
        unknown = set(methods) - {name for name in vars(self) if not name.startswith("_")}
        assert not unknown, f"no store methods {sorted(unknown)}"
        self._error, self._failing = error, frozenset(methods)

    def recover(self) -> None:
        self._error, self._failing = None, frozenset()

    def _guarded(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            if self._error is not None and (not self._failing or name in self._failing):
                raise self._error
            return await method(*args, **kwargs)

        return guarded
