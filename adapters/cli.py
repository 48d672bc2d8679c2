"""Command line: ``threadgate serve``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.config_file import ConfigFile, ConfigFileError, env_name, settings_of
from adapters.migrate_cli import add_parsers
from adapters.parity.command import add_parser as add_parity_parser
from adapters.settings import STORE_SETTINGS, Settings, settings_from, store_settings

if TYPE_CHECKING:
    from adapters.serve import WorkerRole

_D = Settings()


def _env(name: str, default: object, kind: Callable[[str], Any] = str) -> Any:
    """``THREADGATE_<name>`` if set, else ``default``, as ``kind`` (str, int or float); a
    value that is not one stops the command with one line naming the variable."""
    value = os.environ.get(f"THREADGATE_{name}", str(default))
    try:
        return kind(value)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise SystemExit(f"threadgate: THREADGATE_{name} must be {what}, not {value!r}") from None


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        default=_env("CONFIG", "") or None,
        help="a TOML file of settings, keyed by flag name with _ for -; a flag, then its "
        "THREADGATE_* variable, win over it (THREADGATE_CONFIG)",
    )


def add_tls(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--tls-cert",
        type=Path,
        default=_env("TLS_CERT", "") or None,
        help="PEM certificate (chain) both listeners serve TLS with (THREADGATE_TLS_CERT)",
    )
    s.add_argument(
        "--tls-key",
        type=Path,
        default=_env("TLS_KEY", "") or None,
        help="its PEM private key, unencrypted (THREADGATE_TLS_KEY)",
    )
    s.add_argument(
        "--tls-client-ca",
        type=Path,
        default=_env("TLS_CLIENT_CA", "") or None,
        help="require client certificates issued by this PEM CA on both listeners: mTLS "
        "(THREADGATE_TLS_CLIENT_CA)",
    )
    s.add_argument(
        "--tls-watch-interval",
        type=float,
        default=_env("TLS_WATCH_INTERVAL", _D.tls_watch_interval, float),
        help="seconds between checks of the TLS files for a change, which reloads them as "
        "SIGHUP does; 0: SIGHUP only (THREADGATE_TLS_WATCH_INTERVAL)",
    )


def parser(config_file: ConfigFile | None = None) -> argparse.ArgumentParser:
    """The command line; with ``config_file``, its values under the environment's."""
    p = argparse.ArgumentParser(prog="threadgate", description="One thread store, two vendors' Threads APIs.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve REST (OpenAI shape) and gRPC (Yandex shape)")
    add_config(s)
    s.add_argument("--host", default=_env("HOST", _D.host), help="address to listen on (THREADGATE_HOST)")
    s.add_argument(
        "--rest-port", type=int, default=_env("REST_PORT", _D.rest_port, int), help="(THREADGATE_REST_PORT)"
    )
    s.add_argument(
        "--grpc-port", type=int, default=_env("GRPC_PORT", _D.grpc_port, int), help="(THREADGATE_GRPC_PORT)"
    )
    s.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("DATA_DIR", _D.data_dir)),
        help="where the SQLite file lives (THREADGATE_DATA_DIR)",
    )
    add_database(s)
    s.add_argument(
        "--workers",
        type=int,
        default=_env("WORKERS", _D.workers, int),
        help="processes serving both protocols on the same ports (THREADGATE_WORKERS)",
    )
    s.add_argument("--worker-role", default=None, help=argparse.SUPPRESS)
    s.add_argument(
        "--sqlite-synchronous",
        default=_env("SQLITE_SYNCHRONOUS", _D.sqlite_synchronous),
        choices=["FULL", "NORMAL", "EXTRA"],
        help="(THREADGATE_SQLITE_SYNCHRONOUS)",
    )
    s.add_argument(
        "--default-folder",
        default=_env("DEFAULT_FOLDER", _D.default_folder),
        help="folder of REST-created threads (THREADGATE_DEFAULT_FOLDER)",
    )
    s.add_argument(
        "--default-ttl-days",
        type=int,
        default=_env("DEFAULT_TTL_DAYS", _D.default_ttl_days, int),
        help="(THREADGATE_DEFAULT_TTL_DAYS)",
    )
    s.add_argument(
        "--max-ttl-days",
        type=int,
        default=_env("MAX_TTL_DAYS", _D.max_ttl_days, int),
        help="(THREADGATE_MAX_TTL_DAYS)",
    )
    s.add_argument(
        "--conversation-ttl-days",
        type=int,
        default=_env("CONVERSATION_TTL_DAYS", _D.conversation_ttl_days, int),
        help="idle days before a Conversations-made conversation expires; 0: --max-ttl-days "
        "(THREADGATE_CONVERSATION_TTL_DAYS)",
    )
    s.add_argument(
        "--max-messages-per-thread",
        type=int,
        default=_env("MAX_MESSAGES_PER_THREAD", _D.max_messages_per_thread, int),
        help="(THREADGATE_MAX_MESSAGES_PER_THREAD)",
    )
    s.add_argument(
        "--keep-alive-max-requests",
        type=int,
        default=_env("KEEP_ALIVE_MAX_REQUESTS", _D.keep_alive_max_requests, int),
        help="(THREADGATE_KEEP_ALIVE_MAX_REQUESTS)",
    )
    s.add_argument(
        "--body-timeout",
        type=float,
        default=_env("BODY_TIMEOUT", _D.body_timeout, float),
        help="seconds a REST request body has to arrive in; 0: no limit (THREADGATE_BODY_TIMEOUT)",
    )
    s.add_argument(
        "--max-connections",
        type=int,
        default=_env("MAX_CONNECTIONS", _D.max_connections, int),
        help="open REST connections per process; more are refused with 503 (THREADGATE_MAX_CONNECTIONS)",
    )
    s.add_argument(
        "--sweep-interval",
        type=float,
        default=_env("SWEEP_INTERVAL", _D.sweep_interval, float),
        help="seconds between sweeps of expired threads; 0 turns the sweeper off (THREADGATE_SWEEP_INTERVAL)",
    )
    s.add_argument(
        "--sweep-batch-rows",
        type=int,
        default=_env("SWEEP_BATCH_ROWS", _D.sweep_batch_rows, int),
        help="rows one sweep transaction may delete (THREADGATE_SWEEP_BATCH_ROWS)",
    )
    s.add_argument(
        "--idempotency-window",
        type=float,
        default=_env("IDEMPOTENCY_WINDOW", _D.idempotency_window.total_seconds(), float),
        help="seconds a retried create with the same idempotency key returns the first result "
        "(THREADGATE_IDEMPOTENCY_WINDOW)",
    )
    s.add_argument(
        "--no-require-openai-beta",
        dest="require_openai_beta",
        action="store_false",
        default=_env("REQUIRE_OPENAI_BETA", "1") not in ("0", "false", "no"),
        help="accept REST calls without 'OpenAI-Beta: assistants=v2' (hand-written clients); "
        "THREADGATE_REQUIRE_OPENAI_BETA=0",
    )
    s.add_argument(
        "--allow-anonymous",
        action="store_true",
        default=_env("ALLOW_ANONYMOUS", "") in ("1", "true", "yes"),
        help="DEVELOPMENT ONLY: calls without an API key act as an admin on every folder "
        "(THREADGATE_ALLOW_ANONYMOUS=1)",
    )
    s.add_argument(
        "--shutdown-grace",
        type=float,
        default=_env("SHUTDOWN_GRACE", _D.shutdown_grace, float),
        help="seconds to drain on SIGTERM (THREADGATE_SHUTDOWN_GRACE)",
    )
    add_tls(s)
    k = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    kc = k.add_parser("create", help="make a key; prints the secret token alone on the last line")
    kc.add_argument("--folder", action="append", required=True, help="a folder the key may use (repeat)")
    kc.add_argument("--role", choices=["viewer", "editor", "admin"], default="editor")
    kc.add_argument(
        "--default-folder", default="", help="the key's default folder (default: the first --folder)"
    )
    kc.add_argument("--subject", default="", help="subject id written to created_by (default: a new one)")
    kc.add_argument("--description", default="")
    kl = k.add_parser("list", help="list keys (never shows secrets)")
    kr = k.add_parser("revoke", help="revoke a key at once, for every server on this store")
    kr.add_argument("key_id")
    m = sub.add_parser("migrate", help="create or upgrade the store's schema, then exit")
    store_commands = [kc, kl, kr, m, *add_parsers(sub)]
    add_parity_parser(sub)  # a client of a running server: no store flags
    for sp in store_commands:
        add_config(sp)
        sp.add_argument("--data-dir", type=Path, default=Path(_env("DATA_DIR", _D.data_dir)))
        add_database(sp)
    for key, action in settings_of(s).items():  # argparse checks choices of flags only
        if action.choices is not None and action.default not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            raise SystemExit(f"threadgate: {env_name(key)} must be one of {choices}, not {action.default!r}")
    if config_file is not None:
        config_file.check(s)  # every key a setting of serve, every value of its type
        config_file.lay_under(s, os.environ)
        for sp in store_commands:
            config_file.lay_under(sp, os.environ, only=STORE_SETTINGS)
    return p


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments, with ``--config``'s file (if any) laid under flags and environment."""
    args = parser().parse_args(argv)
    if getattr(args, "config", None) is None:  # parity takes no config file
        return args
    try:
        return parser(ConfigFile.read(args.config)).parse_args(argv)
    except ConfigFileError as exc:
        raise SystemExit(f"threadgate: {exc}") from None


def add_database(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database",
        default=_env("DATABASE", _D.database),
        help="sqlite (file in --data-dir, the default), sqlite:///path, memory, or "
        "postgresql://user:password@host:port/db (THREADGATE_DATABASE)",
    )
    p.add_argument("--pg-pool-min", type=int, default=_env("PG_POOL_MIN", _D.pg_pool_min, int))
    p.add_argument(
        "--pg-pool-max",
        type=int,
        default=_env("PG_POOL_MAX", _D.pg_pool_max, int),
        help="PostgreSQL connections per process (THREADGATE_PG_POOL_MAX)",
    )
    p.add_argument(
        "--pg-statement-timeout-ms",
        type=int,
        default=_env("PG_STATEMENT_TIMEOUT_MS", _D.pg_statement_timeout_ms, int),
        help="(THREADGATE_PG_STATEMENT_TIMEOUT_MS)",
    )
    p.add_argument(
        "--pg-connect-timeout",
        type=float,
        default=_env("PG_CONNECT_TIMEOUT", _D.pg_connect_timeout, float),
        help="seconds (THREADGATE_PG_CONNECT_TIMEOUT)",
    )
    p.add_argument(
        "--pg-acquire-timeout",
        type=float,
        default=_env("PG_ACQUIRE_TIMEOUT", _D.pg_acquire_timeout, float),
        help="seconds a call waits for a pooled connection (THREADGATE_PG_ACQUIRE_TIMEOUT)",
    )
    p.add_argument(
        "--pg-query-timeout",
        type=float,
        default=_env("PG_QUERY_TIMEOUT", _D.pg_query_timeout, float),
        help="seconds a statement may wait for the server's answer (THREADGATE_PG_QUERY_TIMEOUT)",
    )
    p.add_argument(
        "--sqlite-lock-timeout",
        type=float,
        default=_env("SQLITE_LOCK_TIMEOUT", _D.sqlite_lock_timeout, float),
        help="seconds a write waits for another process's lock on the SQLite file "
        "(THREADGATE_SQLITE_LOCK_TIMEOUT)",
    )


def main_serve(settings: Settings, argv: Sequence[str] = (), worker: WorkerRole | None = None) -> int:
    """Serve in this process, or supervise ``--workers N`` serving processes."""
    from adapters.bootstrap import StoreError
    from adapters.observability import write_request_lines_to
    from adapters.serve import run, setup_logging
    from adapters.tls import TlsError

    setup_logging()
    try:
        if settings.workers > 1 and worker is None:
            from adapters.workers import supervise

            return supervise(settings, argv)
        asyncio.run(run(settings, worker))
    except (OSError, StoreError, TlsError) as exc:
        print(f"threadgate: {exc}", file=sys.stderr)
        return 1
    finally:
        write_request_lines_to(None)  # the last request lines, if a turn ended before their flush
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.command == "serve":
        from adapters.serve import WorkerRole

        worker = None
        if args.worker_role:
            index, ready_fd = (int(x) for x in args.worker_role.split(":"))
            worker = WorkerRole(index=index, ready_fd=ready_fd)
        raw = list(argv) if argv is not None else sys.argv[1:]
        return main_serve(settings_from(args), raw, worker)
    if args.command in ("export", "import"):
        from adapters.migrate_cli import main_transfer

        return main_transfer(args, Settings(**store_settings(args)))  # type: ignore[arg-type]
    if args.command == "parity":
        from adapters.parity.command import main_parity

        return main_parity(args)
    if args.command == "migrate":
        from adapters.keys_cli import main_migrate

        return main_migrate(Settings(**store_settings(args)))  # type: ignore[arg-type]
    from adapters.keys_cli import main_keys

    return main_keys(args, Settings(**store_settings(args)))  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
