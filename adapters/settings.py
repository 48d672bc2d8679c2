"""Server settings, read from flags and THREADGATE_* environment variables."""

from __future__ import annotations

import argparse
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
    # TLS on both listeners (both files, or neither), and the CA client certificates
    # must chain to (mTLS); see adapters/tls.py
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # seconds between checks of the TLS files for a change (0: reload on SIGHUP only)
    tls_watch_interval: float = 10.0

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "threadgate.db"


# the settings of the store, which `keys` and `migrate` take as well as `serve`
STORE_SETTINGS = (
    "data_dir",
    "database",
    "pg_pool_min",
    "pg_pool_max",
    "pg_statement_timeout_ms",
    "pg_connect_timeout",
    "pg_acquire_timeout",
    "pg_query_timeout",
    "sqlite_lock_timeout",
)


def store_settings(args: argparse.Namespace) -> dict[str, object]:
    return {name: getattr(args, name) for name in STORE_SETTINGS}


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings of ``threadgate serve``'s parsed arguments."""
    if not 0 <= args.conversation_ttl_days <= args.max_ttl_days:
        raise SystemExit(
            f"threadgate: --conversation-ttl-days must be 0 (the maximum) to --max-ttl-days "
            f"({args.max_ttl_days}), not {args.conversation_ttl_days}"
        )
    return Settings(
        host=args.host,
        rest_port=args.rest_port,
        grpc_port=args.grpc_port,
        **store_settings(args),  # type: ignore[arg-type]
        workers=args.workers,
        sqlite_synchronous=args.sqlite_synchronous,
        default_folder=args.default_folder,
        default_ttl_days=args.default_ttl_days,
        max_ttl_days=args.max_ttl_days,
        conversation_ttl_days=args.conversation_ttl_days,
        max_messages_per_thread=args.max_messages_per_thread,
        keep_alive_max_requests=args.keep_alive_max_requests,
        body_timeout=args.body_timeout,
        max_connections=args.max_connections,
        shutdown_grace=args.shutdown_grace,
        allow_anonymous=args.allow_anonymous,
        require_openai_beta=args.require_openai_beta,
        idempotency_window=timedelta(seconds=args.idempotency_window),
        sweep_interval=args.sweep_interval,
        sweep_batch_rows=args.sweep_batch_rows,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        tls_watch_interval=args.tls_watch_interval,
    )
