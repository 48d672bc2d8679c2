"""Two more scenarios, on top of the harness in ``bench/scenarios.py``.

``sweep-under-load``: 100,000 expired threads are swept while REST clients create
threads and read a live one; the request latency during the sweep is compared with
the same server before the sweep began and with a server whose sweeper is off.

``workers``: REST create (``POST /v1/threads``) and get (``GET /v1/threads/{id}``)
with ``--workers 1`` and ``--workers 2``, on SQLite and on a throw-away PostgreSQL; the
load comes from wrk when it is installed (unless ``--rest-tool httpx``), else from httpx
in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from attrs import frozen

from bench import report, source
from bench.fill import create_thread
from bench.load import Sample, Stats, percentile, summarize
from bench.loads import http_client, rest_load
from bench.scenarios import Context, Options, Outcome, Row, Scenario, log
from bench.servers import (
    API_KEY_LINE,
    HOST,
    THREADGATE_READY,
    ServerProcess,
    cpu_seconds,
    free_port,
    on_all_cpus,
    process_tree,
    running,
    start,
    system_cpu_seconds,
)
from bench.tools import WRK, HttpSpec, missing

# --- shared ---------------------------------------------------------------------------------

THREAD_COLUMNS = 16
_ALPHABET = string.ascii_letters + string.digits


def thread_id() -> str:
    """An id of the shape the server makes (``thread_`` + 24 characters)."""
    return "thread_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def start_server(
    data_dir: Path,
    cpu: int | None,
    *,
    database: str = "sqlite",
    workers: int = 1,
    sweep_interval: float | None = None,
    api_key: str | None = None,
) -> ServerProcess:
    """``threadgate serve`` like ``bench.servers.start_threadgate``, with the options these
    scenarios vary.  ``cpu`` pins the server (only its first process) when not None."""
    ports = {"rest": free_port(), "grpc": free_port()}
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
        "--workers",
        str(workers),
    ]
    if sweep_interval is not None:
        cmd += ["--sweep-interval", str(sweep_interval)]
    server = start("threadgate", cmd, ports, THREADGATE_READY, cpu, timeout=60)
    server.api_key = api_key
    for line in server.log().splitlines():
        if line.startswith(API_KEY_LINE):
            server.api_key = line.removeprefix(API_KEY_LINE).strip()
    return server


def create_key(data_dir: Path, database: str) -> str:
    """``threadgate keys create``: the token is the last line it prints."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "keys",
            "create",
            "--folder",
            "default",
            "--role",
            "admin",
            "--data-dir",
            str(data_dir),
            "--database",
            database,
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=source.tree(),
        env=source.child_env(),
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1].strip()


def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
    return total


def _ms(value: float) -> str:
    return f"{value:,.2f}"


# --- sweep-under-load -----------------------------------------------------------------------

EXPIRED = 100_000
LIVE = 1_000
SWEEP_INTERVAL = 0.5
# the expired rows' expiry lies this far after they are written, so the server is up and
# under load before the sweep begins (the sweeper runs at once on start, then every 0.5 s)
EXPIRY_DELAY = 20.0
SWEEP_CONCURRENCY = 16  # half the workers GET a live thread, half create threads
SWEEP_TIME_LIMIT = 150.0
METRIC = "threadgate_sweeper_threads_deleted_total"


def write_threads(db: Path, expire_at: datetime) -> list[str]:
    """EXPIRED threads (static policy, 1-day TTL, created a day before ``expire_at``) and LIVE
    threads (7-day TTL from now), written straight into SQLite with the server stopped."""
    from adapters.storage.rows import THREAD_COLUMNS as COLUMNS
    from adapters.storage.rows import thread_to_row
    from core.model import ExpirationConfig, ExpirationPolicy, Thread

    def make(created: datetime, ttl_days: int) -> Thread:
        return Thread(
            id=thread_id(),
            folder_id="default",
            name="",
            description="",
            default_message_author_id="bench",
            created_by="bench",
            created_at=created,
            updated_by="bench",
            updated_at=created,
            last_activity_at=created,
            expiration=ExpirationConfig(policy=ExpirationPolicy.STATIC, ttl_days=ttl_days),
        )

    old = expire_at - timedelta(days=1)
    now = datetime.now(UTC)
    live = [make(now, 7) for _ in range(LIVE)]
    rows = [thread_to_row(make(old, 1)) for _ in range(EXPIRED)] + [thread_to_row(t) for t in live]
    marks = ", ".join("?" * THREAD_COLUMNS)
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.executemany(f"INSERT INTO threads ({COLUMNS}) VALUES ({marks})", rows)
    finally:
        conn.close()
    return [t.id for t in live]


@frozen
class Request:
    op: str
    t0: float
    t1: float
    ok: bool
    error: str | None


@frozen
class Tick:
    """One poll of the server's sweep counter, with CPU counters at the same moment."""

    at: float
    deleted: int
    server_cpu: float
    client_cpu: float
    system_cpu: float
    steal: float


async def deleted_count(client: httpx.AsyncClient) -> int:
    r = await client.get("/metrics")
    r.raise_for_status()
    match = re.search(rf"^{METRIC} ([0-9.e+]+)$", r.text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


async def mixed_load(
    server: ServerProcess, live_ids: list[str], *, until: Any, time_limit: float
) -> tuple[list[Request], list[Tick]]:
    """GET live threads and POST new ones until ``until(ticks)`` says stop; poll the sweep
    counter every 50 ms meanwhile."""
    requests: list[Request] = []
    ticks: list[Tick] = []
    clock = time.perf_counter
    began = clock()
    done = asyncio.Event()

    async def worker(index: int) -> None:
        op = "GET /v1/threads/{id}" if index % 2 == 0 else "POST /v1/threads"
        async with http_client(server, 1) as client:
            get = client.build_request("GET", f"/v1/threads/{live_ids[index % len(live_ids)]}")
            while not done.is_set():
                t0 = clock()
                try:
                    r = await (
                        client.send(get) if op.startswith("GET") else client.post("/v1/threads", json={})
                    )
                    ok = 200 <= r.status_code < 300
                    error = None if ok else f"HTTP {r.status_code} {r.text[:200]}"
                except Exception as exc:
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                requests.append(Request(op, t0, clock(), ok, error))

    async def poll() -> None:
        async with http_client(server, 1) as client:
            while True:
                deleted = await deleted_count(client)
                system, steal = system_cpu_seconds()
                ticks.append(Tick(clock(), deleted, server.cpu_seconds(), time.process_time(), system, steal))
                if until(ticks) or clock() - began > time_limit:
                    done.set()
                    return
                await asyncio.sleep(0.05)

    await asyncio.gather(poll(), *(worker(i) for i in range(SWEEP_CONCURRENCY)))
    return requests, ticks


def window_samples(requests: list[Request], a: Tick, b: Tick) -> dict[str, Sample]:
    """Per operation, the requests that started and ended between two ticks, as Samples."""
    seconds = b.at - a.at
    out: dict[str, Sample] = {}
    for op in sorted({r.op for r in requests}):
        inside = [r for r in requests if r.op == op and a.at <= r.t0 and r.t1 <= b.at]
        failed = [r for r in inside if not r.ok]
        out[op] = Sample(
            concurrency=SWEEP_CONCURRENCY // 2,
            seconds=seconds,
            latencies=[r.t1 - r.t0 for r in inside if r.ok],
            errors=len(failed),
            server_cpu=b.server_cpu - a.server_cpu,
            client_cpu=b.client_cpu - a.client_cpu,
            system_cpu=b.system_cpu - a.system_cpu,
            steal=b.steal - a.steal,
            first_error=failed[0].error if failed else None,
        )
    return out


def row(name: str, stats: Stats, base: Stats | None) -> Row:
    return Row(
        name,
        "rest",
        stats,
        None,
        stats.rps / base.rps if base else None,
        stats.server_cpu_us_per_request / base.server_cpu_us_per_request if base else None,
    )


async def sweep_under_load(ctx: Context) -> Outcome:
    cpu = ctx.placement.server_cpu
    notes: dict[str, Any] = {
        "expired_threads": EXPIRED,
        "live_threads": LIVE,
        "concurrency": SWEEP_CONCURRENCY,
    }
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-sweep-") as tmp:
        data_dir = Path(tmp) / "sweep"
        data_dir.mkdir()
        first = start_server(data_dir, cpu, sweep_interval=0)
        first.stop()
        api_key = first.api_key
        if not api_key:
            raise RuntimeError("the first start printed no API key")
        began = time.perf_counter()
        expire_at = datetime.now(UTC) + timedelta(seconds=EXPIRY_DELAY)
        live_ids = write_threads(data_dir / "threadgate.db", expire_at)
        notes["write_seconds"] = round(time.perf_counter() - began, 2)
        log(f"wrote {EXPIRED:,} expiring + {LIVE:,} live threads in {notes['write_seconds']}s")
        # the baseline serves an identical copy with the sweeper off (expired rows stay, hidden)
        base_dir = Path(tmp) / "baseline"
        shutil.copytree(data_dir, base_dir)

        # 1. sweeper on: load from start-up until the counter reaches EXPIRED, plus 1 s
        with running(start_server(data_dir, cpu, sweep_interval=SWEEP_INTERVAL, api_key=api_key)) as server:
            log(f"sweeping server up; rows expire in {(expire_at - datetime.now(UTC)).total_seconds():.1f}s")
            finished: list[float] = []

            def swept(ticks: list[Tick]) -> bool:
                if ticks[-1].deleted >= EXPIRED and not finished:
                    finished.append(ticks[-1].at)
                return bool(finished) and ticks[-1].at - finished[0] >= 1.0

            requests, ticks = await mixed_load(server, live_ids, until=swept, time_limit=SWEEP_TIME_LIMIT)
            remaining = (
                sqlite3.connect(data_dir / "threadgate.db")
                .execute(
                    "SELECT count(*) FROM threads WHERE expires_us <= ?",
                    (int(expire_at.timestamp() * 1_000_000),),
                )
                .fetchone()[0]
            )
        if not finished:
            raise RuntimeError(
                f"the sweep did not finish within {SWEEP_TIME_LIMIT}s: {ticks[-1].deleted} deleted"
            )
        start_i = max(i for i, t in enumerate(ticks) if t.deleted == 0)  # last poll before it began
        end_i = min(i for i, t in enumerate(ticks) if t.deleted >= EXPIRED)
        load_start = min(r.t0 for r in requests)
        warm = next(i for i, t in enumerate(ticks) if t.at >= load_start + ctx.options.warmup)
        during = window_samples(requests, ticks[start_i], ticks[end_i])
        before = window_samples(requests, ticks[warm], ticks[start_i]) if warm < start_i else {}
        notes["sweep_seconds"] = round(ticks[end_i].at - ticks[start_i].at, 3)
        notes["sweep_seconds_resolution"] = "±0.05 s per end (counter polled every 50 ms)"
        notes["sweep_began_after_load_start_s"] = round(ticks[start_i].at - load_start, 3)
        notes["expired_rows_left"] = remaining
        notes["batches"] = "sweep-batch-rows default (2,000)"
        notes["non_2xx_or_failed_sweep_run"] = sum(1 for r in requests if not r.ok)
        notes["requests_sweep_run"] = len(requests)
        log(
            f"sweep of {EXPIRED:,} took {notes['sweep_seconds']}s; "
            f"{notes['non_2xx_or_failed_sweep_run']} failures"
        )

        # 2. sweeper off, same data, same load, for as long as the sweep took (at least 3 s)
        span = max(3.0, notes["sweep_seconds"]) + ctx.options.warmup
        with running(start_server(base_dir, cpu, sweep_interval=0, api_key=api_key)) as base_server:
            base_requests, base_ticks = await mixed_load(
                base_server, live_ids, until=lambda t: t[-1].at - t[0].at >= span, time_limit=SWEEP_TIME_LIMIT
            )
        bwarm = next(i for i, t in enumerate(base_ticks) if t.at >= base_ticks[0].at + ctx.options.warmup)
        baseline = window_samples(base_requests, base_ticks[bwarm], base_ticks[-1])
        notes["non_2xx_or_failed_baseline_run"] = sum(1 for r in base_requests if not r.ok)
        notes["requests_baseline_run"] = len(base_requests)

    rows: list[Row] = []
    for op in sorted(during):
        base = summarize([baseline[op]])
        rows.append(row(f"{op}, sweeper off (baseline)", base, None))
        if op in before:
            rows.append(row(f"{op}, sweeper on, before the sweep", summarize([before[op]]), base))
        rows.append(row(f"{op}, during the sweep", summarize([during[op]]), base))
    notes["quiet_seconds_spent"] = 0.0
    return Outcome(rows, notes)


# --- workers --------------------------------------------------------------------------------

WORKERS_CONCURRENCY = 32


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    sys.path.insert(0, str(source.tree()))
    from testkit.postgres import postgres_server

    with contextlib.ExitStack() as stack:
        with on_all_cpus():  # PostgreSQL's processes may use every CPU, like the servers here
            pg = stack.enter_context(postgres_server())
        yield str(pg.dsn)


async def measure_workers(
    ctx: Context, server: ServerProcess, label: str, tid: str
) -> list[tuple[str, Stats, float]]:
    """POST and GET, each once per round at WORKERS_CONCURRENCY; server CPU summed over all
    the server's processes (the supervisor and its workers)."""
    options = ctx.options
    out: dict[str, list[Sample]] = {}
    server_cpu: dict[str, float] = {}
    pids = process_tree(server.pid)
    tool = workers_tool(options)
    json_headers = {**server.headers(), "Content-Type": "application/json"}
    loads = (
        ("POST /v1/threads", rest_load(server, HttpSpec("POST", ("/v1/threads",), json_headers, "{}"), tool)),
        (
            "GET /v1/threads/{id}",
            rest_load(server, HttpSpec("GET", (f"/v1/threads/{tid}",), server.headers()), tool),
        ),
    )
    for _ in range(options.rounds):
        for op, load in loads:
            await ctx.quiet.wait()
            cpu0, t0 = tree_cpu(pids), time.perf_counter()
            sample = await load(WORKERS_CONCURRENCY, options.duration, options.warmup)
            share = (tree_cpu(pids) - cpu0) / (time.perf_counter() - t0)
            out.setdefault(op, []).append(sample)
            server_cpu[op] = server_cpu.get(op, 0.0) + share / options.rounds
            p50 = percentile(sorted(sample.latencies), 50) * 1000
            log(
                f"{label:<22} {op:<22} {sample.rps:7.0f} req/s p50 {p50:6.2f} ms server CPU {share:4.0%} "
                f"errors {sample.errors}"
            )
            if not sample.latencies:
                raise RuntimeError(f"{label} {op}: no request succeeded: {sample.first_error}")
    return [(op, summarize(s), server_cpu[op]) for op, s in out.items()]


def workers_tool(options: Options) -> str:
    """wrk when it is installed (and not ``--rest-tool httpx``), else this process's httpx."""
    return "wrk" if options.rest_tool == "wrk" and not missing(WRK) else "httpx"


async def workers_scenario(ctx: Context) -> Outcome:
    # the server is not pinned: with 2 workers both cores serve; the load generator stays on
    # the CPU(s) __main__ pinned it to, so it shares one core with the server
    notes: dict[str, Any] = {
        "concurrency": WORKERS_CONCURRENCY,
        "load_generator": "wrk -t1 -c32" if workers_tool(ctx.options) == "wrk" else "httpx (this process)",
        "placement": "server processes not pinned (both CPUs); load generator pinned as in 'placement'"
        "; PostgreSQL (fsync=off) unpinned on the same machine",
    }
    results: list[dict[str, Any]] = []
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="threadgate-bench-workers-")))
        dsn = stack.enter_context(postgres())
        for backend, database in (("sqlite", "sqlite"), ("postgresql", dsn)):
            data_dir = tmp / backend
            data_dir.mkdir()
            key = create_key(data_dir, database)
            for workers in (1, 2):
                label = f"{backend} --workers {workers}"
                with running(
                    start_server(data_dir, None, database=database, workers=workers, api_key=key)
                ) as server:
                    async with http_client(server, 1) as client:
                        tid = await create_thread(client)
                    for op, stats, server_cpu in await measure_workers(ctx, server, label, tid):
                        rows.append(Row(f"{label}: {op}", "rest", stats, None, None, None))
                        results.append(
                            {
                                "backend": backend,
                                "workers": workers,
                                "op": op,
                                "rps": stats.rps,
                                "p50_ms": stats.p50_ms,
                                "p99_ms": stats.p99_ms,
                                "errors": stats.errors,
                                "server_cpu_all_processes": server_cpu,
                                "client_cpu": stats.client_cpu,
                                "system_minus_client_cpu": stats.other_cpu + stats.server_cpu,
                            }
                        )
    ratios = []
    for backend in ("sqlite", "postgresql"):
        for op in ("POST /v1/threads", "GET /v1/threads/{id}"):
            one = next(r for r in results if r["backend"] == backend and r["op"] == op and r["workers"] == 1)
            two = next(r for r in results if r["backend"] == backend and r["op"] == op and r["workers"] == 2)
            ratios.append(
                {
                    "backend": backend,
                    "op": op,
                    "rps_2_over_1": two["rps"] / one["rps"],
                    "p50_2_over_1": two["p50_ms"] / one["p50_ms"],
                    "p99_2_over_1": two["p99_ms"] / one["p99_ms"],
                }
            )
    notes["results"] = results
    notes["ratios"] = ratios
    notes["quiet_seconds_spent"] = round(ctx.quiet.spent, 1)
    return Outcome(rows, notes)


# --- report ---------------------------------------------------------------------------------


def render(name: str, outcome: Outcome, placement: str, options: Options) -> str:
    notes = outcome.notes
    if name == "workers":
        lines = [
            f"## {name}",
            "",
            f"load generator: {notes.get('load_generator', 'httpx (this process)')}, {placement}; "
            "threadgate and PostgreSQL not pinned",
            f"concurrency {WORKERS_CONCURRENCY}; {options.rounds} round(s) of {options.warmup:g}s warm-up + "
            f"{options.duration:g}s measured; server CPU = all server processes, share of one core "
            "(warm-up included); others = every other process (PostgreSQL included)",
            "",
            "| backend | workers | operation | req/s | p50 ms | p99 ms | server CPU | client CPU "
            "| others' CPU | errors |",
            "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for r in notes["results"]:
            others = max(0.0, r["system_minus_client_cpu"] - r["server_cpu_all_processes"])
            lines.append(
                f"| {r['backend']} | {r['workers']} | {r['op']} | {r['rps']:,.0f} | {_ms(r['p50_ms'])} "
                f"| {_ms(r['p99_ms'])} | {r['server_cpu_all_processes']:.0%} | {r['client_cpu']:.0%} "
                f"| {others:.0%} | {r['errors']} |"
            )
        lines += [
            "",
            "| backend | operation | req/s 2w/1w | p50 2w/1w | p99 2w/1w |",
            "|---|---|--:|--:|--:|",
        ]
        for q in notes["ratios"]:
            lines.append(
                f"| {q['backend']} | {q['op']} | {q['rps_2_over_1']:.2f} | {q['p50_2_over_1']:.2f} "
                f"| {q['p99_2_over_1']:.2f} |"
            )
        return "\n".join(lines)
    text = report.render(name, outcome, placement, options)
    return (
        f"{text}\n\n(req/s vs floor and µs/req vs floor are over the sweeper-off baseline)\n"
        f"sweep of {notes['expired_threads']:,} expired threads: {notes['sweep_seconds']}s "
        f"({notes['sweep_seconds_resolution']}); began {notes['sweep_began_after_load_start_s']}s after "
        f"the load started; expired rows left: {notes['expired_rows_left']}\n"
        f"failed or non-2xx requests: {notes['non_2xx_or_failed_sweep_run']} of "
        f"{notes['requests_sweep_run']:,} (sweeper-on run), {notes['non_2xx_or_failed_baseline_run']} of "
        f"{notes['requests_baseline_run']:,} (baseline run)"
    )


MORE_SCENARIOS: dict[str, Scenario] = {"sweep-under-load": sweep_under_load, "workers": workers_scenario}
