"""``sweep-under-load``: 100,000 expired threads are swept while REST clients create
threads and read live ones; the latency during the sweep is compared with the same
server's before the sweep began and with a server whose sweeper is off.

A first start makes the schema, the API key and a model thread; with the server stopped,
100,000 threads that expire 20 s later and 1,000 live ones are written straight into
SQLite (``bench.fill.write_threads``), and the data dir is copied for the baseline.  16
closed-loop httpx clients (half ``GET /v1/threads/{live id}``, half ``POST /v1/threads``)
run from start-up until the sweep is over, while ``/metrics``
(``threadgate_sweeper_threads_deleted_total``) is polled every 50 ms: the sweep runs from
the last poll that read 0 to the first that read 100,000.  The baseline serves the copy
with ``--sweep-interval 0`` under the same load, for as long.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from attrs import frozen

from bench.cpus import Window
from bench.fill import create_thread, write_threads
from bench.report import Outcome, Row, stats_table
from bench.rounds import Context, log, versus
from bench.server_metrics import metrics_text
from bench.servers import start_threadgate
from bench.stats import Sample, summarize
from core.model import ExpirationConfig, ExpirationPolicy
from testkit.server import Server, serving

EXPIRED, LIVE = 100_000, 1_000
EXPIRY_DELAY = 20.0  # seconds: the server is up and under load before the rows expire
CONCURRENCY = 16
TIME_LIMIT = 150.0
DELETED = re.compile(r"^threadgate_sweeper_threads_deleted_total ([0-9.e+]+)$", re.MULTILINE)
GET, POST = "GET /v1/threads/{id}", "POST /v1/threads"


@frozen
class Request:
    op: str
    t0: float
    t1: float
    error: str | None


@frozen
class Tick:
    """One poll of the server's sweep counter, with the CPU counters at that moment."""

    at: float
    deleted: int
    cpu: Window


async def mixed_load(
    server: Server, live: list[str], until: Callable[[list[Tick]], bool]
) -> tuple[list[Request], list[Tick]]:
    """GET live threads and POST new ones until ``until(ticks)`` (or TIME_LIMIT)."""
    requests: list[Request] = []
    ticks: list[Tick] = []
    began = time.perf_counter()
    done = asyncio.Event()

    async def worker(index: int) -> None:
        op = GET if index % 2 == 0 else POST
        async with httpx.AsyncClient(
            base_url=server.origin, headers=server.auth_headers, timeout=10
        ) as client:
            get = client.build_request("GET", f"/v1/threads/{live[index % len(live)]}")
            while not done.is_set():
                t0 = time.perf_counter()
                try:
                    r = await (client.send(get) if op == GET else client.post("/v1/threads", json={}))
                    error = None if r.is_success else f"HTTP {r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                requests.append(Request(op, t0, time.perf_counter(), error))

    async def poll() -> None:
        while not done.is_set():
            match = DELETED.search(await metrics_text(server))
            ticks.append(
                Tick(time.perf_counter(), int(float(match.group(1))) if match else 0, Window.now(server.pid))
            )
            if until(ticks) or time.perf_counter() - began > TIME_LIMIT:
                done.set()
            await asyncio.sleep(0.05)

    await asyncio.gather(poll(), *(worker(i) for i in range(CONCURRENCY)))
    return requests, ticks


def window(requests: list[Request], a: Tick, b: Tick) -> dict[str, Sample]:
    """Per operation, the requests that started and ended between two ticks."""
    out = {}
    for op in (GET, POST):
        inside = [r for r in requests if r.op == op and a.at <= r.t0 and r.t1 <= b.at]
        failed = [r.error for r in inside if r.error]
        out[op] = Sample(
            concurrency=CONCURRENCY // 2,
            seconds=b.at - a.at,
            latencies=[r.t1 - r.t0 for r in inside if not r.error],
            errors=len(failed),
            server_cpu=b.cpu.server - a.cpu.server,
            client_cpu=b.cpu.own - a.cpu.own,
            system_cpu=b.cpu.system - a.cpu.system,
            steal=b.cpu.steal - a.cpu.steal,
            first_error=failed[0] if failed else None,
        )
    return out


async def run(ctx: Context) -> Outcome:
    cpu, warmup = ctx.placement.server_cpu, ctx.options.warmup
    notes: dict[str, Any] = {"expired_threads": EXPIRED, "live_threads": LIVE, "concurrency": CONCURRENCY}
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-sweep-") as tmp:
        data_dir, base_dir = Path(tmp) / "sweep", Path(tmp) / "baseline"
        data_dir.mkdir()
        with serving(start_threadgate(data_dir, cpu, "--sweep-interval", "0")) as first:
            api_key = first.api_key
            async with httpx.AsyncClient(base_url=first.origin, headers=first.auth_headers) as client:
                template = await create_thread(client)
        began = time.perf_counter()
        expire_at = datetime.now(UTC) + timedelta(seconds=EXPIRY_DELAY)
        db = data_dir / "threadgate.db"
        write_threads(
            db, template, EXPIRED, expire_at - timedelta(days=1), ExpirationConfig(ExpirationPolicy.STATIC, 1)
        )
        live = write_threads(
            db, template, LIVE, datetime.now(UTC), ExpirationConfig(ExpirationPolicy.STATIC, 7)
        )
        notes["write_seconds"] = round(time.perf_counter() - began, 2)
        log(f"wrote {EXPIRED:,} expiring + {LIVE:,} live threads in {notes['write_seconds']}s")
        shutil.copytree(data_dir, base_dir)  # expired rows stay there, hidden: its sweeper is off

        # 1. sweeper on: load from start-up until the counter reaches EXPIRED, plus 1 s
        finished: list[float] = []

        def swept(ticks: list[Tick]) -> bool:
            if ticks[-1].deleted >= EXPIRED and not finished:
                finished.append(ticks[-1].at)
            return bool(finished) and ticks[-1].at - finished[0] >= 1.0

        with serving(start_threadgate(data_dir, cpu, "--sweep-interval", "0.5", api_key=api_key)) as server:
            requests, ticks = await mixed_load(server, live, swept)
        if not finished:
            raise RuntimeError(f"the sweep did not finish within {TIME_LIMIT}s: {ticks[-1].deleted} deleted")
        with contextlib.closing(sqlite3.connect(db)) as conn:
            query = "SELECT count(*) FROM threads WHERE expires_us <= ?"
            left = conn.execute(query, (int(expire_at.timestamp() * 1e6),)).fetchone()[0]
        start = max(i for i, t in enumerate(ticks) if t.deleted == 0)  # the last poll before it began
        end = min(i for i, t in enumerate(ticks) if t.deleted >= EXPIRED)
        load_start = min(r.t0 for r in requests)
        warm = next(i for i, t in enumerate(ticks) if t.at >= load_start + warmup)
        during = window(requests, ticks[start], ticks[end])
        before = window(requests, ticks[warm], ticks[start]) if warm < start else {}
        sweep_seconds = round(ticks[end].at - ticks[start].at, 3)
        notes |= {"sweep_seconds": sweep_seconds, "sweep_seconds_resolution": "±0.05 s per end"}
        notes |= {
            "sweep_began_after_load_start_s": round(ticks[start].at - load_start, 3),
            "expired_rows_left": left,
        }
        notes |= {
            "failed_sweep_run": sum(1 for r in requests if r.error),
            "requests_sweep_run": len(requests),
        }
        log(f"sweep of {EXPIRED:,} took {sweep_seconds}s; {notes['failed_sweep_run']} failures")

        # 2. sweeper off, same data, same load, for as long as the sweep took (at least 3 s)
        span = max(3.0, sweep_seconds) + warmup
        with serving(
            start_threadgate(base_dir, cpu, "--sweep-interval", "0", api_key=api_key)
        ) as base_server:
            base_requests, base_ticks = await mixed_load(
                base_server, live, lambda t: t[-1].at - t[0].at >= span
            )
        bwarm = next(i for i, t in enumerate(base_ticks) if t.at >= base_ticks[0].at + warmup)
        baseline = window(base_requests, base_ticks[bwarm], base_ticks[-1])
        notes |= {"failed_baseline_run": sum(1 for r in base_requests if r.error)}
        notes |= {"requests_baseline_run": len(base_requests)}

    rows: list[Row] = []
    for op in (GET, POST):
        base = summarize([baseline[op]])
        rows.append(versus(f"{op}, sweeper off (baseline)", "rest", base, None))
        if op in before:
            rows.append(versus(f"{op}, sweeper on, before the sweep", "rest", summarize([before[op]]), base))
        rows.append(versus(f"{op}, during the sweep", "rest", summarize([during[op]]), base))
    notes["quiet_seconds_spent"] = 0.0
    lines = [
        f"load: {CONCURRENCY} httpx clients in this process, half {GET}, half {POST}; one run each",
        "vs floor: over the sweeper-off baseline; CPU is the server's for both operations together",
        f"sweep of {EXPIRED:,} expired threads: {sweep_seconds}s (±0.05 s per end); began "
        f"{notes['sweep_began_after_load_start_s']}s after the load started; expired rows left: {left}",
        f"failed or non-2xx requests: {notes['failed_sweep_run']} of {len(requests):,} (sweeper on), "
        f"{notes['failed_baseline_run']} of {len(base_requests):,} (baseline)",
    ]
    return Outcome(rows, notes, lines, [stats_table(rows)])
