"""Start and stop the processes under test: ``threadgate serve`` and the floor servers.

Every server runs in its own subprocess on 127.0.0.1 and free ports, pinned to one
CPU when the machine has more than one, so the benchmark process (the load
generator) never competes with it for that core.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from attrs import define, field, frozen

from bench import source

HOST = "127.0.0.1"
THREADGATE_READY = "threadgate listening"
# printed once, on the first start of an empty store, by servers that require API keys
API_KEY_LINE = "threadgate: api key: "
FLOOR_READY = "floor listening"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@frozen
class Placement:
    """Which CPU the server gets and which CPUs the load generator keeps."""

    server_cpu: int | None
    client_cpus: tuple[int, ...]

    @property
    def pinned(self) -> bool:
        return self.server_cpu is not None

    def describe(self) -> str:
        if self.server_cpu is None:
            return "not pinned (only one CPU available): server and load generator share it"
        return f"server pinned to CPU {self.server_cpu}; load generator on CPU(s) {list(self.client_cpus)}"


# every CPU this process may use, read at import, before ``pin_self`` narrows it
ALL_CPUS: frozenset[int] = (
    frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
)


@contextmanager
def on_all_cpus() -> Iterator[None]:
    """Processes started inside may run on every CPU, not just the load generator's
    (a child inherits its parent's affinity, and this process pinned itself)."""
    if not ALL_CPUS:
        yield
        return
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CPUS)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def plan_placement() -> Placement:
    """Give the servers the first allowed CPU and the load generator the others."""
    if not hasattr(os, "sched_getaffinity"):
        return Placement(None, ())
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return Placement(None, tuple(allowed))
    return Placement(allowed[0], tuple(allowed[1:]))


def pin_self(placement: Placement) -> None:
    """Keep the load generator off the server's core."""
    if placement.pinned:
        os.sched_setaffinity(0, placement.client_cpus)


def _pin_process(pid: int, cpu: int) -> None:
    """Pin every thread the process has now; threads it starts later inherit the mask."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(OSError):  # the thread may have ended meanwhile
            os.sched_setaffinity(tid, {cpu})


def system_cpu_seconds() -> tuple[float, float]:
    """CPU time every core has spent busy, and time stolen by the hypervisor, since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guests are inside user)
    busy = sum(fields[:8]) - fields[3] - fields[4] - fields[7]
    tick = os.sysconf("SC_CLK_TCK")
    return busy / tick, fields[7] / tick


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the workers of ``--workers N``)."""
    found = [pid]
    for p in found:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    found += [int(c) for c in f.read().split()]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2 :].split()
    # after "pid (comm) ", field 3 is state; utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@define
class ServerProcess:
    name: str
    process: subprocess.Popen[str]
    ports: dict[str, int]
    cpu: int | None
    api_key: str | None = None
    _log: deque[str] = field(factory=lambda: deque(maxlen=400))
    _pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str = "") -> str:
        return f"http://{HOST}:{self.ports['rest']}{path}"

    @property
    def grpc_target(self) -> str:
        return f"{HOST}:{self.ports['grpc']}"

    def log(self) -> str:
        return "".join(self._log)

    def headers(self) -> dict[str, str]:
        """What the official OpenAI client sends with every Threads call."""
        headers = {"OpenAI-Beta": "assistants=v2"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"{self.name} did not stop within {timeout}s:\n{self.log()}") from None
        finally:
            if self._pump is not None:
                self._pump.join(5)
            if self.process.stdout is not None:
                self.process.stdout.close()
        if code != 0:
            raise RuntimeError(f"{self.name} exited with {code}:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the server and every process it started (no chance to clean up), and reap it."""
        for pid in reversed(process_tree(self.pid)):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(20)
        if self._pump is not None:
            self._pump.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start(
    name: str, cmd: Sequence[str], ports: dict[str, int], ready: str, cpu: int | None, timeout: float = 30
) -> ServerProcess:
    # run in the measured tree: ``python -m`` puts the working directory first on sys.path;
    # an unpinned server (cpu None) gets every CPU, not the load generator's
    with contextlib.nullcontext() if cpu is not None else on_all_cpus():
        process = subprocess.Popen(
            list(cmd),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=source.tree(),
            env=source.child_env(),
        )
    if cpu is not None:
        _pin_process(process.pid, cpu)
    server = ServerProcess(name, process, ports, cpu)
    seen = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server._log.append(line)
            if line.startswith(ready):
                seen.set()

    server._pump = threading.Thread(target=pump, name=f"{name}-log", daemon=True)
    server._pump.start()
    deadline = time.monotonic() + timeout
    while not seen.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"{name} did not start:\n{server.log()}")
    if cpu is not None:
        _pin_process(process.pid, cpu)  # and any thread started before it was ready
    return server


def start_threadgate(
    data_dir: Path, cpu: int | None, api_key: str | None = None, database: str = "sqlite"
) -> ServerProcess:
    """Serve ``data_dir`` (or ``database``); ``api_key`` is the key an earlier start on it
    printed, if any."""
    ports = {"rest": free_port(), "grpc": free_port()}
    # what the ``threadgate`` script runs (adapters.cli:main), from the measured tree
    cmd = [
        sys.executable,
        "-m",
        "adapters.cli",
        "serve",
        "--host",
        HOST,
        "--rest-port",
        str(ports["rest"]),
        "--grpc-port",
        str(ports["grpc"]),
        "--data-dir",
        str(data_dir),
        "--database",
        database,
    ]
    server = start("threadgate", cmd, ports, THREADGATE_READY, cpu)
    server.api_key = api_key
    for line in server.log().splitlines():
        if line.startswith(API_KEY_LINE):
            server.api_key = line.removeprefix(API_KEY_LINE).strip()
    return server


def start_floor(kind: str, cpu: int | None) -> ServerProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.floors", kind, "--port", str(port)]
    return start(f"{kind} floor", cmd, {"rest" if kind == "rest" else "grpc": port}, FLOOR_READY, cpu)


@contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    try:
        yield server
    finally:
        server.stop()
