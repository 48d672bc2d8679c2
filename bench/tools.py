"""External load generators, written in C: ``wrk`` (HTTP/1.1, for REST) and ``h2load``
(HTTP/2, for gRPC), each run as its own process on the load generator's CPU(s).

The Python load generator (``bench/load.py``) saturates its own core before a
Hypercorn no-op does, so it measures httpx as much as the server; these tools do
not.  Each run gives a :class:`bench.load.Sample` like the Python path does.

- **wrk** runs ``-t1 -cN`` (N keep-alive connections, one request in flight on each)
  with a generated Lua script: method, body and headers, optionally a ``request``
  function rotating among several paths, and a ``done`` function that prints the
  summary (duration, requests, error counts) and the latency distribution.  wrk keeps
  every latency in a 1 µs histogram but its Lua API only hands out percentiles, so
  ``done`` prints ``GRID`` evenly spaced quantiles (plus min and max) and the sample is
  rebuilt from them: percentiles pooled over rounds are exact to within 1/GRID of
  rank.  wrk's ``-d`` takes whole seconds only, so a fractional duration is ended with
  SIGINT, which wrk handles by stopping and reporting its real running time.
- **h2load** runs ``-c 1 -m N`` (one HTTP/2 connection with N concurrent streams, as a
  gRPC channel is) and POSTs one gRPC length-prefixed frame to a method path.
  ``--log-file`` gives every request's start, HTTP status and duration (µs).  h2load
  sees no gRPC trailers, so a gRPC error still looks like HTTP 200 to it: callers
  count errors from the server's own metrics (:func:`request_counts`).

Every run has a duration and a subprocess timeout, and targets only 127.0.0.1.
"""

from __future__ import annotations

import math
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from bench.load import Sample
from bench.servers import HOST, cpu_seconds, system_cpu_seconds

WRK = "wrk"
H2LOAD = "h2load"
# quantiles wrk's ``done`` prints; the rebuilt sample's ranks are exact to 1/GRID
GRID = 1000
# seconds a tool may run past its duration before it is killed
SLACK = 20.0
REQUEST_TIMEOUT_S = 10
MARK = "BENCH"


def missing(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def require(*tools: str) -> None:
    """Exit with one line naming ``make bench`` when a tool is not installed."""
    absent = missing(*tools)
    if absent:
        raise SystemExit(
            f"bench: {' and '.join(absent)} not found on PATH; run `make bench` "
            "(scripts/ensure-bench-deps installs wrk and nghttp2-client's h2load)"
        )


@frozen
class ToolRun:
    returncode: int
    stdout: str
    stderr: str
    cpu: float  # user + system seconds the tool used, all its threads
    wall: float


def run_tool(
    cmd: Sequence[str], *, timeout: float, interrupt_after: float | None = None, cwd: Path | None = None
) -> ToolRun:
    """Run ``cmd`` to completion (blocking): SIGINT after ``interrupt_after`` seconds if given,
    SIGKILL after ``timeout``.  The child inherits this process's CPU affinity, which
    ``bench.servers.pin_self`` set to the load generator's CPUs."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        process = subprocess.Popen(list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        # a pidfd names this very process even after it exits, so signalling it is never a
        # signal to a reused pid; it turns readable when the process ends
        pidfd = os.pidfd_open(process.pid)
        try:
            deadlines = [(interrupt_after, signal.SIGINT)] if interrupt_after is not None else []
            deadlines.append((timeout, signal.SIGKILL))
            for at, sig in deadlines:
                left = began + at - time.perf_counter()
                ready, _, _ = select.select([pidfd], [], [], max(0.0, left))
                if ready:
                    break
                signal.pidfd_send_signal(pidfd, sig)
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            os.close(pidfd)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        return ToolRun(
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            usage.ru_utime + usage.ru_stime,
            wall,
        )


def _check(run: ToolRun, name: str, *, interrupted: bool = False) -> None:
    ok = run.returncode == 0 or (interrupted and run.returncode == -signal.SIGINT)
    if not ok:
        raise RuntimeError(f"{name} exited with {run.returncode}:\n{run.stderr[-2000:]}{run.stdout[-2000:]}")


@frozen
class Window:
    """CPU counters at one moment, to subtract."""

    server: float
    own: float
    system: float
    steal: float

    @classmethod
    def now(cls, server_pid: int) -> Window:
        system, steal = system_cpu_seconds()
        return cls(cpu_seconds(server_pid), time.process_time(), system, steal)


def to_sample(
    concurrency: int,
    seconds: float,
    latencies: list[float],
    errors: int,
    first_error: str | None,
    before: Window,
    after: Window,
    tool_cpu: float,
) -> Sample:
    return Sample(
        concurrency=concurrency,
        seconds=seconds,
        latencies=latencies,
        errors=errors,
        server_cpu=after.server - before.server,
        # the tool's CPU, and this process's (idle but for starting it and reading its output)
        client_cpu=tool_cpu + (after.own - before.own),
        system_cpu=after.system - before.system,
        steal=after.steal - before.steal,
        first_error=first_error,
    )


# --- wrk ---------------------------------------------------------------------------------


def lua_string(text: str) -> str:
    """A Lua string literal for ``text`` (bytes above 126 and controls as ``\\ddd``)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte}")
    return '"' + "".join(out) + '"'


@frozen
class HttpSpec:
    """What wrk sends: ``method`` on one of ``paths`` (several: round-robin, or at random)."""

    method: str
    paths: tuple[str, ...]
    headers: dict[str, str]
    body: str | None = None
    random_path: bool = False


def wrk_script(spec: HttpSpec, *, record_ids: Path | None = None) -> str:
    """The Lua script for ``spec``.  ``record_ids``: a file prefix; every 200 response's
    ``"id"`` is appended, one a line and flushed at once, to ``<prefix><thread>.txt``."""
    lines = [f"wrk.method = {lua_string(spec.method)}", f"wrk.path = {lua_string(spec.paths[0])}"]
    if spec.body is not None:
        lines.append(f"wrk.body = {lua_string(spec.body)}")
    for name, value in spec.headers.items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    if len(spec.paths) > 1:
        lines.append("local paths = {" + ", ".join(lua_string(p) for p in spec.paths) + "}")
        if spec.random_path:
            # seeded per wrk thread; math.random(n) is uniform on 1..n
            lines += [
                f"math.randomseed({int.from_bytes(os.urandom(4), 'big')})",
                "request = function() return wrk.format(nil, paths[math.random(#paths)]) end",
            ]
        else:
            lines += [
                "local turn = 0",
                "request = function()",
                "  turn = turn % #paths + 1",
                "  return wrk.format(nil, paths[turn])",
                "end",
            ]
    if record_ids is not None:
        lines += [
            "local made = 0",
            "setup = function(thread)",
            "  made = made + 1",
            f"  thread:set('id_file', {lua_string(str(record_ids))} .. made .. '.txt')",
            "end",
            "init = function(args)",
            "  ids = assert(io.open(id_file, 'w'))",
            "  ids:setvbuf('no')",
            "end",
            "response = function(status, headers, body)",
            "  if status == 200 then",
            '    local id = body:match(\'"id"%s*:%s*"([^"]+)"\')',
            "    if id then ids:write(id, '\\n') end",
            "  end",
            "end",
        ]
    lines += [
        "done = function(summary, latency, requests)",
        "  local e = summary.errors",
        f"  io.write(string.format('{MARK} summary %d %d %d %d %d %d %d\\n', summary.duration, "
        "summary.requests, e.connect, e.read, e.write, e.status, e.timeout))",
        f"  io.write(string.format('{MARK} range %d %d\\n', latency.min, latency.max))",
        f"  for k = 1, {GRID} do",
        f"    io.write(string.format('{MARK} q %d\\n', latency:percentile((k - 0.5) * 100 / {GRID})))",
        "  end",
        "end",
    ]
    return "\n".join(lines) + "\n"


@frozen
class WrkResult:
    seconds: float
    requests: int
    latencies: list[float]  # seconds, rebuilt from the quantile grid
    connect_errors: int
    read_errors: int
    write_errors: int
    status_errors: int  # responses with status > 399
    timeouts: int
    cpu: float

    @property
    def completed(self) -> int:
        return self.requests

    @property
    def errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.status_errors + self.timeouts

    def describe_errors(self) -> str | None:
        if not self.errors:
            return None
        return (
            f"wrk: {self.status_errors} responses over 399, socket errors connect {self.connect_errors} "
            f"read {self.read_errors} write {self.write_errors} timeout {self.timeouts}"
        )


def rebuild(count: int, low: float, high: float, grid: list[float]) -> list[float]:
    """``count`` sorted values whose quantiles are ``grid`` (midpoint quantiles), min ``low``
    and max ``high``."""
    if count <= 0 or not grid:
        return []
    g = len(grid)
    values = [grid[min(g - 1, i * g // count)] for i in range(count)]
    values[0] = min(values[0], low)
    values[-1] = max(values[-1], high)
    return values


def parse_wrk(stdout: str, cpu: float) -> WrkResult:
    summary: list[int] | None = None
    low = high = 0.0
    grid: list[float] = []
    for line in stdout.splitlines():
        if not line.startswith(MARK + " "):
            continue
        kind, *values = line.split()[1:]
        if kind == "summary":
            summary = [int(v) for v in values]
        elif kind == "range":
            low, high = int(values[0]) / 1e6, int(values[1]) / 1e6
        elif kind == "q":
            grid.append(int(values[0]) / 1e6)
    if summary is None:
        raise RuntimeError(f"wrk printed no summary:\n{stdout[-2000:]}")
    duration_us, requests, connect, read, write, status, timeout = summary
    ok = max(0, requests - status)
    return WrkResult(
        duration_us / 1e6,
        requests,
        rebuild(ok, low, high, grid) if requests else [],
        connect,
        read,
        write,
        status,
        timeout,
        cpu,
    )


def wrk_command(url: str, connections: int, seconds: float, script: Path) -> tuple[list[str], float | None]:
    """The command, and when to interrupt it (None: ``-d`` ends it on time)."""
    whole = float(seconds).is_integer() and seconds >= 1
    duration = int(seconds) if whole else math.ceil(seconds) + 1
    cmd = [
        WRK,
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        f"--timeout={REQUEST_TIMEOUT_S}s",
        "-s",
        str(script),
        url,
    ]
    return cmd, (None if whole else seconds)


def run_wrk(
    base_url: str, spec: HttpSpec, connections: int, seconds: float, *, record_ids: Path | None = None
) -> WrkResult:
    """One blocking wrk run of ``seconds`` at ``connections`` (one request in flight on each)."""
    assert base_url.startswith(f"http://{HOST}:"), base_url
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-wrk-") as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(wrk_script(spec, record_ids=record_ids))
        cmd, interrupt = wrk_command(base_url + spec.paths[0], connections, seconds, script)
        run = run_tool(cmd, timeout=seconds + SLACK, interrupt_after=interrupt, cwd=Path(tmp))
        _check(run, "wrk", interrupted=interrupt is not None)
        return parse_wrk(run.stdout, run.cpu)


# --- h2load (gRPC) ---------------------------------------------------------------------------


def grpc_frame(body: bytes) -> bytes:
    """A gRPC length-prefixed message: not compressed, 4-byte big-endian length, the bytes."""
    return b"\0" + struct.pack(">I", len(body)) + body


@frozen
class GrpcSpec:
    """What h2load sends: one frame, POSTed to ``path`` with the gRPC headers."""

    path: str  # /package.Service/Method
    body: bytes  # the serialized request message (unframed)
    metadata: dict[str, str]


@frozen
class H2Result:
    seconds: float
    latencies: list[float]  # seconds, HTTP 200 responses only
    started: int
    done: int
    succeeded: int
    failed: int  # HTTP-level failures (non-2xx) plus stream and connection errors
    non_200: int
    cpu: float

    @property
    def completed(self) -> int:
        return self.done

    @property
    def errors(self) -> int:
        return max(self.failed, self.non_200)

    def describe_errors(self) -> str | None:
        if not self.errors:
            return None
        return f"h2load: {self.failed} failed requests, {self.non_200} responses not HTTP 200"


_FINISHED = re.compile(r"finished in ([0-9.]+)(us|ms|s),")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored"
)
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_h2load(stdout: str, log: str | None, cpu: float) -> H2Result:
    finished = _FINISHED.search(stdout)
    counts = _REQUESTS.search(stdout)
    if finished is None or counts is None:
        raise RuntimeError(f"unexpected h2load output:\n{stdout[-2000:]}")
    seconds = float(finished.group(1)) * _UNIT[finished.group(2)]
    _, started, done, succeeded, failed, _ = (int(v) for v in counts.groups())
    latencies: list[float] = []
    non_200 = 0
    for line in (log or "").splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        if parts[1] == "200":
            latencies.append(int(parts[2]) / 1e6)
        else:
            non_200 += 1
    return H2Result(seconds, latencies, started, done, succeeded, failed, non_200, cpu)


def h2load_command(
    url: str, spec: GrpcSpec, streams: int, seconds: float, frame: Path, log: Path | None
) -> list[str]:
    cmd = [
        H2LOAD,
        f"-D{max(1, round(seconds * 1000))}ms",
        "-c1",
        f"-m{streams}",
        "-t1",
        "-d",
        str(frame),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
    ]
    for name, value in spec.metadata.items():
        cmd += ["-H", f"{name}: {value}"]
    if log is not None:
        cmd.append(f"--log-file={log}")
    cmd.append(url)
    return cmd


def run_h2load(target: str, spec: GrpcSpec, streams: int, seconds: float, *, log: bool = True) -> H2Result:
    """One blocking h2load run of ``seconds``: one connection, ``streams`` requests in flight."""
    assert target.startswith(f"{HOST}:"), target
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-h2load-") as tmp:
        frame = Path(tmp) / "frame.bin"
        frame.write_bytes(grpc_frame(spec.body))
        log_path = Path(tmp) / "requests.tsv" if log else None
        cmd = h2load_command(f"http://{target}{spec.path}", spec, streams, seconds, frame, log_path)
        run = run_tool(cmd, timeout=seconds + SLACK, cwd=Path(tmp))
        _check(run, "h2load")
        text = log_path.read_text() if log_path is not None and log_path.exists() else None
        return parse_h2load(run.stdout, text, run.cpu)


def process_state(pid: int) -> str:
    """The state of every thread of ``pid`` and the kernel function it waits in, counted:
    e.g. ``S ep_poll x2, S futex_wait_queue x14, R x1``."""
    seen: dict[str, int] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError as exc:
        return f"unreadable ({exc})"
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
            state = text[text.rindex(")") + 2]
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                wchan = f.read().strip()
        except (OSError, ValueError):
            continue
        key = f"{state} {wchan}" if wchan and wchan != "0" else state
        seen[key] = seen.get(key, 0) + 1
    return ", ".join(f"{k} x{n}" for k, n in sorted(seen.items(), key=lambda kv: -kv[1]))


def stall_probe(target: str, timeout: float = 1.0) -> str:
    """What a gRPC server does with a new connection, for the log after h2load saw no answer
    at all: the listen socket's accept queue (``ss``), and whether an HTTP/2 connection
    preface gets the server's SETTINGS back within ``timeout``."""
    host, _, port = target.rpartition(":")
    assert host == HOST, target
    try:
        ss = subprocess.run(
            ["ss", "-ltn", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout.split("\n")[1:2]
        queue = " ".join(ss[0].split()[:3]) if ss and ss[0] else "?"
    except (OSError, subprocess.SubprocessError):
        queue = "?"
    began = time.perf_counter()
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\0\0\0\x04\0\0\0\0\0")
            first = sock.recv(9)
        answer = f"answered {first.hex()} after {(time.perf_counter() - began) * 1000:.1f} ms"
    except OSError as exc:
        answer = f"no answer ({type(exc).__name__}: {exc}) after {time.perf_counter() - began:.1f}s"
    return f"listen socket (state recv-q send-q): {queue}; a new HTTP/2 connection: {answer}"


# --- the server's own count of requests and their outcomes -------------------------------------

COUNTER = "threadgate_requests_total"
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
Counts = dict[tuple[str, str, str], float]


def request_counts(exposition: str) -> Counts:
    """``threadgate_requests_total`` from a Prometheus text exposition, by
    (protocol, method, outcome)."""
    out: Counts = {}
    for line in exposition.splitlines():
        if not line.startswith(COUNTER + "{"):
            continue
        labels_text, _, value = line[len(COUNTER) + 1 :].rpartition("} ")
        labels = dict(_LABEL.findall(labels_text))
        key = (labels.get("protocol", ""), labels.get("method", ""), labels.get("outcome", ""))
        out[key] = out.get(key, 0.0) + float(value)
    return out


def outcomes(before: Counts, after: Counts, protocol: str, method: str) -> dict[str, int]:
    """How many requests of one method ended in each outcome between two scrapes."""
    out: dict[str, int] = {}
    for key, value in after.items():
        if key[0] == protocol and key[1] == method:
            delta = round(value - before.get(key, 0.0))
            if delta:
                out[key[2]] = delta
    return out


def changed_methods(before: Counts, after: Counts) -> set[tuple[str, str]]:
    """(protocol, method) pairs whose count moved between two scrapes."""
    return {(k[0], k[1]) for k, v in after.items() if v != before.get(k, 0.0)}
