"""Store outages seen by real clients: 503 / UNAVAILABLE, readiness and health follow the
store, one traceback per outage, recovery without a restart; and a server whose store
cannot write refuses to start, in one line."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import openai
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.postgres import PgServer, postgres_server
from testkit.server import ROOT, Server, start_server
from tests.e2e.conftest import openai_client
from tests.e2e.rpc_errors import details_of
from tests.outages import filled, immutable, small_disk, write_lock_held

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def eventually(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def ready_status(server: Server) -> int:
    return httpx.get(f"http://127.0.0.1:{server.rest_port}/ready", timeout=10).status_code


def health_status(server: Server) -> int:
    with grpc.insecure_channel(server.grpc_target) as ch:
        reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        return int(reply.status)


def tracebacks(server: Server) -> int:
    return sum("Traceback" in line for line in server.log().splitlines())


@contextmanager
def outage_server(data: Path, *args: str) -> Iterator[Server]:
    """A server whose log may hold the one traceback of an outage (``running_server``
    allows none); it must still stop cleanly."""
    server = start_server(data, *args)
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log()


def assert_rest_unavailable(error: openai.APIStatusError, *, retry: bool) -> None:
    assert error.status_code == 503
    body = error.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "server_error"
    assert body["error"]["code"] == "store_unavailable"
    assert body["error"]["param"] is None
    assert error.response.headers["x-should-retry"] == ("true" if retry else "false")
    if retry:
        assert error.response.headers["retry-after"] == "1"


def test_sqlite_lock_held_past_the_wait_is_503_and_unavailable_then_recovers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with outage_server(data, "--sqlite-lock-timeout", "0.3") as server:
        channel = server.channel()
        stub = ts_grpc.ThreadServiceStub(channel)
        with openai_client(server) as client:
            before = client.beta.threads.create()
            with write_lock_held(data / "threadgate.db"):
                for _ in range(20):  # many failures, one traceback
                    with pytest.raises(openai.InternalServerError) as info:
                        client.beta.threads.create()
                    assert_rest_unavailable(info.value, retry=True)
                with pytest.raises(grpc.RpcError) as rpc:
                    stub.Create(ts.CreateThreadRequest(folder_id="f"))
                assert rpc.value.code() == grpc.StatusCode.UNAVAILABLE
                assert details_of(rpc.value, error_details_pb2.RetryInfo).retry_delay.seconds == 1
                yandex = httpx.post(
                    f"{server.yandex_rest_url}/threads",
                    json={"folderId": "f"},
                    headers={"Authorization": f"Api-Key {server.api_key}"},
                    timeout=30,
                )
                assert (yandex.status_code, yandex.headers["retry-after"]) == (503, "1")
                assert yandex.json()["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
                # reads do not need the lock
                assert client.beta.threads.retrieve(before.id).id == before.id
                assert ready_status(server) == 503
                eventually(lambda: health_status(server) == NOT_SERVING)
            eventually(lambda: ready_status(server) == 200)
            eventually(lambda: health_status(server) == SERVING)
            assert client.beta.threads.create().id
            assert stub.Create(ts.CreateThreadRequest(folder_id="f")).id
        channel.close()
    assert tracebacks(server) <= 1, server.log()
    assert "store unavailable" in server.log()
    assert "store available again" in server.log()


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with postgres_server() as server:
        yield server


def test_frozen_postgres_is_503_and_unavailable_promptly_then_recovers(pg: PgServer, tmp_path: Path) -> None:
    from testkit.server import TEST_FOLDERS, create_key

    key = create_key(tmp_path / "unused", TEST_FOLDERS, database=pg.dsn)
    flags = ("--database", pg.dsn, "--pg-acquire-timeout", "1", "--pg-query-timeout", "1")
    server = start_server(tmp_path / "data", *flags, key_folders=())
    server.api_key = key
    try:
        with openai_client(server) as client, server.channel() as channel:
            stub = ts_grpc.ThreadServiceStub(channel)
            before = client.beta.threads.create()
            with pg.frozen():
                started = time.monotonic()
                with pytest.raises(openai.InternalServerError) as info:
                    client.beta.threads.retrieve(before.id)
                assert_rest_unavailable(info.value, retry=True)
                with pytest.raises(grpc.RpcError) as rpc:
                    stub.Get(ts.GetThreadRequest(thread_id=before.id))
                assert rpc.value.code() == grpc.StatusCode.UNAVAILABLE
                assert ready_status(server) == 503
                eventually(lambda: health_status(server) == NOT_SERVING)
                assert time.monotonic() - started < 30
            eventually(lambda: ready_status(server) == 200)
            eventually(lambda: health_status(server) == SERVING)
            assert client.beta.threads.retrieve(before.id).id == before.id
            assert stub.Get(ts.GetThreadRequest(thread_id=before.id)).id == before.id
    finally:
        assert server.stop() == 0, server.log()
    assert tracebacks(server) <= 1, server.log()


def serve_once(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "serve",
            "--rest-port",
            "0",
            "--grpc-port",
            "0",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def assert_refused_in_one_line(proc: subprocess.CompletedProcess[str]) -> None:
    everything = proc.stdout + proc.stderr
    assert proc.returncode != 0, everything
    assert "Traceback" not in everything, everything
    assert "api key" not in everything, everything
    assert "threadgate listening" not in everything, everything
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("threadgate: "), everything


def test_startup_on_an_immutable_database_fails_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "adapters.cli", "migrate", "--data-dir", str(data)],
        check=True,
        capture_output=True,
        timeout=60,
        cwd=ROOT,
    )
    with immutable(data / "threadgate.db"):
        proc = serve_once(data)
    assert_refused_in_one_line(proc)
    assert "write" in proc.stderr


def test_startup_on_a_full_disk_fails_in_one_line(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk, filled(disk):
        proc = serve_once(disk / "data")
    assert_refused_in_one_line(proc)
