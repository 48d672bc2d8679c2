"""Server settings, read from flags and THREADGATE_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from attrs import frozen

from core.model import ExpirationPolicy


@frozen
class Settings:
    host: str = "127.0.0.1"
    rest_port: int = 8080
    grpc_port: int = 50051
    data_dir: Path = Path("data")
    # "sqlite" (file under data_dir), "sqlite:///path", "memory" (nothing survives a
    # restart) or "postgresql://user:password@host:port/db"
    database: str = "sqlite"
    # PostgreSQL connection pool per process, statement timeout and connect timeout
    pg_pool_min: int = 1
    pg_pool_max: int = 10
    pg_statement_timeout_ms: int = 5_000
    pg_connect_timeout: float = 10.0
    # client-side bounds, so a frozen or unreachable server fails a call instead of
    # hanging it: seconds to wait for a pooled connection, and for each statement (a
    # little longer than the statement timeout, which the server enforces itself)
    pg_acquire_timeout: float = 5.0
    pg_query_timeout: float = 6.0
    # seconds a SQLite write waits for another process's write lock
    sqlite_lock_timeout: float = 10.0
    # processes serving both protocols on the same ports
    workers: int = 1
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    default_folder: str = "default"
    default_ttl_days: int = 7
    default_policy: ExpirationPolicy = ExpirationPolicy.SINCE_LAST_ACTIVE
    max_ttl_days: int = 365
    # idle days before a conversation made over the Conversations API expires
    # (0: --max-ttl-days); OpenAI's conversations never expire
    conversation_ttl_days: int = 0
    max_messages_per_thread: int = 100_000
    # Hypercorn closes a keep-alive connection after this many requests
    keep_alive_max_requests: int = 100_000
    # seconds a REST request body has to arrive in, after its head (0: no limit)
    body_timeout: float = 30.0
    # open REST connections per process; more are refused with 503 (lowered at start if
    # the open-file limit cannot hold them and leave room for the rest)
    max_connections: int = 1024
    # seconds in-flight calls get to finish on SIGTERM/SIGINT
    shutdown_grace: float = 10.0
    grpc_max_message_bytes: int = 4 * 1024 * 1024
    # how often expired threads are deleted for good, and how many rows per transaction
    sweep_interval: float = 60.0
    sweep_batch_rows: int = 500
    # a retried create with the same idempotency key returns the first result for this long
    idempotency_window: timedelta = timedelta(hours=24)
    # refuse REST calls without "OpenAI-Beta: assistants=v2", as OpenAI did
    require_openai_beta: bool = True
    # development only: calls without credentials act as an admin on every folder
    allow_anonymous: bool = False

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "threadgate.db"
