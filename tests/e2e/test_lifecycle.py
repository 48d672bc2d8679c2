"""Process-level behaviour: durability across kill -9, clean shutdown, port clashes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import Server, running_server, start_server
from tests.e2e.conftest import openai_client


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    acknowledged: list[str] = []
    try:
        with openai_client(server) as client:
            for i in range(40):
                acknowledged.append(client.beta.threads.create(metadata={"i": str(i)}).id)
        with server.channel() as ch:
            stub = ts_grpc.ThreadServiceStub(ch)
            for i in range(40):
                acknowledged.append(stub.Create(ts.CreateThreadRequest(folder_id="f", name=str(i))).id)
    finally:
        server.stop(signal.SIGKILL)
    assert server.process.returncode == -signal.SIGKILL
    with running_server(data) as again:
        again.api_key = server.api_key  # the store, and so the key, survived
        ch = again.channel()
        stub = ts_grpc.ThreadServiceStub(ch)
        for thread_id in acknowledged:
            assert stub.Get(ts.GetThreadRequest(thread_id=thread_id)).id == thread_id
        ch.close()


def test_writes_during_kill_9_are_all_or_nothing(tmp_path: Path) -> None:
    """Kill the server while clients are writing: every acknowledged thread is there afterwards."""
    data = tmp_path / "data"
    server = start_server(data)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=server.base_url, headers=server.auth_headers, timeout=5) as http:
            while not stop.is_set():
                try:
                    r = http.post("/threads", json={"metadata": {"w": "1"}})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acknowledged.append(r.json()["id"])

    workers = [threading.Thread(target=writer) for _ in range(4)]
    for w in workers:
        w.start()
    while len(acknowledged) < 100:
        threading.Event().wait(0.01)
    server.stop(signal.SIGKILL)
    stop.set()
    for w in workers:
        w.join(10)
    with (
        running_server(data) as again,
        httpx.Client(base_url=again.base_url, headers=server.auth_headers) as http,
    ):
        for thread_id in acknowledged:
            r = http.get(f"/threads/{thread_id}")
            assert r.status_code == 200, (thread_id, r.text)


def test_sigterm_and_sigint_exit_zero(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        server = start_server(tmp_path / f"data-{sig}")
        with openai_client(server) as client:
            client.beta.threads.create()
        assert server.stop(sig) == 0
        assert "threadgate stopped" in server.log()
        assert "Traceback" not in server.log()


def test_a_second_server_on_the_same_grpc_port_fails_loudly(server: Server, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "serve",
            "--rest-port",
            "0",
            "--grpc-port",
            str(server.grpc_port),
            "--data-dir",
            str(tmp_path / "other"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "threadgate listening" not in proc.stdout
    # a start that fails writes nothing: no key printed (and lost with the logs), no database
    assert "api key" not in proc.stdout + proc.stderr
    assert not (tmp_path / "other" / "threadgate.db").exists()
    assert "Traceback" not in proc.stderr
    # so the next start on the same data folder makes and shows the first key
    with running_server(tmp_path / "other", key_folders=()) as s:
        assert s.api_key.startswith("tgk_")


def test_a_second_server_on_the_same_rest_port_fails_loudly(server: Server, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "serve",
            "--rest-port",
            str(server.rest_port),
            "--grpc-port",
            "0",
            "--data-dir",
            str(tmp_path / "other"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
