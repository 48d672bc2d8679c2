"""Run ``threadgate serve`` in a subprocess on free ports, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attrs import define, field


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@define
class Server:
    process: subprocess.Popen[str]
    rest_port: int
    grpc_port: int
    data_dir: Path
    output: list[str] = field(factory=list)
    _pump: threading.Thread = field(factory=threading.Thread)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}/v1"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return "".join(self.output)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server did not exit within {timeout}s:\n{self.log()}") from None
        finally:
            self._pump.join(5)
            if self.process.stdout is not None:
                self.process.stdout.close()


def start_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> Server:
    rest_port, grpc_port = free_port(), free_port()
    cmd = [
        sys.executable,
        "-m",
        "adapters.cli",
        "serve",
        "--rest-port",
        str(rest_port),
        "--grpc-port",
        str(grpc_port),
        "--data-dir",
        str(data_dir),
        *args,
    ]
    process = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[2],
    )
    server = Server(process, rest_port, grpc_port, data_dir)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.output.append(line)
            if line.startswith("threadgate listening"):
                ready.set()

    server._pump = threading.Thread(target=pump, daemon=True)
    server._pump.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            raise AssertionError(f"server did not start:\n{server.log()}")
    return server


@contextmanager
def running_server(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = start_server(data_dir, *args, env=env)
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"server exited with {code}:\n{server.log()}"
        assert "Traceback" not in server.log(), server.log()
