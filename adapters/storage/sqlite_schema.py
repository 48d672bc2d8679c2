"""Versioned SQLite schema.  Each entry upgrades the database by one version.

Never edit a released entry: add a new one.  The version lives in
``PRAGMA user_version``; upgrades run in one write transaction at start.
"""

from __future__ import annotations

import sqlite3

from adapters.storage.rows import SchemaTooNew

MIGRATIONS: tuple[str, ...] = (
    # 1: threads and messages
    """
    CREATE TABLE threads (
        id TEXT PRIMARY KEY,
        folder_id TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        default_author_id TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        updated_us INTEGER NOT NULL,
        last_active_us INTEGER NOT NULL,
        policy TEXT NOT NULL,
        ttl_days INTEGER NOT NULL,
        expires_us INTEGER NOT NULL,
        labels TEXT NOT NULL,
        tools TEXT NOT NULL,
        ci_file_ids TEXT,
        next_seq INTEGER NOT NULL DEFAULT 1,
        message_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX threads_by_folder ON threads (folder_id, created_us DESC, id DESC);
    CREATE INDEX threads_by_expiry ON threads (expires_us);
    CREATE TABLE messages (
        thread_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        run_id TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (thread_id, seq)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX messages_by_id ON messages (id);
    CREATE INDEX messages_by_run ON messages (thread_id, run_id, seq) WHERE run_id IS NOT NULL;
    CREATE TABLE message_tombstones (
        thread_id TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (thread_id, id)
    ) WITHOUT ROWID;
    """,
    # 2: API keys (only the SHA-256 of each secret is stored)
    """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        subject_id TEXT NOT NULL,
        role INTEGER NOT NULL,
        folders TEXT NOT NULL,
        default_folder TEXT NOT NULL,
        secret_sha256 TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        revoked_us INTEGER,
        description TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: idempotency records for retried creates
    """
    CREATE TABLE idempotency (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_by_age ON idempotency (created_us);
    """,
    # 4: entries that are not plain user/assistant messages (Conversations items,
    # system and developer messages); the thread APIs page over plain ones only
    """
    ALTER TABLE messages ADD COLUMN plain INTEGER NOT NULL DEFAULT 1;
    """,
    # 5: an entry id is unique within its thread, not across the store: an id one
    # tenant chose (a Conversations item's) neither blocks nor reveals another's
    """
    DROP INDEX messages_by_id;
    CREATE UNIQUE INDEX messages_by_thread_id ON messages (thread_id, id);
    """,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; returns the version.  Safe to run concurrently."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"database schema version {version} is newer than this threadgate "
                f"({len(MIGRATIONS)}); upgrade threadgate"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
        return len(MIGRATIONS)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
