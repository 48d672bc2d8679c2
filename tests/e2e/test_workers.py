"""threadgate serve --workers N: several processes on the same ports, one store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc

from testkit.ports import free_port
from testkit.server import Server, running_server, start_server
from tests.e2e.concurrency import assert_one_order, write_concurrently


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _request_pids(server: Server) -> set[int]:
    pids = set()
    for line in server.log().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") == "request":
                pids.add(record["pid"])
    return pids


def test_two_workers_share_both_ports_and_one_order(tmp_path: Path) -> None:
    with running_server(tmp_path / "d", "--workers", "2") as server:
        workers = _children(server.process.pid)
        assert len(workers) == 2
        # new connections spread over both workers
        for _ in range(40):
            with server.http() as http:
                assert http.post("/threads").status_code == 200
        with server.http() as http:
            thread_id = http.post("/threads").json()["id"]

        written = write_concurrently([server], thread_id, writers=8, each=25)
        with server.channel() as ch:
            streamed = [
                m.id for m in ms_grpc.MessageServiceStub(ch).List(ms.ListMessagesRequest(thread_id=thread_id))
            ]
        assert_one_order(list(reversed(streamed)), written)
        deadline = time.monotonic() + 5
        while len(_request_pids(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert set(workers) <= _request_pids(server)
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_dead_worker_stops_the_set(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d", "--workers", "2")
    try:
        workers = _children(server.process.pid)
        os.kill(workers[0], signal.SIGKILL)
        assert server.process.wait(30) != 0
        time.sleep(0.5)
        assert not Path(f"/proc/{workers[1]}").exists() or "Z" in Path(f"/proc/{workers[1]}/stat").read_text()
    finally:
        server.stop(signal.SIGKILL)


def test_workers_need_a_fixed_grpc_port(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "serve",
            "--workers",
            "2",
            "--grpc-port",
            "0",
            "--rest-port",
            "0",
            "--data-dir",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "fixed --grpc-port" in proc.stderr


def _serve(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "serve", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_workers_and_another_server_never_share_the_rest_port(tmp_path: Path) -> None:
    """The workers share their ports with SO_REUSEPORT on purpose; nobody else may join."""
    with running_server(tmp_path / "a", "--workers", "2") as workers:
        plain = _serve("--rest-port", str(workers.rest_port), "--grpc-port", "0", data_dir=tmp_path / "b")
        assert plain.returncode == 1 and "cannot listen for REST" in plain.stderr
        assert "threadgate listening" not in plain.stdout
    with running_server(tmp_path / "c") as single:
        more = _serve(
            "--workers",
            "2",
            "--rest-port",
            str(single.rest_port),
            "--grpc-port",
            str(free_port()),
            data_dir=tmp_path / "d",
        )
        assert more.returncode == 1 and "cannot listen for REST" in more.stderr
        assert "threadgate listening" not in more.stdout
