"""SQL both backends share for the transfer port (``core.transfer``): the snapshot's
keyset pages and the import's rules.  ``?`` placeholders; PostgreSQL renumbers them."""

from __future__ import annotations

import re
from typing import Any

from adapters.storage.rows import MESSAGE_COLUMNS, THREAD_COLUMNS, to_us
from core.transfer import ThreadFilter

# an entry already stored, rewritten in its place from its record (import --overwrite)
REWRITE_ENTRY = (
    "UPDATE messages SET created_us = ?, run_id = ?, body = ?, plain = ? WHERE thread_id = ? AND id = ?"
)


def _filter(where: ThreadFilter, conds: list[str], args: list[Any]) -> str:
    if where.folder_id is not None:
        conds.append("folder_id = ?")
        args.append(where.folder_id)
    if where.since is not None:
        conds.append("(updated_us >= ? OR last_active_us >= ?)")
        args += [to_us(where.since)] * 2
    return " WHERE " + " AND ".join(conds) if conds else ""


def threads_page(where: ThreadFilter, after: str | None, limit: int) -> tuple[str, list[Any]]:
    """Threads by id after ``after``, through the filter (the primary key's order)."""
    conds, args = (["id > ?"], [after]) if after is not None else ([], [])
    sql = f"SELECT {THREAD_COLUMNS} FROM threads" + _filter(where, conds, args)
    return sql + " ORDER BY id LIMIT ?", [*args, limit]


def counts(where: ThreadFilter) -> tuple[str, list[Any]]:
    """(threads, entries) through the filter: one pass over the threads table."""
    args: list[Any] = []
    return "SELECT count(*), COALESCE(sum(message_count), 0) FROM threads" + _filter(where, [], args), args


ENTRIES_PAGE = (
    f"SELECT seq, {MESSAGE_COLUMNS} FROM messages WHERE thread_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    count = iter(range(1, 1_000))
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)
