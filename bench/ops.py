"""``ops`` (the default scenario): threadgate's operations against bare floors measured in
the same run, each server a subprocess pinned to the server CPU: the REST floor (a no-op
Starlette route on threadgate's Hypercorn setup), the gRPC floor (a no-op grpc.aio unary),
the gRPC sync floor (the same on ``grpc.server``, 16 threads), and ``threadgate serve`` on
a fresh SQLite (``--backend postgresql``: a throw-away PostgreSQL).  wrk drives REST:
create thread, retrieve it, create message (~200 characters), list 20 messages of a thread
of 1,000, create conversation, list 20 and 100 items of that thread; h2load drives gRPC:
ThreadService/Create and /Get, MessageService/Create and /List (a stream of 20).  Message
creates append to new threads, so listed threads never change; each operation is called
once and its answer checked before timing, which also finds its ``/metrics`` labels.
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

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import (
    message_pb2,
    message_service_pb2,
    thread_pb2,
    thread_service_pb2,
)
from bench import floors, load_tools
from bench.fill import create_thread, fill_api, message_text, new_thread
from bench.load_tools import GrpcSpec, HttpSpec
from bench.report import Outcome, Row, Table, num, stats_table
from bench.rounds import Context, Target, log, measure, runs_line
from bench.servers import client, postgres, start_floor, start_threadgate
from bench.tool_runs import Source, call_once, labels_of, resolve, tool_load
from testkit.server import Server, serving

REST_FLOOR, GRPC_FLOOR = "REST floor (no-op route)", "gRPC floor (no-op unary)"
GRPC_SYNC_FLOOR = f"gRPC sync floor ({floors.SYNC_THREADS} threads)"
LIST_MESSAGES, GRPC_LIST_MESSAGES, PAGE = 1_000, 20, 20
TEXT = message_text(0)
FLOOR_KINDS = ("rest", "grpc", "grpc-sync")
THREADS = thread_service_pb2.DESCRIPTOR.services_by_name["ThreadService"].full_name
MESSAGES = message_service_pb2.DESCRIPTOR.services_by_name["MessageService"].full_name
# operation, least share of its floor's throughput
THROUGHPUT_GOALS = {"REST create thread": 0.70, "REST retrieve thread": 0.80}
THROUGHPUT_GOALS |= {"gRPC ThreadService/Create": 0.70, "gRPC ThreadService/Get": 0.80}
TAIL_GOAL = 3.0  # p99 at most this many times p50


# an operation: its name ("REST ..."/"gRPC ..."), what to send, is one real answer right?
Operation = tuple[str, Source, Callable[[Any], bool]]


def full_page(body: Any, size: int = PAGE) -> bool:
    return len(body["data"]) == size and body["has_more"] is True


def operations(server: Server, get_tid: str, list_tid: str, grpc_list_tid: str) -> list[Operation]:
    headers = server.auth_headers
    posting = {**headers, "Content-Type": "application/json"}

    def grpc(method: str, request: Any, stream: bool = False) -> GrpcSpec:
        return GrpcSpec(method, request.SerializeToString(), dict(server.grpc_metadata), stream)

    async def rest_message() -> HttpSpec:
        path = f"/v1/threads/{await new_thread(server)}/messages"
        return HttpSpec("POST", (path,), posting, json.dumps({"role": "user", "content": TEXT}))

    async def grpc_message() -> GrpcSpec:
        thread_id = await new_thread(server)
        part = message_pb2.ContentPart(text=message_pb2.Text(content=TEXT))
        request = message_service_pb2.CreateMessageRequest(
            thread_id=thread_id, content=message_pb2.MessageContent(content=[part])
        )
        return grpc(f"/{MESSAGES}/Create", request)

    def thread_id(reply: bytes) -> str:
        return str(thread_pb2.Thread.FromString(reply).id)

    def text(reply: bytes) -> str:
        return str(message_pb2.Message.FromString(reply).content.content[0].text.content)

    rest_create = HttpSpec("POST", ("/v1/threads",), posting, "{}")
    rest_get = HttpSpec("GET", (f"/v1/threads/{get_tid}",), headers)
    rest_list = HttpSpec("GET", (f"/v1/threads/{list_tid}/messages?limit={PAGE}",), headers)
    conv_create = HttpSpec("POST", ("/v1/conversations",), posting, "{}")
    items = [
        HttpSpec("GET", (f"/v1/conversations/{list_tid}/items?limit={n}",), headers) for n in (PAGE, 100)
    ]
    grpc_create = grpc(f"/{THREADS}/Create", thread_service_pb2.CreateThreadRequest(folder_id="default"))
    grpc_get = grpc(f"/{THREADS}/Get", thread_service_pb2.GetThreadRequest(thread_id=get_tid))
    listing = message_service_pb2.ListMessagesRequest(thread_id=grpc_list_tid)
    grpc_list = grpc(f"/{MESSAGES}/List", listing, stream=True)
    return [
        ("REST create thread", rest_create, lambda body: str(body.get("id")).startswith("thread_")),
        ("REST retrieve thread", rest_get, lambda body: body.get("id") == get_tid),
        ("REST create message", rest_message, lambda body: body.get("role") == "user"),
        (f"REST list {PAGE} messages", rest_list, full_page),
        ("REST create conversation", conv_create, lambda body: str(body.get("id")).startswith("conv_")),
        (f"REST list {PAGE} items", items[0], full_page),
        ("REST list 100 items", items[1], functools.partial(full_page, size=100)),
        ("gRPC ThreadService/Create", grpc_create, lambda reply: thread_id(reply).startswith("thread_")),
        ("gRPC ThreadService/Get", grpc_get, lambda reply: thread_id(reply) == get_tid),
        ("gRPC MessageService/Create", grpc_message, lambda reply: text(reply) == TEXT),
        (
            f"gRPC MessageService/List ({GRPC_LIST_MESSAGES})",
            grpc_list,
            lambda r: len(r) == GRPC_LIST_MESSAGES,
        ),
    ]


async def run(ctx: Context) -> Outcome:
    cpu, options = ctx.placement.server_cpu, ctx.options
    notes: dict[str, Any] = {"backend": options.backend, "tools": load_tools.versions()}
    with contextlib.ExitStack() as stack:
        args = ["--database", stack.enter_context(postgres())] if options.backend == "postgresql" else []
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="threadgate-bench-ops-")))
        floor_servers = [stack.enter_context(serving(start_floor(k, cpu))) for k in FLOOR_KINDS]
        server = stack.enter_context(serving(start_threadgate(tmp, cpu, *args)))
        noop = GrpcSpec(floors.GRPC_METHOD, b"", {})
        floor_ops: list[Operation] = [
            (REST_FLOOR, HttpSpec("GET", (floors.REST_PATH,), {}), lambda body: body == {}),
            (GRPC_FLOOR, noop, lambda reply: reply == b""),
            (GRPC_SYNC_FLOOR, noop, lambda reply: reply == b""),
        ]
        async with client(server) as c:
            get_tid, list_tid, grpc_list_tid = [await create_thread(c) for _ in range(3)]
            fill = await fill_api(c, list_tid, LIST_MESSAGES, 32, limit=300)
            await fill_api(c, grpc_list_tid, GRPC_LIST_MESSAGES, GRPC_LIST_MESSAGES, limit=60)
        log(f"filled {LIST_MESSAGES:,} messages through the API in {fill.seconds:.1f}s")
        found = operations(server, get_tid, list_tid, grpc_list_tid)
        targets, labels = [], {}
        checks = [*zip(floor_ops, floor_servers, strict=True), *((op, server) for op in found)]
        for (name, spec, answered), on in checks:
            call = functools.partial(call_once, on, await resolve(spec))
            if on is server:  # threadgate: also the labels its /metrics count this operation under
                labels[name], reply = await labels_of(server, call)
            else:
                reply = await call()
            if not answered(reply):
                raise RuntimeError(f"check failed: {name} answered {reply!r:.300}")
            floor = REST_FLOOR if name.startswith("REST") else GRPC_FLOOR
            targets.append(Target(name, on, tool_load(on, spec, labels.get(name)), floor))
        log(f"every operation answered once as expected; metric labels: {labels}")
        notes["metric_labels"] = {name: f"protocol={p} method={m}" for name, (p, m) in labels.items()}
        rows = await measure(ctx, targets)
    top = max(options.concurrency)
    notes["goals"] = goals([r for r in rows if r.operation in labels and r.stats.concurrency == top])
    lines = [
        f"threadgate's store: {options.backend}; load: REST wrk -t1 -c<conc>, gRPC h2load -c1 -m<conc> -t1 "
        f"({', '.join(notes['tools'].values())})",
        runs_line(options),
        "vs floor: REST over the REST floor, gRPC over the grpc.aio floor; errors: the tool's, and the "
        "server's /metrics count for the method",
    ]
    goal_cells = [(g["goal"], num(g["measured"]), "met" if g["met"] else "NOT met") for g in notes["goals"]]
    goal_table = Table(("target", "measured", "met?"), goal_cells, f"targets (at c={top}):")
    return Outcome(rows, notes, lines, [stats_table(rows), goal_table])


def goals(rows: list[Row]) -> list[dict[str, Any]]:
    """The targets, each met or not, for ``rows`` (threadgate's, at one concurrency)."""
    out: list[dict[str, Any]] = []
    for row in rows:
        if (least := THROUGHPUT_GOALS.get(row.operation)) is not None:
            value = row.throughput_vs_floor_median or row.throughput_vs_floor or math.nan
            goal = f"{row.operation} req/s ≥ {least:.2f} × its floor's"
            out.append({"goal": goal, "measured": value, "met": value >= least})
    for row in rows:
        tail = row.stats.p99_ms / row.stats.p50_ms if row.stats.p50_ms else math.nan
        goal = f"{row.operation} p99 ≤ {TAIL_GOAL:g} × p50"
        out.append({"goal": goal, "measured": tail, "met": tail <= TAIL_GOAL})
    return out
