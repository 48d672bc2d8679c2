"""Two scenarios about the store under threadgate.

``get-scaling``: ``GET /v1/threads/{id}`` (REST, wrk) and ``ThreadService/Get`` (gRPC,
h2load) with 10,000 and with 1,000,000 threads in the store.  A first start makes the
schema and the API key, and one thread through the API (its row is the model for the
others); with the server stopped, its data dir is copied and the threads are written
straight into SQLite, rows built by ``adapters.storage.rows.thread_to_row`` from
``core.model.Thread`` values (``bench.more_scenarios.write_threads`` does the same for
``sweep-under-load``), in transactions of 100,000.  Both servers then run at once, pinned
to the server CPU, and rounds interleave them.  REST reads pick, per request, one of
1,000 ids drawn at random from the store (a wrk Lua ``request`` function).  h2load sends
one body for a whole run, so each gRPC run reads one id, drawn at random from all the
store's ids for every run: those rows are hot in every cache, which the REST reads' are
not.  The 1M rows' "vs floor" columns are over the 10k rows': the 1M/10k ratios.

``durability``: REST thread creates at concurrency 32 (wrk with a Lua ``response``
callback writing the id of every 200 answer to a file as it arrives) for a few seconds,
then ``kill -9`` of the server mid-load, a restart on the same data dir, and a check
that every acknowledged thread is there: in SQLite directly, and through ``GET`` on the
restarted server.  One kill per round.  Any acknowledged create missing makes the run
fail (non-zero exit).
"""

from __future__ import annotations

import asyncio
import glob
import random
import shutil
import sqlite3
import string
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_pb2, thread_service_pb2
from bench.fill import create_thread
from bench.load import Load
from bench.loads import discover, h2load_load, http_client, rest_load
from bench.ops import THREADS, grpc_unary, ops_table
from bench.report import num
from bench.scenarios import Context, Options, Outcome, Row, Scenario, Target, log, measure
from bench.servers import ServerProcess, running, start_threadgate
from bench.tools import GrpcSpec, HttpSpec, run_wrk

SMALL = 10_000
LARGE = 1_000_000
SAMPLED_IDS = 1_000  # ids the REST reads pick among
BATCH = 100_000  # rows per transaction
_ALPHABET = string.ascii_letters + string.digits


def label(count: int) -> str:
    return f"{count // 1_000_000}M" if count % 1_000_000 == 0 else f"{count // 1000}k"


def write_threads(db: Path, template_id: str, count: int, rng: random.Random) -> list[str]:
    """``count`` threads shaped like ``template_id``'s (folder, creator, expiry policy), one
    microsecond apart, written straight into SQLite while no server has it open."""
    from adapters.storage.rows import THREAD_COLUMNS, thread_from_row, thread_to_row

    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the id index stays in memory
        row = conn.execute(f"SELECT {THREAD_COLUMNS} FROM threads WHERE id = ?", (template_id,)).fetchone()
        if row is None:
            raise LookupError(f"no thread {template_id} in {db}")
        template = thread_from_row(row)
        base = datetime.now(UTC)
        marks = ", ".join("?" * len(row))
        insert = f"INSERT INTO threads ({THREAD_COLUMNS}) VALUES ({marks})"
        ids: list[str] = []
        for first in range(0, count, BATCH):
            batch = []
            for i in range(first, min(count, first + BATCH)):
                at = base + timedelta(microseconds=i)
                tid = "thread_" + "".join(rng.choices(_ALPHABET, k=24))
                thread = attrs.evolve(template, id=tid, created_at=at, updated_at=at, last_activity_at=at)
                batch.append(thread_to_row(thread))
                ids.append(tid)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, batch)
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return ids


async def get_scaling(ctx: Context) -> Outcome:
    cpu = ctx.placement.server_cpu
    options = ctx.options
    notes: dict[str, Any] = {"threads": [SMALL, LARGE], "sampled_ids_rest": SAMPLED_IDS}
    rng = random.Random()
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-get-") as tmp:
        small_dir, large_dir = Path(tmp) / label(SMALL), Path(tmp) / label(LARGE)
        small_dir.mkdir()
        with running(start_threadgate(small_dir, cpu)) as first:
            api_key = first.api_key
            async with http_client(first, 1) as client:
                template = await create_thread(client)
        if not api_key:
            raise RuntimeError("the first start printed no API key")
        shutil.copytree(small_dir, large_dir)
        ids: dict[int, list[str]] = {}
        for count, data_dir in ((SMALL, small_dir), (LARGE, large_dir)):
            began = time.perf_counter()
            ids[count] = [template, *write_threads(data_dir / "threadgate.db", template, count - 1, rng)]
            seconds = time.perf_counter() - began
            notes[f"write_seconds_{label(count)}"] = round(seconds, 1)
            log(f"wrote {count:,} threads straight into SQLite in {seconds:.1f}s ({count / seconds:,.0f}/s)")
        notes["db_bytes"] = {
            label(c): sum(Path(p).stat().st_size for p in glob.glob(str(d / "threadgate.db*")))
            for c, d in ((SMALL, small_dir), (LARGE, large_dir))
        }
        with (
            running(start_threadgate(small_dir, cpu, api_key)) as small,
            running(start_threadgate(large_dir, cpu, api_key)) as large,
        ):
            targets: list[Target] = []
            metrics = {}
            for count, server in ((SMALL, small), (LARGE, large)):
                metrics[count] = await check_reads(server, ids[count])
            for protocol in ("rest", "grpc"):
                for count, server in ((SMALL, small), (LARGE, large)):
                    name = get_name(protocol, count)
                    metric = metrics[count][protocol]
                    load = get_load(server, protocol, ids[count], rng, options.rest_tool, metric)
                    targets.append(Target(name, protocol, server, load, get_name(protocol, SMALL)))
            rows = await measure(ctx, targets)
    notes["ratios"] = scale_ratios(rows, options)
    notes["grpc_ids"] = "one id per run, drawn at random from all the store's ids (h2load sends one body)"
    notes["quiet_seconds_spent"] = round(ctx.quiet.spent, 1)
    return Outcome(rows, notes)


def get_name(protocol: str, count: int) -> str:
    what = "REST GET /v1/threads/{id}" if protocol == "rest" else "gRPC ThreadService/Get"
    return f"{what}, {label(count)} threads"


def get_load(
    server: ServerProcess,
    protocol: str,
    ids: list[str],
    rng: random.Random,
    tool: str,
    metric: tuple[str, str],
) -> Load:
    if protocol == "rest":
        paths = tuple(f"/v1/threads/{tid}" for tid in rng.sample(ids, min(SAMPLED_IDS, len(ids))))
        spec = HttpSpec("GET", paths, server.headers(), random_path=True)
        return rest_load(server, spec, tool, metric=metric)

    async def grpc_spec() -> GrpcSpec:
        return grpc_get(server, rng.choice(ids))

    return h2load_load(server, grpc_spec, metric=metric)


def grpc_get(server: ServerProcess, tid: str) -> GrpcSpec:
    request = thread_service_pb2.GetThreadRequest(thread_id=tid)
    return GrpcSpec(
        f"/{THREADS}/Get", request.SerializeToString(), {"authorization": f"Bearer {server.api_key}"}
    )


async def check_reads(server: ServerProcess, ids: list[str]) -> dict[str, tuple[str, str]]:
    """A few of the written threads, read back through REST and gRPC; the metric labels
    each protocol's read is counted under."""
    tids = random.sample(ids, 5)

    async def rest_get(tid: str) -> None:
        async with http_client(server, 1) as client:
            r = await client.get(f"/v1/threads/{tid}")
        if r.status_code != 200 or r.json().get("id") != tid:
            raise RuntimeError(f"GET /v1/threads/{tid}: HTTP {r.status_code} {r.text[:300]}")

    async def grpc_get_one(tid: str) -> None:
        thread = thread_pb2.Thread.FromString(await grpc_unary(server, grpc_get(server, tid)))
        if thread.id != tid:
            raise RuntimeError(f"ThreadService/Get {tid} answered {thread}")

    for tid in tids[1:]:
        await rest_get(tid)
        await grpc_get_one(tid)
    return {
        "rest": await discover(server, lambda: rest_get(tids[0])),
        "grpc": await discover(server, lambda: grpc_get_one(tids[0])),
    }


def scale_ratios(rows: list[Row], options: Options) -> list[dict[str, Any]]:
    by_key = {(r.operation, r.stats.concurrency): r for r in rows}
    out = []
    for protocol in ("rest", "grpc"):
        for concurrency in options.concurrency:
            small = by_key.get((get_name(protocol, SMALL), concurrency))
            large = by_key.get((get_name(protocol, LARGE), concurrency))
            if small is None or large is None:
                continue
            out.append(
                {
                    "operation": get_name(protocol, LARGE).split(",")[0],
                    "concurrency": concurrency,
                    "p50_ratio": large.stats.p50_ms / small.stats.p50_ms,
                    "p99_ratio": large.stats.p99_ms / small.stats.p99_ms,
                    "rps_ratio": large.throughput_vs_floor,
                    "rps_ratio_median": large.throughput_vs_floor_median,
                    "cpu_per_request_ratio": large.cpu_per_request_vs_floor,
                }
            )
    return out


# --- durability ------------------------------------------------------------------------------

DURABILITY_CONCURRENCY = 32
AFTER_KILL = 0.5  # seconds the load goes on against the dead server
CHECK_CONCURRENCY = 16


def thread_count(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM threads").fetchone()[0])
    finally:
        conn.close()


def present_in_sqlite(db: Path, ids: list[str]) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        found: set[str] = set()
        for first in range(0, len(ids), 500):
            chunk = ids[first : first + 500]
            marks = ", ".join("?" * len(chunk))
            found |= {r[0] for r in conn.execute(f"SELECT id FROM threads WHERE id IN ({marks})", chunk)}
        return found
    finally:
        conn.close()


async def present_via_get(server: ServerProcess, ids: list[str]) -> tuple[set[str], dict[int, int]]:
    """Ids the restarted server answers 200 for, and every status seen."""
    found: set[str] = set()
    statuses: dict[int, int] = {}
    queue = list(ids)

    async def worker() -> None:
        async with http_client(server, 1) as client:
            while queue:
                tid = queue.pop()
                r = await client.get(f"/v1/threads/{tid}")
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200 and r.json().get("id") == tid:
                    found.add(tid)

    await asyncio.gather(*(worker() for _ in range(CHECK_CONCURRENCY)))
    return found, statuses


async def create_until_killed(
    server: ServerProcess, tool: str, kill_at: float, id_dir: Path
) -> tuple[list[str], dict[str, Any]]:
    """Create threads at DURABILITY_CONCURRENCY; SIGKILL the server ``kill_at`` seconds in.
    Returns every id whose 200 answer arrived, and what the load generator saw."""
    headers = {**server.headers(), "Content-Type": "application/json"}
    spec = HttpSpec("POST", ("/v1/threads",), headers, "{}")
    if tool == "wrk":
        prefix = id_dir / "ids-"
        run = asyncio.ensure_future(
            asyncio.to_thread(
                run_wrk, server.url(), spec, DURABILITY_CONCURRENCY, kill_at + AFTER_KILL, record_ids=prefix
            )
        )
        await asyncio.sleep(kill_at)
        server.kill()
        result = await run
        acked = [line for f in sorted(id_dir.glob("ids-*.txt")) for line in f.read_text().split()]
        return acked, {
            "requests": result.requests,
            "non_2xx_or_socket_errors": result.errors,
            "detail": result.describe_errors(),
        }
    acked = []
    errors = 0
    stop = asyncio.Event()

    async def worker() -> None:
        nonlocal errors
        async with http_client(server, 1) as client:
            while not stop.is_set():
                try:
                    r = await client.post("/v1/threads", json={})
                except httpx.HTTPError:
                    errors += 1
                    await asyncio.sleep(0.01)
                    continue
                if r.status_code == 200:
                    acked.append(str(r.json()["id"]))
                else:
                    errors += 1

    async def killer() -> None:
        await asyncio.sleep(kill_at)
        server.kill()
        await asyncio.sleep(AFTER_KILL)
        stop.set()

    await asyncio.gather(killer(), *(worker() for _ in range(DURABILITY_CONCURRENCY)))
    return acked, {"requests": len(acked) + errors, "non_2xx_or_socket_errors": errors, "detail": None}


async def durability(ctx: Context) -> Outcome:
    cpu = ctx.placement.server_cpu
    options = ctx.options
    kill_at = max(2.0, options.duration)
    cycles: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-durability-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        db = data_dir / "threadgate.db"
        first = start_threadgate(data_dir, cpu)
        api_key = first.api_key
        server: ServerProcess | None = first
        try:
            for cycle in range(1, options.rounds + 1):
                assert server is not None
                before = thread_count(db)
                id_dir = Path(tmp) / f"ids-{cycle}"
                id_dir.mkdir()
                log(
                    f"cycle {cycle}: creating threads at c={DURABILITY_CONCURRENCY}, "
                    f"kill -9 after {kill_at:g}s"
                )
                killed, server = server, None
                acked, seen = await create_until_killed(killed, options.rest_tool, kill_at, id_dir)
                server = start_threadgate(data_dir, cpu, api_key)
                in_db = present_in_sqlite(db, acked)
                via_get, statuses = await present_via_get(server, acked)
                after = thread_count(db)
                missing = sorted(set(acked) - (in_db & via_get))
                item = {
                    "cycle": cycle,
                    "load_seconds_before_kill": kill_at,
                    "acknowledged": len(acked),
                    "distinct_acknowledged": len(set(acked)),
                    "present_in_sqlite": len(in_db),
                    "get_200_after_restart": len(via_get),
                    "get_statuses": {str(k): v for k, v in sorted(statuses.items())},
                    "missing": len(missing),  # not in SQLite, or not answered by GET
                    "missing_ids": missing[:20],
                    "missing_in_sqlite": len(set(acked) - in_db),
                    "not_found_via_get": len(set(acked) - via_get),
                    "rows_added": after - before,
                    "committed_but_unacknowledged": after - before - len(set(acked)),
                    "load_generator": seen,
                }
                cycles.append(item)
                log(
                    f"cycle {cycle}: {len(acked):,} acknowledged creates; after kill -9 and restart "
                    f"{len(in_db):,} in SQLite, {len(via_get):,} answered by GET; missing {len(missing)}"
                )
        finally:
            if server is not None:
                server.stop()
    notes: dict[str, Any] = {
        "concurrency": DURABILITY_CONCURRENCY,
        "tool": options.rest_tool,
        "cycles": cycles,
        "acknowledged_total": sum(c["acknowledged"] for c in cycles),
        "missing_total": sum(c["missing"] for c in cycles),
    }
    if not notes["acknowledged_total"]:
        notes["failed"] = "no create was acknowledged before the kill: nothing was tested"
    elif notes["missing_total"]:
        notes["failed"] = (
            f"{notes['missing_total']} acknowledged creates missing after kill -9 and restart "
            f"(of {notes['acknowledged_total']})"
        )
    return Outcome([], notes)


# --- report ----------------------------------------------------------------------------------


def render(name: str, outcome: Outcome, placement: str, options: Options) -> str:
    notes = outcome.notes
    if name == "durability":
        lines = [
            f"## {name}",
            "",
            f"placement: {placement}",
            f"REST POST /v1/threads at c={notes['concurrency']} ({notes['tool']}), kill -9 mid-load, "
            "restart on the same data dir, then every acknowledged id looked up in SQLite and by GET",
            "",
            "| cycle | load before kill s | acknowledged | in SQLite | GET 200 | missing | rows added "
            "| committed, not acknowledged |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for c in notes["cycles"]:
            lines.append(
                f"| {c['cycle']} | {c['load_seconds_before_kill']:g} | {c['acknowledged']:,} "
                f"| {c['present_in_sqlite']:,} | {c['get_200_after_restart']:,} "
                f"| {c['missing']} | {c['rows_added']:,} "
                f"| {c['committed_but_unacknowledged']} |"
            )
        verdict = notes.get("failed") or (
            f"acknowledged {notes['acknowledged_total']:,}, missing {notes['missing_total']}"
        )
        lines += ["", verdict]
        return "\n".join(lines)
    lg = "wrk, each request one of 1,000 random ids" if options.rest_tool == "wrk" else "httpx"
    lines = [
        f"## {name}",
        "",
        f"placement: {placement}",
        f"REST: {lg}; gRPC: h2load, one random id per run; "
        f"{options.rounds} round(s) of {options.warmup:g}s warm-up + {options.duration:g}s; "
        "the 1M rows' 'vs floor' columns are over the 10k rows'",
        f"threads written: {label(SMALL)} in {notes['write_seconds_10k']}s, {label(LARGE)} in "
        f"{notes['write_seconds_1M']}s; database bytes: "
        + ", ".join(f"{k} {v / 1e6:,.0f} MB" for k, v in notes["db_bytes"].items()),
        "",
        ops_table(outcome.rows),
        "",
        f"{label(LARGE)} threads over {label(SMALL)}:",
        "",
        "| operation | conc | p50 | p99 | req/s | req/s (median of rounds) | server µs/req |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in notes["ratios"]:
        lines.append(
            f"| {r['operation']} | {r['concurrency']} | {num(r['p50_ratio'])} | {num(r['p99_ratio'])} "
            f"| {num(r['rps_ratio'])} | {num(r['rps_ratio_median'])} | {num(r['cpu_per_request_ratio'])} |"
        )
    return "\n".join(lines)


# keep the names in step with bench/__main__.py's SCENARIO_NAMES
STORE_SCENARIOS: dict[str, Scenario] = {"get-scaling": get_scaling, "durability": durability}
