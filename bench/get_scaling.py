"""``get-scaling``: ``GET /v1/threads/{id}`` (REST, wrk) and ``ThreadService/Get`` (gRPC,
h2load) with 10,000 and with 1,000,000 threads in the store.

A first start makes the schema, the API key and one thread through the API, the model
of the others; with the server stopped its data dir is copied and the threads are written
straight into SQLite (``bench.fill.write_threads``).  Both servers then run at once,
pinned to the server CPU, and rounds interleave them.  REST reads pick, per request, one
of 1,000 ids drawn at random from the store (a wrk Lua ``request`` function).  h2load
sends one body for a whole run, so each gRPC run reads one id, drawn at random from all
the store's ids for every run.  The 1M rows' "vs floor" columns are over the 10k rows'.
"""

from __future__ import annotations

import functools
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_pb2, thread_service_pb2
from bench.fill import create_thread, write_threads
from bench.load_tools import GrpcSpec, HttpSpec
from bench.ops import THREADS
from bench.report import Outcome, ratio_table, ratios, stats_table
from bench.rounds import Context, Target, log, measure, runs_line
from bench.server_metrics import Labels, labels_of
from bench.servers import start_threadgate
from bench.stats import Load
from bench.tool_runs import call_once, h2load_load, wrk_load
from testkit.server import Server, serving

SMALL, LARGE = 10_000, 1_000_000
SAMPLED_IDS = 1_000  # ids the REST reads pick among


def label(count: int) -> str:
    return f"{count // 1_000_000}M" if count % 1_000_000 == 0 else f"{count // 1000}k"


def get_name(protocol: str, count: int) -> str:
    what = "REST GET /v1/threads/{id}" if protocol == "rest" else "gRPC ThreadService/Get"
    return f"{what}, {label(count)} threads"


def grpc_get(server: Server, tid: str) -> GrpcSpec:
    request = thread_service_pb2.GetThreadRequest(thread_id=tid).SerializeToString()
    return GrpcSpec(f"/{THREADS}/Get", request, dict(server.grpc_metadata))


def rest_get(server: Server, tid: str) -> HttpSpec:
    return HttpSpec("GET", (f"/v1/threads/{tid}",), server.auth_headers)


async def read_labels(server: Server, ids: list[str]) -> dict[str, Labels]:
    """A few of the written threads, read back through REST and gRPC; the labels each
    protocol's read is counted under."""
    found = {}
    for tid in random.sample(ids, 5):
        rest_labels, body = await labels_of(
            server, functools.partial(call_once, server, rest_get(server, tid))
        )
        grpc_labels, reply = await labels_of(
            server, functools.partial(call_once, server, grpc_get(server, tid))
        )
        if body.get("id") != tid or thread_pb2.Thread.FromString(reply).id != tid:
            raise RuntimeError(f"reading {tid} back: REST answered {body}, gRPC {reply!r:.300}")
        found = {"rest": rest_labels, "grpc": grpc_labels}
    return found


def get_load(server: Server, protocol: str, ids: list[str], labels: Labels) -> Load:
    if protocol == "rest":
        paths = tuple(f"/v1/threads/{tid}" for tid in random.sample(ids, min(SAMPLED_IDS, len(ids))))
        return wrk_load(server, HttpSpec("GET", paths, server.auth_headers, random_path=True), labels)

    async def one_random_id() -> GrpcSpec:
        return grpc_get(server, random.choice(ids))

    return h2load_load(server, one_random_id, labels)


async def run(ctx: Context) -> Outcome:
    cpu, options = ctx.placement.server_cpu, ctx.options
    notes: dict[str, Any] = {"threads": [SMALL, LARGE], "sampled_ids_rest": SAMPLED_IDS}
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-get-") as tmp:
        dirs = {SMALL: Path(tmp) / label(SMALL), LARGE: Path(tmp) / label(LARGE)}
        dirs[SMALL].mkdir()
        with serving(start_threadgate(dirs[SMALL], cpu)) as first:
            api_key = first.api_key
            async with httpx.AsyncClient(base_url=first.origin, headers=first.auth_headers) as client:
                template = await create_thread(client)
        shutil.copytree(dirs[SMALL], dirs[LARGE])
        ids: dict[int, list[str]] = {}
        for count, data_dir in dirs.items():
            began = time.perf_counter()
            ids[count] = [
                template,
                *write_threads(data_dir / "threadgate.db", template, count - 1, datetime.now(UTC)),
            ]
            notes[f"write_seconds_{label(count)}"] = seconds = round(time.perf_counter() - began, 1)
            log(f"wrote {count:,} threads straight into SQLite in {seconds:.1f}s")
        notes["db_bytes"] = {
            label(c): sum(p.stat().st_size for p in d.glob("threadgate.db*")) for c, d in dirs.items()
        }
        with (
            serving(start_threadgate(dirs[SMALL], cpu, api_key=api_key)) as small,
            serving(start_threadgate(dirs[LARGE], cpu, api_key=api_key)) as large,
        ):
            servers = {SMALL: small, LARGE: large}
            labels = {count: await read_labels(server, ids[count]) for count, server in servers.items()}
            targets = [
                Target(
                    get_name(protocol, count),
                    protocol,
                    server,
                    get_load(server, protocol, ids[count], labels[count][protocol]),
                    get_name(protocol, SMALL),
                )
                for protocol in ("rest", "grpc")
                for count, server in servers.items()
            ]
            rows = await measure(ctx, targets)
    pairs = [
        (get_name(p, LARGE).split(",")[0], get_name(p, LARGE), get_name(p, SMALL)) for p in ("rest", "grpc")
    ]
    notes["ratios"] = ratios(rows, pairs)
    notes["quiet_seconds_spent"] = round(ctx.quiet.spent, 1)
    sizes = ", ".join(f"{k} {v / 1e6:,.0f} MB" for k, v in notes["db_bytes"].items())
    lines = [
        "REST: wrk, each request one of 1,000 random ids; gRPC: h2load, one random id per run",
        runs_line(options),
        f"the {label(LARGE)} rows' 'vs floor' columns are over the {label(SMALL)} rows'; database: {sizes}",
    ]
    tables = [stats_table(rows), ratio_table(notes["ratios"], f"{label(LARGE)} threads over {label(SMALL)}:")]
    return Outcome(rows, notes, lines, tables)
