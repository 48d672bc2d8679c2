"""threadgate serve --workers N: several processes on the same ports, one store."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import time
from pathlib import Path

from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc

from tests.e2e.server import Server, running_server, start_server


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

        def write(worker: int) -> list[str]:
            ids = []
            with server.http() as http:
                for i in range(25):
                    r = http.post(
                        f"/threads/{thread_id}/messages", json={"role": "user", "content": f"{worker}-{i}"}
                    )
                    assert r.status_code == 200, r.text
                    ids.append(r.json()["id"])
            return ids

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            written = list(pool.map(write, range(8)))
        with server.channel() as ch:
            streamed = [
                m.id for m in ms_grpc.MessageServiceStub(ch).List(ms.ListMessagesRequest(thread_id=thread_id))
            ]
        asc = list(reversed(streamed))
        assert sorted(asc) == sorted(i for ids in written for i in ids)  # all landed, none twice
        for ids in written:  # each writer's messages in its own order
            positions = [asc.index(i) for i in ids]
            assert positions == sorted(positions)
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
    import subprocess
    import sys

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
