"""Time and identity sources, injected so tests control both."""

from __future__ import annotations

import secrets
import string
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC, microsecond precision."""
        ...


class SystemClock:
    """Wall clock that never repeats or goes back within one process.

    Two calls in the same microsecond get distinct, increasing values, so
    creation order inside a process is always visible in ``created_at``.
    """

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        current = datetime.now(UTC)
        with self._lock:
            if current <= self._last:
                current = self._last + timedelta(microseconds=1)
            self._last = current
        return current


class IdSource(Protocol):
    def new_id(self, prefix: str) -> str:
        """A fresh opaque id starting with ``prefix``."""
        ...


_ALPHABET = string.ascii_letters + string.digits
_BASE = len(_ALPHABET)


class RandomIds:
    """``<prefix>`` + 24 characters from [A-Za-z0-9]: about 143 random bits.

    The shape matches OpenAI's ids (``thread_…``, ``msg_…``) so REST clients that
    check prefixes keep working; gRPC clients treat ids as opaque strings.
    """

    LENGTH = 24
    # bytes below 248 (= 4 x 62) map onto the alphabet without bias; one system call
    # for all 24 characters (``secrets.choice`` made one per character)
    _UNBIASED = 4 * _BASE

    def new_id(self, prefix: str) -> str:
        chars: list[str] = []
        while len(chars) < self.LENGTH:
            chars += [_ALPHABET[b % _BASE] for b in secrets.token_bytes(32) if b < self._UNBIASED]
        return prefix + "".join(chars[: self.LENGTH])
