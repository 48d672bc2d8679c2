"""The processes under test, started with ``testkit.server`` (the tests' launcher) from the
measured tree on 127.0.0.1 and free ports, pinned with ``taskset`` from their first
instruction: ``threadgate serve``, the floors (``bench.floors``), a throw-away PostgreSQL.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import source
from bench.cpus import ALL_CPUS, on_all_cpus
from testkit.ports import HOST, free_port
from testkit.postgres import postgres_server
from testkit.server import Server, spawn, start_server

FLOOR_READY = "floor listening"
KEEP_LINES = 400  # of a server's output: under load it logs every request


def pinned(cpu: int | None) -> list[str]:
    return ["taskset", "-c", ",".join(str(c) for c in ((cpu,) if cpu is not None else ALL_CPUS))]


def start_threadgate(data_dir: Path, cpu: int | None, *args: str, api_key: str = "") -> Server:
    """``threadgate serve`` on ``data_dir`` with ``args``; ``api_key``: the key an earlier start
    on the same store printed (only the first start on an empty store prints one)."""
    start = functools.partial(start_server, key_folders=(), cwd=source.tree(), env=source.child_env())
    server = start(data_dir, "--host", HOST, *args, prefix=pinned(cpu), timeout=60, keep_lines=KEEP_LINES)
    server.api_key = server.api_key or api_key
    if not server.api_key:
        server.stop()
        raise RuntimeError("threadgate printed no API key on its first start: authentication is off")
    return server


def start_floor(kind: str, cpu: int | None) -> Server:
    """A floor of ``kind`` ("rest", "grpc" or "grpc-sync")."""
    port = free_port()
    cmd = [*pinned(cpu), sys.executable, "-m", "bench.floors", kind, "--port", str(port)]
    rest, grpc = (port, 0) if kind == "rest" else (0, port)
    env, name = source.child_env(), f"{kind} floor"
    return spawn(
        cmd, rest_port=rest, grpc_port=grpc, ready=FLOOR_READY, name=name, cwd=source.tree(), env=env
    )


@contextmanager
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL (``testkit.postgres``, fsync=off) on every CPU: its DSN."""
    with contextlib.ExitStack() as stack:
        with on_all_cpus():  # its processes inherit this affinity
            server = stack.enter_context(postgres_server())
        yield server.dsn


def answer(r: httpx.Response) -> Any:
    """The JSON body of a 200 response; any other fails, with what the server said."""
    if r.status_code != 200:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


def client(server: Server) -> httpx.AsyncClient:
    """An httpx client on ``server``'s REST port that sends its key, as the OpenAI SDK does."""
    return httpx.AsyncClient(base_url=server.origin, headers=server.auth_headers, timeout=10)
