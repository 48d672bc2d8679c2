"""``get-scaling``: ``GET /v1/threads/{id}`` (REST, wrk) and ``ThreadService/Get`` (gRPC,
h2load) with 10,000 and 1,000,000 threads in the store, written straight into SQLite
(``bench.fill.write_threads``) after a first start made the schema, the key and one model
thread; both servers then run at once, rounds interleaving them.  REST reads pick one of
1,000 random ids per request; h2load sends one body per run, so a gRPC run reads one id,
drawn anew for every run.  The 1M rows' "vs floor" columns are over the 10k rows'.
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

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_pb2, thread_service_pb2
from bench.fill import new_thread, store_bytes, write_threads
from bench.load_tools import GrpcSpec, HttpSpec
from bench.ops import THREADS
from bench.report import Outcome, count_label, ratio_table, ratios, stats_table
from bench.rounds import Context, Target, log, measure, runs_line
from bench.servers import start_threadgate
from bench.stats import Load
from bench.tool_runs import Labels, call_once, labels_of, tool_load
from testkit.server import Server, serving

SMALL, LARGE = 10_000, 1_000_000
SAMPLED_IDS = 1_000  # ids the REST reads pick among
PROTOCOLS = ("rest", "grpc")


def get_name(protocol: str, count: int) -> str:
    what = "REST GET /v1/threads/{id}" if protocol == "rest" else "gRPC ThreadService/Get"
    return f"{what}, {count_label(count)} threads"


def grpc_get(server: Server, tid: str) -> GrpcSpec:
    request = thread_service_pb2.GetThreadRequest(thread_id=tid).SerializeToString()
    return GrpcSpec(f"/{THREADS}/Get", request, dict(server.grpc_metadata))


async def read_labels(server: Server, ids: list[str]) -> dict[str, Labels]:
    """Five of the written threads read back through REST and gRPC: the labels each
    protocol's read is counted under."""
    found: dict[str, Labels] = {}
    for tid in random.sample(ids, 5):
        rest = HttpSpec("GET", (f"/v1/threads/{tid}",), server.auth_headers)
        for protocol, spec in (("rest", rest), ("grpc", grpc_get(server, tid))):
            found[protocol], reply = await labels_of(server, functools.partial(call_once, server, spec))
            read = reply.get("id") if protocol == "rest" else thread_pb2.Thread.FromString(reply).id
            if read != tid:
                raise RuntimeError(f"reading {tid} back through {protocol} gave {reply!r:.300}")
    return found


def get_load(server: Server, protocol: str, ids: list[str], labels: Labels) -> Load:
    if protocol == "rest":
        paths = tuple(f"/v1/threads/{tid}" for tid in random.sample(ids, min(SAMPLED_IDS, len(ids))))
        return tool_load(server, HttpSpec("GET", paths, server.auth_headers), labels)

    async def one_random_id() -> GrpcSpec:
        return grpc_get(server, random.choice(ids))

    return tool_load(server, one_random_id, labels)


async def run(ctx: Context) -> Outcome:
    cpu = ctx.placement.server_cpu
    notes: dict[str, Any] = {"threads": [SMALL, LARGE], "sampled_ids_rest": SAMPLED_IDS}
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-get-") as tmp:
        dirs = {count: Path(tmp) / count_label(count) for count in (SMALL, LARGE)}
        dirs[SMALL].mkdir()
        with serving(start_threadgate(dirs[SMALL], cpu)) as first:
            template = await new_thread(first)
        shutil.copytree(dirs[SMALL], dirs[LARGE])
        ids: dict[int, list[str]] = {}
        for count, data_dir in dirs.items():
            began, db = time.perf_counter(), data_dir / "threadgate.db"
            ids[count] = [template, *write_threads(db, template, count - 1, datetime.now(UTC))]
            notes[f"write_seconds_{count_label(count)}"] = seconds = round(time.perf_counter() - began, 1)
            log(f"wrote {count:,} threads straight into SQLite in {seconds:.1f}s")
        notes["db_bytes"] = {count_label(count): store_bytes(data_dir) for count, data_dir in dirs.items()}
        with (
            serving(start_threadgate(dirs[SMALL], cpu, api_key=first.api_key)) as small,
            serving(start_threadgate(dirs[LARGE], cpu, api_key=first.api_key)) as large,
        ):
            targets = []
            for count, server in ((SMALL, small), (LARGE, large)):
                labels = await read_labels(server, ids[count])
                for protocol in PROTOCOLS:
                    load = get_load(server, protocol, ids[count], labels[protocol])
                    targets.append(Target(get_name(protocol, count), server, load, get_name(protocol, SMALL)))
            targets.sort(key=lambda t: not t.name.startswith("REST"))  # REST rows first, then gRPC
            rows = await measure(ctx, targets)
    pairs = [(get_name(p, LARGE).split(",")[0], get_name(p, LARGE), get_name(p, SMALL)) for p in PROTOCOLS]
    notes["ratios"] = ratios(rows, pairs)
    sizes = ", ".join(f"{k} {v / 1e6:,.0f} MB" for k, v in notes["db_bytes"].items())
    lines = [
        "REST: wrk, each request one of 1,000 random ids; gRPC: h2load, one random id per run",
        runs_line(ctx.options),
        f"the {count_label(LARGE)} rows' 'vs floor' columns are over the {count_label(SMALL)} rows'; "
        f"database: {sizes}",
    ]
    title = f"{count_label(LARGE)} threads over {count_label(SMALL)}:"
    return Outcome(rows, notes, lines, [stats_table(rows), ratio_table(notes["ratios"], title)])
