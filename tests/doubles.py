"""Test doubles for the core's injected time and ids."""

from __future__ import annotations

from datetime import datetime, timedelta


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
