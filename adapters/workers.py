"""``threadgate serve --workers N``: N processes serving both protocols on the same ports.

The supervisor binds the REST socket once and hands it to every worker (they all
accept on it); the gRPC port is shared with SO_REUSEPORT, on purpose, after the
supervisor checked that no other process holds it.  It runs migrations and makes
the first key before any worker starts, forwards SIGTERM/SIGINT so every worker
drains its in-flight calls, and stops them all if one dies.
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
from adapters.serve import bind_rest, describe_store, first_key, hypercorn_config
from adapters.settings import Settings

log = logging.getLogger("threadgate.workers")


def _check_grpc_port_free(settings: Settings) -> None:
    if settings.grpc_port == 0:
        raise OSError("--workers needs a fixed --grpc-port (they share it)")
    probe = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    try:
        probe.bind((settings.host, settings.grpc_port))
    except OSError as exc:
        raise OSError(
            f"cannot listen for gRPC on {settings.host}:{settings.grpc_port}: {exc.strerror}"
        ) from exc
    finally:
        probe.close()


async def _prepare(settings: Settings) -> None:
    store = await open_store(settings)  # runs migrations once, before any worker
    try:
        await first_key(build_core(store, settings), settings)
    finally:
        await store.close()


def supervise(settings: Settings, argv: Sequence[str]) -> int:
    sockets = bind_rest(hypercorn_config(settings))
    _check_grpc_port_free(settings)
    asyncio.run(_prepare(settings))
    rest = sockets.insecure_sockets[0]
    rest.set_inheritable(True)
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    workers: list[subprocess.Popen[bytes]] = []
    ready_pipes: list[int] = []
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for index in range(settings.workers):
        read_end, write_end = os.pipe()
        cmd = [
            sys.executable,
            "-m",
            "adapters.cli",
            *argv,
            "--workers",
            "1",
            "--worker-role",
            f"{index}:{rest.fileno()}:{write_end}",
        ]
        workers.append(subprocess.Popen(cmd, pass_fds=(rest.fileno(), write_end)))
        os.close(write_end)
        ready_pipes.append(read_end)
    rest.close()

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
        print(
            f"threadgate listening: REST http://{settings.host}:{settings.rest_port}/v1 "
            f"gRPC {settings.host}:{settings.grpc_port} store {describe_store(settings)} "
            f"workers {settings.workers}",
            flush=True,
        )

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
    print("threadgate stopped", flush=True)
    return 0 if stopping and all(c == 0 for c in codes) else 1
