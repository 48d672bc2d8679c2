"""``ops`` (the default scenario): every threadgate operation against bare floors measured
in the same run.

Servers, each its own subprocess pinned to the server CPU: the REST floor (a no-op
Starlette route on threadgate's Hypercorn configuration), the gRPC floor (a no-op
grpc.aio unary method), the gRPC sync floor (the same method on ``grpc.server``, 16
threads), and ``threadgate serve`` on a fresh SQLite data dir (``--backend postgresql``:
a throw-away PostgreSQL), its API key on every request.

Operations, REST through wrk (``-t1 -cN``) and gRPC through h2load (``-c1 -mN``):

- REST ``POST /v1/threads {}``, ``GET /v1/threads/{id}``, ``POST /v1/threads/{id}/messages``
  (~200 characters), ``GET /v1/threads/{id}/messages?limit=20`` on a thread of 1,000;
- gRPC ``ThreadService/Create`` (folder ``default``), ``ThreadService/Get``,
  ``MessageService/Create`` (one ~200-character text part) and ``MessageService/List``
  (a server stream of the 20 messages of a thread holding exactly 20).

Every invocation of a tool that creates messages (warm-up and measured alike) appends to
a new, empty thread, so no run nears the per-thread cap and the list threads never
change.  Every operation is called once for real before any timing, its answer checked;
that call also finds the labels threadgate's ``/metrics`` counts it under, from which
each run's errors are counted.  Ratios: REST over the REST floor, gRPC (and the sync
floor) over the grpc.aio floor; the targets are checked at the highest concurrency.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from attrs import frozen

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import (
    message_pb2,
    message_service_pb2,
    thread_pb2,
    thread_service_pb2,
)
from bench import floors, load_tools
from bench.fill import create_thread, fill_api, message_text
from bench.load_tools import GrpcSpec, HttpSpec
from bench.report import Outcome, Row, Table, num, stats_table
from bench.rounds import Context, Options, Target, log, measure, runs_line
from bench.server_metrics import labels_of
from bench.servers import postgres, start_floor, start_threadgate
from bench.tool_runs import GrpcSource, HttpSource, call_once, h2load_load, resolve, wrk_load
from testkit.server import Server, serving

REST_FLOOR, GRPC_FLOOR = "REST floor (no-op route)", "gRPC floor (no-op unary)"
GRPC_SYNC_FLOOR = f"gRPC sync floor ({floors.SYNC_THREADS} threads)"
LIST_MESSAGES, GRPC_LIST_MESSAGES, PAGE = 1_000, 20, 20
TEXT = message_text(0)
RATE_CEILING = 20_000  # messages/s, far above any this machine reaches
THREADS = thread_service_pb2.DESCRIPTOR.services_by_name["ThreadService"].full_name
MESSAGES = message_service_pb2.DESCRIPTOR.services_by_name["MessageService"].full_name
# operation, least share of its floor's throughput
THROUGHPUT_GOALS = (
    ("REST create thread", 0.70),
    ("REST retrieve thread", 0.80),
    ("gRPC ThreadService/Create", 0.70),
    ("gRPC ThreadService/Get", 0.80),
)
TAIL_GOAL = 3.0  # p99 at most this many times p50


@frozen
class Operation:
    name: str
    protocol: str
    spec: HttpSource | GrpcSource
    answered: Callable[[Any], bool]  # whether one real call's answer is the right one
    floor: str


def threads_per_run(options: Options) -> int:
    """Threads one REST message-create run rotates among, so that not even RATE_CEILING
    messages/s for the longest invocation fills one (h2load sends one body: it cannot)."""
    from core.messages import DEFAULT_MAX_MESSAGES_PER_THREAD as CAP

    needed = max(1, math.ceil(max(options.duration, options.warmup) * RATE_CEILING / CAP))
    if needed > 1:
        log(f"note: runs this long could fill a thread: REST message creates rotate among {needed} threads")
    return needed


def operations(
    server: Server, get_tid: str, list_tid: str, grpc_list_tid: str, rotate: int
) -> list[Operation]:
    headers = server.auth_headers
    posting = {**headers, "Content-Type": "application/json"}
    md = dict(server.grpc_metadata)

    async def new_thread() -> str:
        async with httpx.AsyncClient(base_url=server.origin, headers=headers, timeout=10) as client:
            return await create_thread(client)

    async def rest_message() -> HttpSpec:
        paths = tuple([f"/v1/threads/{await new_thread()}/messages" for _ in range(rotate)])
        return HttpSpec("POST", paths, posting, json.dumps({"role": "user", "content": TEXT}))

    content = message_pb2.MessageContent(
        content=[message_pb2.ContentPart(text=message_pb2.Text(content=TEXT))]
    )

    async def grpc_message() -> GrpcSpec:
        request = message_service_pb2.CreateMessageRequest(thread_id=await new_thread(), content=content)
        return GrpcSpec(f"/{MESSAGES}/Create", request.SerializeToString(), md)

    def thread(reply: bytes) -> Any:
        return thread_pb2.Thread.FromString(reply)

    create = thread_service_pb2.CreateThreadRequest(folder_id="default").SerializeToString()
    get = thread_service_pb2.GetThreadRequest(thread_id=get_tid).SerializeToString()
    listing = message_service_pb2.ListMessagesRequest(thread_id=grpc_list_tid).SerializeToString()
    return [
        Operation(
            "REST create thread",
            "rest",
            HttpSpec("POST", ("/v1/threads",), posting, "{}"),
            lambda body: str(body.get("id")).startswith("thread_"),
            REST_FLOOR,
        ),
        Operation(
            "REST retrieve thread",
            "rest",
            HttpSpec("GET", (f"/v1/threads/{get_tid}",), headers),
            lambda body: body.get("id") == get_tid,
            REST_FLOOR,
        ),
        Operation(
            "REST create message", "rest", rest_message, lambda body: body.get("role") == "user", REST_FLOOR
        ),
        Operation(
            f"REST list {PAGE} messages",
            "rest",
            HttpSpec("GET", (f"/v1/threads/{list_tid}/messages?limit={PAGE}",), headers),
            lambda body: len(body.get("data", [])) == PAGE and body.get("has_more") is True,
            REST_FLOOR,
        ),
        Operation(
            "gRPC ThreadService/Create",
            "grpc",
            GrpcSpec(f"/{THREADS}/Create", create, md),
            lambda reply: thread(reply).id.startswith("thread_"),
            GRPC_FLOOR,
        ),
        Operation(
            "gRPC ThreadService/Get",
            "grpc",
            GrpcSpec(f"/{THREADS}/Get", get, md),
            lambda reply: thread(reply).id == get_tid,
            GRPC_FLOOR,
        ),
        Operation(
            "gRPC MessageService/Create",
            "grpc",
            grpc_message,
            lambda reply: message_pb2.Message.FromString(reply).content.content[0].text.content == TEXT,
            GRPC_FLOOR,
        ),
        Operation(
            f"gRPC MessageService/List ({GRPC_LIST_MESSAGES})",
            "grpc",
            GrpcSpec(f"/{MESSAGES}/List", listing, md, stream=True),
            lambda items: len(items) == GRPC_LIST_MESSAGES,
            GRPC_FLOOR,
        ),
    ]


async def run(ctx: Context) -> Outcome:
    cpu, options = ctx.placement.server_cpu, ctx.options
    notes: dict[str, Any] = {"backend": options.backend, "tools": load_tools.versions()}
    with contextlib.ExitStack() as stack:
        args = ["--database", stack.enter_context(postgres())] if options.backend == "postgresql" else []
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="threadgate-bench-ops-")))
        floor_servers = [
            stack.enter_context(serving(start_floor(k, cpu))) for k in ("rest", "grpc", "grpc-sync")
        ]
        server = stack.enter_context(serving(start_threadgate(tmp, cpu, *args)))
        noop = GrpcSpec(floors.GRPC_METHOD, b"", {})
        floor_ops = [
            Operation(
                REST_FLOOR, "rest", HttpSpec("GET", (floors.REST_PATH,), {}), lambda b: b == {}, REST_FLOOR
            ),
            Operation(GRPC_FLOOR, "grpc", noop, lambda reply: reply == b"", GRPC_FLOOR),
            Operation(GRPC_SYNC_FLOOR, "grpc", noop, lambda reply: reply == b"", GRPC_FLOOR),
        ]
        async with httpx.AsyncClient(
            base_url=server.origin, headers=server.auth_headers, timeout=10
        ) as client:
            get_tid, list_tid, grpc_list_tid = [await create_thread(client) for _ in range(3)]
            fill = await fill_api(client, list_tid, LIST_MESSAGES, 32, limit=300)
            await fill_api(client, grpc_list_tid, GRPC_LIST_MESSAGES, GRPC_LIST_MESSAGES, limit=60)
        log(f"filled {LIST_MESSAGES:,} messages through the API in {fill.seconds:.1f}s")
        found = operations(server, get_tid, list_tid, grpc_list_tid, threads_per_run(options))
        targets, labels = [], {}
        for op, on in [*zip(floor_ops, floor_servers, strict=True), *((op, server) for op in found)]:
            request = await resolve(op.spec)
            if on is server:
                labels[op.name], reply = await labels_of(
                    server, functools.partial(call_once, server, request)
                )
            else:
                reply = await call_once(on, request)
            if not op.answered(reply):
                raise RuntimeError(f"check failed: {op.name} answered {reply!r:.300}")
            label = labels.get(op.name)
            load = wrk_load(on, op.spec, label) if op.protocol == "rest" else h2load_load(on, op.spec, label)
            targets.append(Target(op.name, op.protocol, on, load, op.floor))
        log("every operation answered once as expected; metric labels: " + str(labels))
        notes["metric_labels"] = {name: f"protocol={p} method={m}" for name, (p, m) in labels.items()}
        rows = await measure(ctx, targets)
    notes["goals"] = goals([r for r in rows if r.operation in labels], max(options.concurrency))
    notes["quiet_seconds_spent"] = round(ctx.quiet.spent, 1)
    goal_cells = [
        (str(g["goal"]), num(g["measured"]), "met" if g["met"] else "NOT met") for g in notes["goals"]
    ]
    lines = [
        f"threadgate's store: {options.backend}; load: REST wrk -t1 -c<conc>, gRPC h2load -c1 -m<conc> -t1; "
        + ", ".join(notes["tools"].values()),
        runs_line(options),
        "vs floor: REST over the REST floor, gRPC over the grpc.aio floor; errors: the tool's, and the "
        "server's /metrics count for the method",
    ]
    tables = [
        stats_table(rows),
        Table(("target", "measured", "met?"), goal_cells, f"targets (at c={max(options.concurrency)}):"),
    ]
    return Outcome(rows, notes, lines, tables)


def goals(rows: list[Row], top: int) -> list[dict[str, Any]]:
    """The targets for threadgate's ``rows``, each met or not, at concurrency ``top``."""
    by_name = {r.operation: r for r in rows if r.stats.concurrency == top}
    out: list[dict[str, Any]] = []
    for name, least in THROUGHPUT_GOALS:
        if (row := by_name.get(name)) is not None:
            value = row.throughput_vs_floor_median or row.throughput_vs_floor
            out.append({"goal": f"{name} req/s ≥ {least:.2f} × its floor's", "measured": value})
            out[-1]["met"] = value is not None and value >= least
    for name, row in by_name.items():
        tail = row.stats.p99_ms / row.stats.p50_ms if row.stats.p50_ms else math.nan
        out.append({"goal": f"{name} p99 ≤ {TAIL_GOAL:g} × p50", "measured": tail, "met": tail <= TAIL_GOAL})
    return out
