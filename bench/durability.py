"""``durability``: REST thread creates at concurrency 32 through wrk, which records the id of
every 200 answer as it arrives; ``kill -9`` of the server mid-load, a restart on the same
data dir, and every acknowledged thread looked up in SQLite and through ``GET``.  One kill
per round; any acknowledged create missing fails the run (exit 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load_tools import HttpSpec, run_wrk
from bench.report import Outcome, Table
from bench.rounds import Context, log
from bench.servers import client, start_threadgate
from testkit.server import Server

CONCURRENCY = 32
AFTER_KILL = 0.5  # seconds the load goes on against the dead server
# the table: its headings, and the keys of a cycle's result they show
HEADINGS = (
    "cycle|load before kill s|acknowledged|in SQLite|GET 200|missing|rows added|committed, not acknowledged"
)
KEYS = "cycle load_seconds_before_kill acknowledged present_in_sqlite get_200_after_restart missing "
KEYS += "rows_added committed_but_unacknowledged"


def stored_ids(db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM threads")}


async def answered_by_get(server: Server, ids: list[str]) -> tuple[set[str], dict[str, int]]:
    """Ids the server answers 200 for, and every status seen."""
    found: set[str] = set()
    statuses: Counter[str] = Counter()
    queue = list(ids)

    async def worker() -> None:
        async with client(server) as c:
            while queue:
                tid = queue.pop()
                r = await c.get(f"/v1/threads/{tid}")
                statuses[str(r.status_code)] += 1
                if r.status_code == 200 and r.json().get("id") == tid:
                    found.add(tid)

    await asyncio.gather(*(worker() for _ in range(16)))
    return found, dict(sorted(statuses.items()))


async def kill_cycle(
    server: Server, data_dir: Path, cpu: int | None, kill_at: float, cycle: int
) -> tuple[Server, dict[str, Any]]:
    """Create threads, SIGKILL the server ``kill_at`` seconds in, restart it: the restarted
    server, and what became of every create whose 200 answer arrived."""
    before = stored_ids(db := data_dir / "threadgate.db")
    (id_dir := data_dir.parent / f"ids-{cycle}").mkdir()
    log(f"cycle {cycle}: creating threads at c={CONCURRENCY}, kill -9 after {kill_at:g}s")
    posting = {**server.auth_headers, "Content-Type": "application/json"}
    spec = HttpSpec("POST", ("/v1/threads",), posting, "{}")
    args = (server.origin, spec, CONCURRENCY, kill_at + AFTER_KILL, id_dir / "ids-")
    run = asyncio.ensure_future(asyncio.to_thread(run_wrk, *args))
    await asyncio.sleep(kill_at)
    server.stop(signal.SIGKILL)
    result = await run
    acked = [line for f in sorted(id_dir.glob("ids-*.txt")) for line in f.read_text().split()]
    server = start_threadgate(data_dir, cpu, api_key=server.api_key)
    stored = stored_ids(db) & set(acked)
    via_get, statuses = await answered_by_get(server, acked)
    missing = sorted(set(acked) - (stored & via_get))  # not in SQLite, or not answered by GET
    added = len(stored_ids(db) - before)
    log(
        f"cycle {cycle}: {len(acked):,} acknowledged creates; after kill -9 and restart "
        f"{len(stored):,} in SQLite, {len(via_get):,} answered by GET; missing {len(missing)}"
    )
    return server, {
        "cycle": cycle,
        "load_seconds_before_kill": kill_at,
        "acknowledged": len(acked),
        "distinct_acknowledged": len(set(acked)),
        "present_in_sqlite": len(stored),
        "get_200_after_restart": len(via_get),
        "get_statuses": statuses,
        "missing": len(missing),
        "missing_ids": missing[:20],
        "rows_added": added,
        "committed_but_unacknowledged": added - len(set(acked)),
        "load_generator": {
            "requests": result.completed,
            "errors": result.errors,
            "detail": result.error_text,
        },
    }


async def run(ctx: Context) -> Outcome:
    kill_at = max(2.0, ctx.options.duration)
    cycles: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-durability-") as tmp:
        (data_dir := Path(tmp) / "data").mkdir()
        server = start_threadgate(data_dir, cpu := ctx.placement.server_cpu)
        try:
            for cycle in range(1, ctx.options.rounds + 1):
                server, result = await kill_cycle(server, data_dir, cpu, kill_at, cycle)
                cycles.append(result)
        finally:
            server.stop()
    acknowledged, missing = sum(c["acknowledged"] for c in cycles), sum(c["missing"] for c in cycles)
    notes: dict[str, Any] = {"concurrency": CONCURRENCY, "cycles": cycles}
    notes |= {"acknowledged_total": acknowledged, "missing_total": missing}
    if not acknowledged:
        notes["failed"] = "no create was acknowledged before the kill: nothing was tested"
    elif missing:
        notes["failed"] = (
            f"{missing} acknowledged creates missing after kill -9 and restart (of {acknowledged})"
        )
    lines = [
        f"REST POST /v1/threads at c={CONCURRENCY} (wrk), kill -9 mid-load, restart on the same data dir, "
        "then every acknowledged id looked up in SQLite and by GET",
        notes.get("failed") or f"acknowledged {acknowledged:,}, missing {missing}",
    ]
    cells = [tuple(f"{c[k]:,}" for k in KEYS.split()) for c in cycles]
    return Outcome([], notes, lines, [Table(tuple(HEADINGS.split("|")), cells)])
