"""Versioned PostgreSQL schema.  Each entry upgrades the database by one version.

Never edit a released entry: add a new one.  Every applied version is a row of
``schema_version``.  ``migrate`` runs all pending entries in one transaction
that first takes a fixed transaction-scoped advisory lock, so replicas starting
together queue up behind one another and exactly one of them applies each
version; the others find the work done.

The tables mirror the SQLite ones (``sqlite_schema.py``) so ``rows.py`` maps
both: times are BIGINT microseconds since the epoch, and JSON values are TEXT
holding the exact JSON text written (JSONB would reorder object keys and refuses
``\\u0000``; nothing queries inside these values).  Identifiers use the "C"
collation, so ordering by id is by code point, as in SQLite and in memory.
"""

from __future__ import annotations

from typing import Any, Protocol

from adapters.storage.rows import SchemaTooNew

# pg_advisory_xact_lock key: "threadgt" in ASCII, as a signed 64-bit integer
MIGRATION_LOCK = 0x7468726561646774

MIGRATIONS: tuple[str, ...] = (
    # 1: threads and messages
    """
    CREATE TABLE threads (
        id TEXT COLLATE "C" PRIMARY KEY,
        folder_id TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        default_author_id TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_us BIGINT NOT NULL,
        last_active_us BIGINT NOT NULL,
        policy TEXT NOT NULL,
        ttl_days INTEGER NOT NULL,
        expires_us BIGINT NOT NULL,
        labels TEXT NOT NULL,
        tools TEXT NOT NULL,
        ci_file_ids TEXT,
        next_seq BIGINT NOT NULL DEFAULT 1,
        message_count BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX threads_by_folder ON threads (folder_id, created_us DESC, id DESC);
    CREATE INDEX threads_by_expiry ON threads (expires_us);
    CREATE TABLE messages (
        thread_id TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        created_us BIGINT NOT NULL,
        run_id TEXT COLLATE "C",
        body TEXT NOT NULL,
        PRIMARY KEY (thread_id, seq)
    );
    CREATE UNIQUE INDEX messages_by_id ON messages (id);
    CREATE INDEX messages_by_run ON messages (thread_id, run_id, seq) WHERE run_id IS NOT NULL;
    CREATE TABLE message_tombstones (
        thread_id TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (thread_id, id)
    );
    """,
    # 2: API keys (only the SHA-256 of each secret is stored)
    """
    CREATE TABLE api_keys (
        id TEXT COLLATE "C" PRIMARY KEY,
        subject_id TEXT NOT NULL,
        role INTEGER NOT NULL,
        folders TEXT NOT NULL,
        default_folder TEXT NOT NULL,
        secret_sha256 TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        revoked_us BIGINT,
        description TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: idempotency records for retried creates
    """
    CREATE TABLE idempotency (
        scope TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        fingerprint TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_by_age ON idempotency (created_us);
    """,
    # 4: entries that are not plain user/assistant messages (Conversations items,
    # system and developer messages); the thread APIs page over plain ones only
    """
    ALTER TABLE messages ADD COLUMN plain BOOLEAN NOT NULL DEFAULT true;
    """,
    # 5: an entry id is unique within its thread, not across the store: an id one
    # tenant chose (a Conversations item's) neither blocks nor reveals another's
    """
    DROP INDEX messages_by_id;
    CREATE UNIQUE INDEX messages_by_thread_id ON messages (thread_id, id);
    """,
)


class Connection(Protocol):
    """The part of an asyncpg connection that ``migrate`` uses."""

    def transaction(self) -> Any: ...

    async def execute(self, query: str, *args: object) -> str: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...


async def migrate(conn: Connection) -> int:
    """Bring the schema up to date; returns the version.  Safe to run concurrently."""
    async with conn.transaction():
        # waiting for another replica's migration is not a slow statement
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        version = int(await conn.fetchval("SELECT COALESCE(max(version), 0) FROM schema_version"))
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"database schema version {version} is newer than this threadgate "
                f"({len(MIGRATIONS)}); upgrade threadgate"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await conn.execute(script)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
    return len(MIGRATIONS)
