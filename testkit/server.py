"""Run ``threadgate serve`` in a subprocess on free ports, as a user would.

:func:`start_server` starts it and waits for its ``threadgate listening`` line;
:func:`spawn` does the same for any command that prints a ready line (the benchmark's
floor servers).  The subprocess sees this process's environment less every
``THREADGATE_*`` setting, plus the ``env`` given: a server is configured by its caller
only.  Channels are plain ``grpc`` ones: importing our generated stubs here would put
them into test processes that import yandexcloud's (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
from attrs import define, field

from testkit.ports import HOST, free_port

ROOT = Path(__file__).resolve().parents[1]  # the repository: ``python -m adapters.cli`` runs here
READY = "threadgate listening"
# printed once, on the first start of an empty store, by a server that requires API keys
API_KEY_LINE = "threadgate: api key: "

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
    "b1g-rest",
)


class AuthInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
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


@define
class Server:
    process: subprocess.Popen[str]
    rest_port: int
    grpc_port: int
    data_dir: Path | None  # None for a server with no store (a benchmark floor)
    output: list[str] = field(factory=list)
    api_key: str = ""
    name: str = "threadgate"
    # "https" when the server said it serves TLS (its listening line)
    scheme: str = "http"
    _pump: threading.Thread = field(factory=threading.Thread)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{HOST}:{self.rest_port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def grpc_target(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """What the openai SDK sends: the key and the Assistants beta header."""
        return {"Authorization": f"Bearer {self.api_key}", "OpenAI-Beta": "assistants=v2"}

    @property
    def grpc_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.api_key}")]

    @property
    def yandex_rest_url(self) -> str:
        """The Yandex REST face's base URL (rest-assistant's ``/assistants/v1``)."""
        return f"{self.origin}/assistants/v1"

    def yandex_http(self) -> httpx.Client:
        """An httpx client on the Yandex REST face, with the first key as ``Api-Key``."""
        headers = {"Authorization": f"Api-Key {self.api_key}"}
        return httpx.Client(base_url=self.yandex_rest_url, headers=headers, timeout=30)

    def http(self) -> httpx.Client:
        """An httpx client on the REST base URL, authenticated with the first key."""
        return httpx.Client(base_url=self.base_url, headers=self.auth_headers, timeout=30)

    def channel(self) -> grpc.Channel:
        """A gRPC channel that sends the first key with every call."""
        return grpc.intercept_channel(grpc.insecure_channel(self.grpc_target), AuthInterceptor(self.api_key))

    def log(self) -> str:
        return "".join(self.output)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Signal the server (if it still runs) and wait for it: its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not exit within {timeout}s:\n{self.log()}") from None
        finally:
            if self._pump.ident is not None:
                self._pump.join(5)
            if self.process.stdout is not None:
                self.process.stdout.close()


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("THREADGATE_")}
    return {**inherited, **(env or {})}


def spawn(
    cmd: Sequence[str],
    *,
    rest_port: int = 0,
    grpc_port: int = 0,
    data_dir: Path | None = None,
    ready: str = READY,
    name: str = "threadgate",
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
    keep_lines: int | None = None,
) -> Server:
    """Run ``cmd`` until it prints a line starting with ``ready``.  ``keep_lines``: keep only
    about the last this many lines of its output (a server under load logs every request)."""
    process = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_environment(env),
        cwd=cwd,
    )
    server = Server(process, rest_port, grpc_port, data_dir, name=name)
    seen = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        output = server.output
        for line in process.stdout:
            output.append(line)
            if keep_lines is not None and len(output) > 2 * keep_lines:
                del output[:-keep_lines]
            if line.startswith(API_KEY_LINE):
                server.api_key = line.removeprefix(API_KEY_LINE).strip()
            if line.startswith(ready):
                if " https://" in line:
                    server.scheme = "https"
                seen.set()

    server._pump = threading.Thread(target=pump, name=f"{name}-output", daemon=True)
    server._pump.start()
    deadline = time.monotonic() + timeout
    while not seen.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            raise AssertionError(f"{name} did not start:\n{server.log()}")
    return server


def create_key(
    data_dir: Path,
    folders: Sequence[str],
    role: str = "admin",
    database: str = "",
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
) -> str:
    """``threadgate keys create`` as an operator runs it; returns the printed token."""
    flags = [arg for folder in folders for arg in ("--folder", folder)]
    if database:
        flags += ["--database", database]
    cmd = [sys.executable, "-m", "adapters.cli", "keys", "create", *flags, "--role", role]
    out = subprocess.run(
        [*cmd, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env=_environment(env),
        timeout=60,
    ).stdout
    return out.strip().splitlines()[-1].strip()


def start_server(
    data_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
    key_folders: Sequence[str] = TEST_FOLDERS,
    cwd: Path = ROOT,
    prefix: Sequence[str] = (),
    keep_lines: int | None = None,
) -> Server:
    """Start ``threadgate serve``; with ``key_folders``, first make an admin key on them
    (unless the data dir has a store already).  ``prefix`` goes before the command (e.g.
    ``taskset -c 0``)."""
    new = bool(key_folders) and not (data_dir / "threadgate.db").exists()
    token = create_key(data_dir, key_folders, cwd=cwd, env=env) if new else ""
    rest_port, grpc_port = free_port(), free_port()
    cmd = [
        *prefix,
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
    server = spawn(
        cmd,
        rest_port=rest_port,
        grpc_port=grpc_port,
        data_dir=data_dir,
        cwd=cwd,
        env=env,
        timeout=timeout,
        keep_lines=keep_lines,
    )
    server.api_key = server.api_key or token
    return server


def tracebacks(log: str) -> list[str]:
    """The lines of a server's log that report a traceback: a JSON record whose message
    or ``error`` (where a logged exception's stack goes) holds one, or a plain line
    (Python's own report of an unhandled error).  The other fields of a record, a
    request's path among them, are what a client sent: a fuzzer may well send
    "Traceback" there."""
    found = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        said = f"{record.get('msg', '')}\n{record.get('error', '')}" if isinstance(record, dict) else line
        if "Traceback" in said:
            found.append(line)
    return found


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Stop ``server`` on leaving: it must exit 0 and log no traceback."""
    try:
        yield server
    finally:
        code = server.stop()
        if code != 0:
            raise AssertionError(f"{server.name} exited with {code}:\n{server.log()}")
        if tracebacks(server.log()):
            raise AssertionError(server.log())


@contextmanager
def running_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, key_folders: Sequence[str] = TEST_FOLDERS
) -> Iterator[Server]:
    with serving(start_server(data_dir, *args, env=env, key_folders=key_folders)) as server:
        yield server
