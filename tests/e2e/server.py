"""Run ``threadgate serve`` in a subprocess on free ports, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
from attrs import define, field


class AuthInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Adds ``authorization: Bearer <key>`` to calls that carry none."""

    def __init__(self, key: str) -> None:
        self._key = key

    def _with_auth(self, details: Any) -> Any:
        metadata = list(details.metadata or [])
        if not any(k == "authorization" for k, _ in metadata):
            metadata.append(("authorization", f"Bearer {self._key}"))
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_auth(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_auth(details), request)


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
    api_key: str = ""
    _pump: threading.Thread = field(factory=threading.Thread)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}/v1"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """What the openai SDK sends: the key and the Assistants beta header."""
        return {"Authorization": f"Bearer {self.api_key}", "OpenAI-Beta": "assistants=v2"}

    @property
    def grpc_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.api_key}")]

    def http(self) -> httpx.Client:
        """An httpx client on the REST base URL, authenticated with the first key."""
        return httpx.Client(base_url=self.base_url, headers=self.auth_headers, timeout=30)

    def channel(self) -> grpc.Channel:
        """A gRPC channel that sends the first key with every call."""
        return grpc.intercept_channel(grpc.insecure_channel(self.grpc_target), AuthInterceptor(self.api_key))

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


# Folders the tests' key may use (the first key made by `serve` covers only "default").
TEST_FOLDERS = (
    "default",
    "f",
    "b1gfolder",
    "folder-list-test",
    "another-folder",
    "props",
    "b1g-sdk-folder",
    "b1g-messages",
    "b1g-cross",
    "b1g-bad-initial",
    "b1g-sdk-messages",
)
ROOT = Path(__file__).resolve().parents[2]


def create_key(data_dir: Path, folders: Sequence[str], role: str = "admin", database: str = "") -> str:
    """``threadgate keys create`` as an operator runs it; returns the printed token."""
    flags = [arg for folder in folders for arg in ("--folder", folder)]
    if database:
        flags += ["--database", database]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "keys",
            "create",
            *flags,
            "--role",
            role,
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    return out.strip().splitlines()[-1]


def start_server(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    key_folders: Sequence[str] = TEST_FOLDERS,
) -> Server:
    """Start ``threadgate serve``; with ``key_folders``, first make an admin key on them."""
    token = (
        create_key(data_dir, key_folders) if key_folders and not (data_dir / "threadgate.db").exists() else ""
    )
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
        cwd=ROOT,
    )
    server = Server(process, rest_port, grpc_port, data_dir, api_key=token)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.output.append(line)
            if line.startswith("threadgate: api key: "):
                server.api_key = line.removeprefix("threadgate: api key: ").strip()
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
def running_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, key_folders: Sequence[str] = TEST_FOLDERS
) -> Iterator[Server]:
    server = start_server(data_dir, *args, env=env, key_folders=key_folders)
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"server exited with {code}:\n{server.log()}"
        assert "Traceback" not in server.log(), server.log()
