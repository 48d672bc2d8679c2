"""``durability``: REST thread creates at concurrency 32 through wrk, whose Lua ``response``
callback writes the id of every 200 answer to a file as it arrives; ``kill -9`` of the
server a few seconds in, mid-load; a restart on the same data dir; then every
acknowledged thread looked up in SQLite directly and through ``GET`` on the restarted
server.  One kill per round.  Any acknowledged create missing fails the run (exit 1).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.load_tools import HttpSpec, run_wrk
from bench.report import Outcome, Table
from bench.rounds import Context, log
from bench.servers import start_threadgate
from testkit.server import Server

CONCURRENCY = 32
AFTER_KILL = 0.5  # seconds the load goes on against the dead server
CHECK_CONCURRENCY = 16


def in_sqlite(db: Path, ids: list[str]) -> set[str]:
    """Those of ``ids`` that are rows in ``db``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        found: set[str] = set()
        for first in range(0, len(ids), 500):
            chunk = ids[first : first + 500]
            query = f"SELECT id FROM threads WHERE id IN ({', '.join('?' * len(chunk))})"
            found |= {r[0] for r in conn.execute(query, chunk)}
        return found
    finally:
        conn.close()


def thread_count(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM threads").fetchone()[0])
    finally:
        conn.close()


async def answered_by_get(server: Server, ids: list[str]) -> tuple[set[str], dict[int, int]]:
    """Ids the server answers 200 for, and every status seen."""
    found: set[str] = set()
    statuses: dict[int, int] = {}
    queue = list(ids)

    async def worker() -> None:
        async with httpx.AsyncClient(
            base_url=server.origin, headers=server.auth_headers, timeout=10
        ) as client:
            while queue:
                tid = queue.pop()
                r = await client.get(f"/v1/threads/{tid}")
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200 and r.json().get("id") == tid:
                    found.add(tid)

    await asyncio.gather(*(worker() for _ in range(CHECK_CONCURRENCY)))
    return found, statuses


async def create_until_killed(
    server: Server, kill_at: float, id_dir: Path
) -> tuple[list[str], dict[str, Any]]:
    """Create threads; SIGKILL the server ``kill_at`` seconds in.  Every id whose 200 answer
    arrived, and what wrk saw."""
    spec = HttpSpec(
        "POST", ("/v1/threads",), {**server.auth_headers, "Content-Type": "application/json"}, "{}"
    )
    seconds = kill_at + AFTER_KILL
    run = asyncio.ensure_future(
        asyncio.to_thread(run_wrk, server.origin, spec, CONCURRENCY, seconds, id_dir / "ids-")
    )
    await asyncio.sleep(kill_at)
    server.stop(signal.SIGKILL)
    result = await run
    acked = [line for f in sorted(id_dir.glob("ids-*.txt")) for line in f.read_text().split()]
    return acked, {"requests": result.completed, "errors": result.errors, "detail": result.error_text}


async def run(ctx: Context) -> Outcome:
    cpu, options = ctx.placement.server_cpu, ctx.options
    kill_at = max(2.0, options.duration)
    cycles: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-durability-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        db = data_dir / "threadgate.db"
        server = start_threadgate(data_dir, cpu)
        try:
            for cycle in range(1, options.rounds + 1):
                before = thread_count(db)
                (id_dir := Path(tmp) / f"ids-{cycle}").mkdir()
                log(f"cycle {cycle}: creating threads at c={CONCURRENCY}, kill -9 after {kill_at:g}s")
                acked, seen = await create_until_killed(server, kill_at, id_dir)
                server = start_threadgate(data_dir, cpu, api_key=server.api_key)
                stored = in_sqlite(db, acked)
                via_get, statuses = await answered_by_get(server, acked)
                missing = sorted(set(acked) - (stored & via_get))
                added = thread_count(db) - before
                cycles.append(
                    {
                        "cycle": cycle,
                        "load_seconds_before_kill": kill_at,
                        "acknowledged": len(acked),
                        "distinct_acknowledged": len(set(acked)),
                        "present_in_sqlite": len(stored),
                        "get_200_after_restart": len(via_get),
                        "get_statuses": {str(k): v for k, v in sorted(statuses.items())},
                        "missing": len(missing),  # not in SQLite, or not answered by GET
                        "missing_ids": missing[:20],
                        "rows_added": added,
                        "committed_but_unacknowledged": added - len(set(acked)),
                        "load_generator": seen,
                    }
                )
                log(
                    f"cycle {cycle}: {len(acked):,} acknowledged creates; after kill -9 and restart "
                    f"{len(stored):,} in SQLite, {len(via_get):,} answered by GET; missing {len(missing)}"
                )
        finally:
            server.stop()
    acknowledged, missing_total = sum(c["acknowledged"] for c in cycles), sum(c["missing"] for c in cycles)
    notes: dict[str, Any] = {"concurrency": CONCURRENCY, "cycles": cycles}
    notes |= {"acknowledged_total": acknowledged, "missing_total": missing_total}
    if not acknowledged:
        notes["failed"] = "no create was acknowledged before the kill: nothing was tested"
    elif missing_total:
        notes["failed"] = (
            f"{missing_total} acknowledged creates missing after kill -9 and restart (of {acknowledged})"
        )
    keys = "cycle load_seconds_before_kill acknowledged present_in_sqlite get_200_after_restart missing"
    keys += " rows_added committed_but_unacknowledged"
    header = ("cycle", "load before kill s", "acknowledged", "in SQLite", "GET 200", "missing", "rows added")
    table = Table(
        (*header, "committed, not acknowledged"), [tuple(f"{c[k]:,}" for k in keys.split()) for c in cycles]
    )
    lines = [
        f"REST POST /v1/threads at c={CONCURRENCY} (wrk), kill -9 mid-load, restart on the same data dir, "
        "then every acknowledged id looked up in SQLite and by GET",
        notes.get("failed") or f"acknowledged {acknowledged:,}, missing {missing_total}",
    ]
    return Outcome([], notes, lines, [table])
