"""Which SQLite errors are store outages, and what a retry of the failed request risks.

An outage is a condition outside the code that a later attempt may not meet: the disk
is full, the file or its file system is read-only (or immutable), another process
held the lock past the wait, an I/O error.  Every other error (no such table, a
constraint, a misuse of the API) is a bug and stays what it is: a 500 / INTERNAL.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import NoReturn

from core.errors import Unavailable

# ``ping`` says the store cannot write when its file system has less room than this
MIN_FREE_BYTES = 1 << 20

_OUTAGES = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)
# At COMMIT these mean the commit record was never written: nothing is stored.
_NOT_WRITTEN = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    return code & 0xFF if isinstance(code, int) else None


def is_outage(exc: BaseException) -> bool:
    return _code(exc) in _OUTAGES


def describe(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    return f"SQLite: {exc} ({name})" if name else f"SQLite: {exc}"


def translate(exc: BaseException, *, committing: bool = False) -> BaseException:
    """``exc`` as the store's callers should see it: an outage becomes ``Unavailable``
    (caused by ``exc``), anything else is returned unchanged.

    A failure at COMMIT leaves the outcome unknown (an I/O error may come after the
    commit record reached the file), unless the lock was never had; a failure before
    COMMIT rolled everything back.
    """
    if not is_outage(exc):
        return exc
    unknown = committing and _code(exc) not in _NOT_WRITTEN
    error = Unavailable(describe(exc), retry_safe=not unknown)
    error.__cause__ = exc
    return error


def reraise(exc: sqlite3.Error) -> NoReturn:
    """Raise what ``translate`` makes of a read's error (its cause is already set)."""
    raise translate(exc)


def check_free_space(folder: Path) -> None:
    """Raise ``Unavailable`` when the file system holding ``folder`` is (nearly) full:
    a full disk may still take one small write into the WAL's old pages, so a write
    probe alone would not notice.  Root may use the blocks reserved for it."""
    try:
        fs = os.statvfs(folder)
    except OSError as exc:
        raise Unavailable(f"cannot check the free space in {folder}: {exc}", retry_safe=True) from exc
    free = fs.f_frsize * (fs.f_bfree if os.geteuid() == 0 else fs.f_bavail)
    if free < MIN_FREE_BYTES:
        raise Unavailable(f"the file system of {folder} is full ({free} bytes free)", retry_safe=True)
