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

from bench import source
from bench.fill import new_thread
from bench.load_tools import HttpSpec
from bench.report import Outcome, Row, ratio_table, ratios, stats_table
from bench.rounds import Context, Target, measure, runs_line
from bench.servers import postgres, start_threadgate
from bench.tool_runs import tool_load
from testkit.server import Server, create_key, serving

OPERATIONS = ("POST /v1/threads", "GET /v1/threads/{id}")
BACKENDS = ("sqlite", "postgresql")


async def measure_server(ctx: Context, server: Server, label: str) -> list[Row]:
    tid = await new_thread(server)
    posting = {**server.auth_headers, "Content-Type": "application/json"}
    create = HttpSpec("POST", ("/v1/threads",), posting, "{}")
    get = HttpSpec("GET", (f"/v1/threads/{tid}",), server.auth_headers)
    loads = zip(OPERATIONS, (create, get), strict=True)
    return await measure(
        ctx, [Target(f"{label}: {op}", server, tool_load(server, spec), None) for op, spec in loads]
    )


async def run(ctx: Context) -> Outcome:
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="threadgate-bench-workers-")))
        for backend, database in zip(BACKENDS, ("sqlite", stack.enter_context(postgres())), strict=True):
            (data_dir := tmp / backend).mkdir()
            key = create_key(
                data_dir, ["default"], database=database, cwd=source.tree(), env=source.child_env()
            )
            for workers in (1, 2):
                args = ("--database", database, "--workers", str(workers))
                with serving(start_threadgate(data_dir, None, *args, api_key=key)) as server:
                    rows += await measure_server(ctx, server, f"{backend} --workers {workers}")
    pairs = [
        (f"{b} {op}", f"{b} --workers 2: {op}", f"{b} --workers 1: {op}")
        for b in BACKENDS
        for op in OPERATIONS
    ]
    notes: dict[str, Any] = {"ratios": ratios(rows, pairs)}
    lines = [
        "load: wrk -t1 -c<conc>; threadgate and PostgreSQL not pinned (both CPUs); server CPU = all "
        "server processes; others' CPU includes PostgreSQL's",
        runs_line(ctx.options),
    ]
    return Outcome(rows, notes, lines, [stats_table(rows), ratio_table(notes["ratios"], "2 workers over 1:")])
