"""``workers``: REST create (``POST /v1/threads``) and get (``GET /v1/threads/{id}``) through
wrk at concurrency 32, with ``--workers 1`` and ``--workers 2``, on SQLite and on a
throw-away PostgreSQL (fsync=off).  threadgate and PostgreSQL are not pinned: with two
workers both CPUs serve, and the load generator shares one of them.  The server's CPU is
that of all its processes (the supervisor and its workers).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench import source
from bench.fill import create_thread
from bench.load_tools import HttpSpec
from bench.report import Outcome, Row, ratio_table, ratios, stats_table
from bench.rounds import Context, Target, measure, runs_line
from bench.servers import postgres, start_threadgate
from bench.tool_runs import wrk_load
from testkit.server import create_key, serving

OPERATIONS = ("POST /v1/threads", "GET /v1/threads/{id}")


async def run(ctx: Context) -> Outcome:
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="threadgate-bench-workers-")))
        dsn = stack.enter_context(postgres())
        for backend, database in (("sqlite", "sqlite"), ("postgresql", dsn)):
            (data_dir := tmp / backend).mkdir()
            key = create_key(
                data_dir, ["default"], database=database, cwd=source.tree(), env=source.child_env()
            )
            for workers in (1, 2):
                args = ("--database", database, "--workers", str(workers))
                with serving(start_threadgate(data_dir, None, *args, api_key=key)) as server:
                    async with httpx.AsyncClient(
                        base_url=server.origin, headers=server.auth_headers
                    ) as client:
                        tid = await create_thread(client)
                    posting = {**server.auth_headers, "Content-Type": "application/json"}
                    specs = (
                        HttpSpec("POST", ("/v1/threads",), posting, "{}"),
                        HttpSpec("GET", (f"/v1/threads/{tid}",), server.auth_headers),
                    )
                    name = f"{backend} --workers {workers}: "
                    targets = [
                        Target(name + op, "rest", server, wrk_load(server, spec), None)
                        for op, spec in zip(OPERATIONS, specs, strict=True)
                    ]
                    rows += await measure(ctx, targets)
    pairs = [
        (f"{backend} {op}", f"{backend} --workers 2: {op}", f"{backend} --workers 1: {op}")
        for backend in ("sqlite", "postgresql")
        for op in OPERATIONS
    ]
    notes: dict[str, Any] = {"ratios": ratios(rows, pairs), "quiet_seconds_spent": round(ctx.quiet.spent, 1)}
    lines = [
        "load: wrk -t1 -c<conc>; threadgate and PostgreSQL not pinned (both CPUs); server CPU = all "
        "server processes; others' CPU includes PostgreSQL's",
        runs_line(ctx.options),
    ]
    return Outcome(rows, notes, lines, [stats_table(rows), ratio_table(notes["ratios"], "2 workers over 1:")])
