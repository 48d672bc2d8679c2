"""SQL both backends share for the transfer port (``core.transfer``): the snapshot's
keyset pages and the import's rules.  ``?`` placeholders; PostgreSQL renumbers them."""

from __future__ import annotations

import re
from typing import Any

from adapters.storage.rows import MESSAGE_COLUMNS, THREAD_COLUMNS, to_us
from core.transfer import ThreadFilter


def threads_page(where: ThreadFilter, after: str | None, limit: int) -> tuple[str, list[Any]]:
    """Threads by id after ``after``, through the filter (the primary key's order)."""
    conds: list[str] = []
    args: list[Any] = []
    if after is not None:
        conds.append("id > ?")
        args.append(after)
    if where.folder_id is not None:
        conds.append("folder_id = ?")
        args.append(where.folder_id)
    if where.since is not None:
        conds.append("(updated_us >= ? OR last_active_us >= ?)")
        args += [to_us(where.since)] * 2
    sql = f"SELECT {THREAD_COLUMNS} FROM threads"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    return sql + " ORDER BY id LIMIT ?", [*args, limit]


ENTRIES_PAGE = (
    f"SELECT seq, {MESSAGE_COLUMNS} FROM messages WHERE thread_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    count = iter(range(1, 1_000))
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)
