"""``threadgate serve --workers N``: N processes serving both protocols on the same ports.

Both ports are shared with SO_REUSEPORT, on purpose, after the supervisor checked
that no other process holds them: every worker listens on sockets of its own and the
kernel spreads new connections over them.  The supervisor keeps a bound (never
listening) socket in the REST port's group for as long as it runs, so a plain bind by
another program fails.  It runs migrations and makes
the first key before any worker starts, forwards SIGTERM/SIGINT so every worker
drains its in-flight calls, and stops them all if one dies.  With TLS it checks the
certificate before anything else, as a single server does, and forwards SIGHUP (reload
the certificate) to every worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from adapters.bootstrap import build_core, open_store
from adapters.serve import first_key, listening_line, reuse_port_socket
from adapters.settings import Settings
from adapters.tls import server_tls

log = logging.getLogger("threadgate.workers")


def _check_port_free(host: str, port: int, what: str) -> None:
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    # SO_REUSEADDR: connections of an earlier run in TIME_WAIT do not hold the port,
    # while a listener (another program) still does
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as exc:
        raise OSError(f"cannot listen for {what} on {host}:{port}: {exc.strerror}") from exc
    finally:
        probe.close()


def _check_grpc_port_free(settings: Settings) -> None:
    if settings.grpc_port == 0:
        raise OSError("--workers needs a fixed --grpc-port (they share it)")
    _check_port_free(settings.host, settings.grpc_port, "gRPC")


def _reserve_rest_port(settings: Settings) -> socket.socket:
    """A bound, never listening socket in the REST port's SO_REUSEPORT group (port 0
    picks one), after checking that no other program holds the port."""
    if settings.rest_port:
        _check_port_free(settings.host, settings.rest_port, "REST")
    try:
        return reuse_port_socket(settings.host, settings.rest_port)
    except OSError as exc:
        raise OSError(
            f"cannot listen for REST on {settings.host}:{settings.rest_port}: {exc.strerror}"
        ) from exc


async def _prepare(settings: Settings) -> None:
    store = await open_store(settings)  # runs migrations once, before any worker
    try:
        await first_key(build_core(store, settings), settings)
    finally:
        await store.close()


def supervise(settings: Settings, argv: Sequence[str]) -> int:
    # every worker loads the certificate itself; a bad one must stop the set here, first
    tls = server_tls(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    reserved = _reserve_rest_port(settings)
    rest_port = reserved.getsockname()[1]
    _check_grpc_port_free(settings)
    asyncio.run(_prepare(settings))
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    workers: list[subprocess.Popen[bytes]] = []
    ready_pipes: list[int] = []

    def reload(signum: int, _frame: object) -> None:
        for p in workers:
            if p.poll() is None:
                p.send_signal(signal.SIGHUP)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    if tls is not None:
        # ignored while the workers start: they inherit that until their own reload
        # handler is in place, so an early SIGHUP cannot kill one (they read the files
        # after it anyway)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for index in range(settings.workers):
        read_end, write_end = os.pipe()
        cmd = [
            sys.executable,
            "-m",
            "adapters.cli",
            *argv,
            "--workers",
            "1",
            "--rest-port",
            str(rest_port),
            "--worker-role",
            f"{index}:{write_end}",
        ]
        workers.append(subprocess.Popen(cmd, pass_fds=(write_end,)))
        os.close(write_end)
        ready_pipes.append(read_end)
    if tls is not None:
        signal.signal(signal.SIGHUP, reload)

    deadline = time.monotonic() + 60
    waiting = set(ready_pipes)
    while waiting and not stopping:
        if any(p.poll() is not None for p in workers) or time.monotonic() > deadline:
            log.error("a worker failed to start; stopping the others")
            forward(signal.SIGTERM, None)
            break
        readable, _, _ = select.select(list(waiting), [], [], 0.2)
        for fd in readable:
            if os.read(fd, 64).startswith(b"ready"):
                waiting.discard(fd)
    for fd in ready_pipes:
        os.close(fd)
    if not waiting and not stopping:
        line = listening_line(settings, rest_port, settings.grpc_port, tls)
        print(f"{line} workers {settings.workers}", flush=True)

    codes: list[int] = []
    while True:
        running = [p for p in workers if p.poll() is None]
        if not running:
            break
        if not stopping and len(running) < len(workers):
            log.error("a worker exited unexpectedly; stopping the others")
            forward(signal.SIGTERM, None)
        time.sleep(0.1)
    codes = [p.returncode for p in workers]
    reserved.close()
    print("threadgate stopped", flush=True)
    return 0 if stopping and all(c == 0 for c in codes) else 1
