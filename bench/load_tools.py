"""The load generators, C programs in their own processes on the load generator's CPU(s) (a
Python client saturates its own core before a Hypercorn no-op does), each run bounded in
time and aimed only at 127.0.0.1.  **wrk** (REST) runs ``-t1 -cN``, N keep-alive
connections, with a generated Lua script whose ``done`` prints GRID evenly spaced latency
quantiles (its Lua API hands out percentiles only), from which the sample is rebuilt to
1/GRID of rank; ``-d`` takes whole seconds, so SIGINT ends a fractional run.  **h2load**
(gRPC) runs ``-c1 -mN``, one HTTP/2 connection with N streams as a gRPC channel is, and
logs every request; it sees no gRPC trailers, so errors come from the server's metrics.
"""

from __future__ import annotations

import math
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from testkit.ports import HOST

WRK, H2LOAD = "wrk", "h2load"
GRID = 1000  # quantiles wrk's ``done`` prints
SLACK = 20.0  # seconds a tool may run past its duration before it is killed
MARK = "BENCH"


def require(*tools: str) -> None:
    if absent := [t for t in tools if shutil.which(t) is None]:
        raise SystemExit(f"bench: {' and '.join(absent)} not found; `make bench` installs them")


def versions() -> dict[str, str]:
    out = {}
    for tool in (WRK, H2LOAD):
        run = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10)
        lines = (run.stdout or run.stderr).strip().splitlines()
        out[tool] = lines[0].split(" Copyright")[0] if lines else "?"
    return out


@frozen
class ToolResult:
    seconds: float
    latencies: list[float]  # seconds, successful requests only
    completed: int  # requests answered at all
    errors: int
    error_text: str | None
    cpu: float  # user + system seconds the tool used


def run_tool(
    cmd: Sequence[str], cwd: Path, timeout: float, interrupt_after: float | None = None
) -> tuple[str, float]:
    """Run ``cmd`` (blocking): SIGINT after ``interrupt_after`` seconds if given, SIGKILL after
    ``timeout``.  Its output, and the CPU seconds it used (all its threads)."""
    with tempfile.TemporaryFile() as out:
        began = time.perf_counter()
        process = subprocess.Popen(
            list(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd
        )
        # a pidfd names this very process even after it exits: never a signal to a reused pid
        pidfd = os.pidfd_open(process.pid)
        try:
            deadlines = [(interrupt_after, signal.SIGINT)] if interrupt_after is not None else []
            for at, sig in [*deadlines, (timeout, signal.SIGKILL)]:
                ready, _, _ = select.select([pidfd], [], [], max(0.0, began + at - time.perf_counter()))
                if ready:
                    break
                signal.pidfd_send_signal(pidfd, sig)
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            os.close(pidfd)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if code != 0 and not (interrupt_after is not None and code == -signal.SIGINT):
        raise RuntimeError(f"{cmd[0]} exited with {code}:\n{text[-3000:]}")
    return text, usage.ru_utime + usage.ru_stime


@frozen
class HttpSpec:
    """What wrk sends: ``method`` on one of ``paths`` (several: each request picks one at random)."""

    method: str
    paths: tuple[str, ...]
    headers: dict[str, str]
    body: str | None = None


def lua_string(text: str) -> str:
    """A Lua string literal for ``text`` (quotes, backslashes, controls and non-ASCII as ``\\ddd``)."""
    return (
        '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b}" for b in text.encode()) + '"'
    )


def wrk_script(spec: HttpSpec, record_ids: Path | None = None) -> str:
    """The Lua script for ``spec``.  ``record_ids``: a file prefix; the ``"id"`` of every 200
    response is appended, one a line and unbuffered, to ``<prefix><thread>.txt``."""
    lines = [f"wrk.method = {lua_string(spec.method)}", f"wrk.path = {lua_string(spec.paths[0])}"]
    if spec.body is not None:
        lines.append(f"wrk.body = {lua_string(spec.body)}")
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in spec.headers.items()]
    if len(spec.paths) > 1:
        lines.append("local paths = {" + ", ".join(lua_string(p) for p in spec.paths) + "}")
        lines.append(f"math.randomseed({int.from_bytes(os.urandom(4), 'big')})")
        lines.append("request = function() return wrk.format(nil, paths[math.random(#paths)]) end")
    if record_ids is not None:
        lines += [
            "local made = 0",
            "setup = function(thread) made = made + 1; "
            f"thread:set('id_file', {lua_string(str(record_ids))} .. made .. '.txt') end",
            "init = function(args) ids = assert(io.open(id_file, 'w')); ids:setvbuf('no') end",
            "response = function(status, headers, body)",
            '  local id = status == 200 and body:match(\'"id"%s*:%s*"([^"]+)"\')',
            "  if id then ids:write(id, '\\n') end",
            "end",
        ]
    # one line: the summary, the latency range and GRID midpoint quantiles, all in µs
    lines += [
        "done = function(summary, latency, requests)",
        "  local e, q = summary.errors, {}",
        f"  for k = 1, {GRID} do",
        f"    q[k] = string.format('%d', latency:percentile((k - 0.5) * 100 / {GRID}))",
        "  end",
        f"  io.write(string.format('{MARK} %d %d %d %d %d %d %d %d %d ', summary.duration, summary.requests, "
        "e.connect, e.read, e.write, e.status, e.timeout, latency.min, latency.max))",
        "  io.write(table.concat(q, ' '), '\\n')",
        "end",
    ]
    return "\n".join(lines) + "\n"


def rebuild(count: int, low: float, high: float, grid: list[float]) -> list[float]:
    """``count`` sorted values whose midpoint quantiles are ``grid``, min ``low`` and max ``high``."""
    if count <= 0 or not grid:
        return []
    values = [grid[min(len(grid) - 1, i * len(grid) // count)] for i in range(count)]
    values[0], values[-1] = min(values[0], low), max(values[-1], high)
    return values


def parse_wrk(stdout: str, cpu: float) -> ToolResult:
    if not (found := [line.split()[1:] for line in stdout.splitlines() if line.startswith(MARK + " ")]):
        raise RuntimeError(f"wrk printed no summary:\n{stdout[-2000:]}")
    duration_us, requests, connect, read, write, status, timeout, *micros = (int(v) for v in found[0])
    low, high, *grid = (us / 1e6 for us in micros)
    errors = connect + read + write + status + timeout
    text = (
        f"wrk: {status} responses over 399, socket errors connect {connect} read {read} "
        f"write {write} timeout {timeout}"
    )
    latencies = rebuild(max(0, requests - status), low, high, grid) if requests else []
    return ToolResult(duration_us / 1e6, latencies, requests, errors, text if errors else None, cpu)


def run_wrk(
    base_url: str, spec: HttpSpec, connections: int, seconds: float, record_ids: Path | None = None
) -> ToolResult:
    """One blocking wrk run of ``seconds`` with ``connections`` (one request in flight on each)."""
    assert base_url.startswith(f"http://{HOST}:"), base_url
    whole = seconds >= 1 and float(seconds).is_integer()
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-wrk-") as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(wrk_script(spec, record_ids))
        duration = int(seconds) if whole else math.ceil(seconds) + 1
        cmd = [WRK, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout=10s", "-s", str(script)]
        url = base_url + spec.paths[0]
        out, cpu = run_tool([*cmd, url], Path(tmp), seconds + SLACK, None if whole else seconds)
    return parse_wrk(out, cpu)


@frozen
class GrpcSpec:
    """What h2load sends: one request message, POSTed to ``path`` with the gRPC headers."""

    path: str  # /package.Service/Method
    body: bytes  # the serialized request message (unframed)
    metadata: dict[str, str]
    stream: bool = False  # the method answers with a server stream


def grpc_frame(body: bytes) -> bytes:
    """A gRPC length-prefixed message: not compressed, 4-byte big-endian length, the bytes."""
    return b"\0" + struct.pack(">I", len(body)) + body


_FINISHED = re.compile(r"finished in ([0-9.]+)(us|ms|s),")
_REQUESTS = re.compile(r"requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_h2load(stdout: str, log: str, cpu: float) -> ToolResult:
    finished, counts = _FINISHED.search(stdout), _REQUESTS.search(stdout)
    if finished is None or counts is None:
        raise RuntimeError(f"unexpected h2load output:\n{stdout[-2000:]}")
    done, failed = int(counts.group(1)), int(counts.group(2))
    rows = [parts for line in log.splitlines() if len(parts := line.split("\t")) == 3]
    latencies = [int(us) / 1e6 for _, status, us in rows if status == "200"]
    non_200 = len(rows) - len(latencies)
    errors = max(failed, non_200)
    text = f"h2load: {failed} failed requests, {non_200} responses not HTTP 200" if errors else None
    seconds = float(finished.group(1)) * _UNIT[finished.group(2)]
    return ToolResult(seconds, latencies, done, errors, text, cpu)


def run_h2load(target: str, spec: GrpcSpec, streams: int, seconds: float) -> ToolResult:
    """One blocking h2load run of ``seconds``: one connection, ``streams`` requests in flight."""
    assert target.startswith(f"{HOST}:"), target
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-h2load-") as tmp:
        frame, log = Path(tmp) / "frame.bin", Path(tmp) / "requests.tsv"
        frame.write_bytes(grpc_frame(spec.body))
        cmd = [H2LOAD, f"-D{max(1, round(seconds * 1000))}ms", "-c1", f"-m{streams}", "-t1", "-d", str(frame)]
        headers = {"content-type": "application/grpc", "te": "trailers", **spec.metadata}
        cmd += [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
        cmd += [f"--log-file={log}", f"http://{target}{spec.path}"]
        out, cpu = run_tool(cmd, Path(tmp), seconds + SLACK)
        return parse_h2load(out, log.read_text() if log.exists() else "", cpu)
