"""``ops`` (the default scenario): every threadgate operation against bare floors measured
in the same run, with load from C load generators in their own processes.

Servers, each its own subprocess on 127.0.0.1 pinned to the server CPU:

1. REST floor: the no-op Starlette route on threadgate's Hypercorn configuration;
2. gRPC floor: the no-op grpc.aio unary method;
3. gRPC sync floor: the same method on the synchronous ``grpc.server``, 16 threads;
4. ``threadgate serve`` on a fresh SQLite data dir; its API key goes on every request.

Operations on threadgate, REST through wrk (``-t1 -cN``; ``--rest-tool httpx``: this
process) and gRPC through h2load (``-c1 -mN``: one HTTP/2 connection, N streams):

- REST ``POST /v1/threads {}``, ``GET /v1/threads/{id}``, ``POST /v1/threads/{id}/messages``
  (~200 characters), ``GET /v1/threads/{id}/messages?limit=20`` on a thread of 1,000;
- gRPC ``ThreadService/Create`` (folder ``default``), ``ThreadService/Get``,
  ``MessageService/Create`` (one text part, ~200 characters) and ``MessageService/List``
  (a server stream of the 20 messages of a thread holding exactly 20).

Message creates grow their thread, so every invocation of the tool (warm-up and
measured run alike) appends to a new, empty thread: one run stays far below the
per-thread cap (``core.messages.DEFAULT_MAX_MESSAGES_PER_THREAD``; were a run long
enough to reach it, wrk would rotate among several new threads), and the list threads
never change.  Every operation is called once for real before any timing and
must succeed (gRPC: status OK); that call also finds the labels threadgate's
``/metrics`` counts it under, from which each run's errors are counted.

Ratios: REST operations over the REST floor, gRPC ones (and the sync floor) over the
grpc.aio floor, per concurrency; with several rounds also the median of the per-round
ratios.  The targets table checks the goals at the highest concurrency (32 by default).
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
from attrs import frozen

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import (
    message_pb2,
    message_service_pb2,
    thread_pb2,
    thread_service_pb2,
)
from bench import floors
from bench.fill import create_thread, fill_api, message_text
from bench.load import Load
from bench.loads import discover, h2load_load, http_client, rest_load, scrape
from bench.more_scenarios import postgres
from bench.report import NOISY, num
from bench.scenarios import (
    GRPC_FLOOR,
    REST_FLOOR,
    Context,
    Options,
    Outcome,
    Row,
    Scenario,
    Target,
    log,
    measure,
)
from bench.servers import ServerProcess, running, start_floor, start_threadgate
from bench.tools import H2LOAD, WRK, GrpcSpec, HttpSpec, changed_methods

GRPC_SYNC_FLOOR = f"gRPC sync floor ({floors.SYNC_THREADS} threads)"
LIST_MESSAGES = 1_000  # the REST list thread: its first page of 20 is full
GRPC_LIST_MESSAGES = 20  # the gRPC list thread: the stream returns all of them
PAGE = 20
FILL_CONCURRENCY = 32
CALL_TIMEOUT = 10.0
TEXT = message_text(0)  # about 200 characters
# far above any rate this machine reaches: a run of this many seconds could fill a thread
RATE_CEILING = 20_000

THREADS = thread_service_pb2.DESCRIPTOR.services_by_name["ThreadService"].full_name
MESSAGES = message_service_pb2.DESCRIPTOR.services_by_name["MessageService"].full_name

REST_CREATE = "REST create thread"
REST_GET = "REST retrieve thread"
REST_MESSAGE = "REST create message"
REST_LIST = f"REST list {PAGE} messages"
GRPC_CREATE = "gRPC ThreadService/Create"
GRPC_GET = "gRPC ThreadService/Get"
GRPC_MESSAGE = "gRPC MessageService/Create"
GRPC_LIST = f"gRPC MessageService/List ({GRPC_LIST_MESSAGES})"
OPERATIONS = (REST_CREATE, REST_GET, REST_MESSAGE, REST_LIST, GRPC_CREATE, GRPC_GET, GRPC_MESSAGE, GRPC_LIST)
# operation, least share of its floor's throughput
THROUGHPUT_GOALS = ((REST_CREATE, 0.70), (REST_GET, 0.80), (GRPC_CREATE, 0.70), (GRPC_GET, 0.80))
TAIL_GOAL = 3.0  # p99 at most this many times p50


def tool_versions() -> dict[str, str]:
    out = {}
    for tool in (WRK, H2LOAD):
        try:
            run = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        text = (run.stdout or run.stderr).strip().splitlines()
        out[tool] = text[0].split(" Copyright")[0] if text else "?"
    return out


@frozen
class Operation:
    """One threadgate operation: how to check it once, and the load that repeats it."""

    name: str
    protocol: str
    check: Callable[[], Awaitable[None]]  # one real call, which must succeed
    load: Callable[[tuple[str, str]], Load]  # given its metric labels


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"check failed: {what}")


async def rest_call(server: ServerProcess, spec: HttpSpec) -> Any:
    async with http_client(server, 1) as client:
        r = await client.request(
            spec.method,
            spec.paths[0],
            headers=spec.headers,
            content=None if spec.body is None else spec.body.encode(),
        )
    expect(r.status_code == 200, f"{spec.method} {spec.paths[0]}: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


def metadata(spec: GrpcSpec) -> tuple[tuple[str, str], ...]:
    return tuple(spec.metadata.items())


async def grpc_unary(server: ServerProcess, spec: GrpcSpec) -> bytes:
    """The exact bytes h2load will send, through a grpc.aio channel: the reply's bytes."""
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(spec.path)
        return await method(spec.body, metadata=metadata(spec), timeout=CALL_TIMEOUT)


async def grpc_stream(server: ServerProcess, spec: GrpcSpec) -> list[bytes]:
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        method: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(spec.path)
        return [item async for item in method(spec.body, metadata=metadata(spec), timeout=CALL_TIMEOUT)]


def threads_per_run(options: Options) -> int:
    """Threads one message-create run appends to, so that not even RATE_CEILING messages/s
    for the longest invocation could fill one (wrk rotates among them; h2load cannot, as
    the thread id is in its one body, and gets a warning instead)."""
    from core.messages import DEFAULT_MAX_MESSAGES_PER_THREAD as CAP

    longest = max(options.duration, options.warmup)
    needed = max(1, math.ceil(longest * RATE_CEILING / CAP))
    if needed > 1:
        log(
            f"note: a {longest:g}s run at {RATE_CEILING:,} messages/s could pass the {CAP:,}-message cap "
            f"of a thread: REST message creates rotate among {needed} threads; gRPC ones cannot, and "
            "show errors if they reach it"
        )
    return needed


def operations(
    server: ServerProcess, tool: str, get_tid: str, list_tid: str, grpc_list_tid: str, rotate: int = 1
) -> list[Operation]:
    headers = server.headers()
    json_headers = {**headers, "Content-Type": "application/json"}
    md = {"authorization": f"Bearer {server.api_key}"} if server.api_key else {}

    async def new_thread() -> str:
        async with http_client(server, 1) as client:
            return await create_thread(client)

    rest_create = HttpSpec("POST", ("/v1/threads",), json_headers, "{}")
    rest_get = HttpSpec("GET", (f"/v1/threads/{get_tid}",), headers)
    rest_list = HttpSpec("GET", (f"/v1/threads/{list_tid}/messages?limit={PAGE}",), headers)
    message_body = json.dumps({"role": "user", "content": TEXT})

    async def rest_message() -> HttpSpec:
        paths = tuple([f"/v1/threads/{await new_thread()}/messages" for _ in range(rotate)])
        return HttpSpec("POST", paths, json_headers, message_body)

    grpc_create = GrpcSpec(
        f"/{THREADS}/Create",
        thread_service_pb2.CreateThreadRequest(folder_id="default").SerializeToString(),
        md,
    )
    grpc_get = GrpcSpec(
        f"/{THREADS}/Get", thread_service_pb2.GetThreadRequest(thread_id=get_tid).SerializeToString(), md
    )
    grpc_list = GrpcSpec(
        f"/{MESSAGES}/List",
        message_service_pb2.ListMessagesRequest(thread_id=grpc_list_tid).SerializeToString(),
        md,
    )
    content = message_pb2.MessageContent(
        content=[message_pb2.ContentPart(text=message_pb2.Text(content=TEXT))]
    )

    async def grpc_message() -> GrpcSpec:
        tid = await new_thread()
        request = message_service_pb2.CreateMessageRequest(thread_id=tid, content=content)
        return GrpcSpec(f"/{MESSAGES}/Create", request.SerializeToString(), md)

    # --- the checks: one real call each, its answer looked at -----------------------------
    async def check_rest_create() -> None:
        body = await rest_call(server, rest_create)
        expect(str(body.get("id", "")).startswith("thread_"), f"POST /v1/threads answered {body}")

    async def check_rest_get() -> None:
        body = await rest_call(server, rest_get)
        expect(body.get("id") == get_tid, f"GET /v1/threads/{get_tid} answered {body}")

    async def check_rest_message() -> None:
        body = await rest_call(server, await rest_message())
        expect(body.get("role") == "user", f"POST .../messages answered {body}")

    async def check_rest_list() -> None:
        body = await rest_call(server, rest_list)
        expect(
            len(body.get("data", [])) == PAGE and body.get("has_more") is True,
            f"GET .../messages?limit={PAGE}: expected a full page with more after it",
        )

    async def check_grpc_create() -> None:
        thread = thread_pb2.Thread.FromString(await grpc_unary(server, grpc_create))
        expect(thread.id.startswith("thread_"), f"ThreadService/Create answered {thread}")

    async def check_grpc_get() -> None:
        thread = thread_pb2.Thread.FromString(await grpc_unary(server, grpc_get))
        expect(thread.id == get_tid, f"ThreadService/Get answered {thread}")

    async def check_grpc_message() -> None:
        message = message_pb2.Message.FromString(await grpc_unary(server, await grpc_message()))
        expect(message.content.content[0].text.content == TEXT, f"MessageService/Create answered {message}")

    async def check_grpc_list() -> None:
        items = [message_pb2.Message.FromString(b) for b in await grpc_stream(server, grpc_list)]
        expect(len(items) == GRPC_LIST_MESSAGES, f"MessageService/List streamed {len(items)} messages")

    def rest(spec: HttpSpec | Callable[[], Awaitable[HttpSpec]]) -> Callable[[tuple[str, str]], Load]:
        return lambda metric: rest_load(server, spec, tool, metric=metric)

    def grpc_(spec: GrpcSpec | Callable[[], Awaitable[GrpcSpec]]) -> Callable[[tuple[str, str]], Load]:
        return lambda metric: h2load_load(server, spec, metric=metric)

    return [
        Operation(REST_CREATE, "rest", check_rest_create, rest(rest_create)),
        Operation(REST_GET, "rest", check_rest_get, rest(rest_get)),
        Operation(REST_MESSAGE, "rest", check_rest_message, rest(rest_message)),
        Operation(REST_LIST, "rest", check_rest_list, rest(rest_list)),
        Operation(GRPC_CREATE, "grpc", check_grpc_create, grpc_(grpc_create)),
        Operation(GRPC_GET, "grpc", check_grpc_get, grpc_(grpc_get)),
        Operation(GRPC_MESSAGE, "grpc", check_grpc_message, grpc_(grpc_message)),
        Operation(GRPC_LIST, "grpc", check_grpc_list, grpc_(grpc_list)),
    ]


async def discover_each(server: ServerProcess, op: Operation) -> tuple[str, str]:
    """Check ``op`` once; the metric labels it is counted under."""
    if op.name in (REST_MESSAGE, GRPC_MESSAGE):
        return await discover_message(server, op)
    return await discover(server, op.check)


async def discover_message(server: ServerProcess, op: Operation) -> tuple[str, str]:
    """A message create's labels: its check makes a thread (a REST create) and then the
    message, so two counters move; the message's is the one a lone REST create does not move."""
    async with http_client(server, 1) as client:
        before_thread = await scrape(server)
        await create_thread(client)
        after_thread = await scrape(server)
    thread_labels = {m for m in changed_methods(before_thread, after_thread) if m[1] != "metrics"}
    before = await scrape(server)
    await op.check()
    after = await scrape(server)
    moved = {m for m in changed_methods(before, after) if m[1] != "metrics"} - thread_labels
    if len(moved) != 1:
        raise RuntimeError(f"{op.name}: expected one counter to move in /metrics, saw {moved or 'none'}")
    return moved.pop()


async def check_floors(rest_floor: ServerProcess, aio: ServerProcess, sync: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=rest_floor.url(), timeout=CALL_TIMEOUT) as client:
        r = await client.get(floors.REST_PATH)
        expect(r.status_code == 200, f"REST floor: HTTP {r.status_code}")
    noop = GrpcSpec(floors.GRPC_METHOD, b"", {})
    for server in (aio, sync):
        expect(await grpc_unary(server, noop) == b"", f"{server.name}: unexpected reply")


async def ops(ctx: Context) -> Outcome:
    cpu = ctx.placement.server_cpu
    options = ctx.options
    notes: dict[str, Any] = {
        "load_generator": {
            "rest": "wrk -t1 -c<conc> (Lua script)" if options.rest_tool == "wrk" else "httpx (this process)",
            "grpc": "h2load -c1 -m<conc> -t1, one gRPC frame per request",
        },
        "tools": tool_versions(),
    }
    rotate = threads_per_run(options)
    notes["backend"] = options.backend
    with contextlib.ExitStack() as stack:
        database = "sqlite"
        if options.backend == "postgresql":
            database = stack.enter_context(postgres())
            notes["backend"] = "postgresql (throw-away server, fsync=off, not pinned)"
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="threadgate-bench-ops-"))
        rest_floor = stack.enter_context(running(start_floor("rest", cpu)))
        grpc_floor = stack.enter_context(running(start_floor("grpc", cpu)))
        sync_floor = stack.enter_context(running(start_floor("grpc-sync", cpu)))
        server = stack.enter_context(running(start_threadgate(Path(tmp), cpu, database=database)))
        if not server.api_key:
            raise RuntimeError("threadgate printed no API key on its first start: authentication is off")
        notes["api_key"] = "used on every request"
        await check_floors(rest_floor, grpc_floor, sync_floor)
        async with http_client(server, FILL_CONCURRENCY) as client:
            get_tid = await create_thread(client)
            list_fill = await fill_api(
                client,
                await create_thread(client),
                LIST_MESSAGES,
                concurrency=FILL_CONCURRENCY,
                time_limit=300,
            )
            grpc_list_fill = await fill_api(
                client,
                await create_thread(client),
                GRPC_LIST_MESSAGES,
                concurrency=GRPC_LIST_MESSAGES,
                time_limit=60,
            )
        log(f"filled {LIST_MESSAGES:,} messages through the API in {list_fill.seconds:.1f}s")
        notes["list_thread_messages"] = {"rest": LIST_MESSAGES, "grpc": GRPC_LIST_MESSAGES}
        found = operations(
            server, options.rest_tool, get_tid, list_fill.thread_id, grpc_list_fill.thread_id, rotate
        )
        labels: dict[str, tuple[str, str]] = {}
        for op in found:
            labels[op.name] = await discover_each(server, op)
        notes["metric_labels"] = {name: f"protocol={p} method={m}" for name, (p, m) in labels.items()}
        log(
            "every operation answered once as expected; metric labels: "
            + ", ".join(f"{n}={m}" for n, (_, m) in labels.items())
        )
        rest_floor_load = rest_load(
            rest_floor, HttpSpec("GET", (floors.REST_PATH,), rest_floor.headers()), options.rest_tool
        )
        noop = GrpcSpec(floors.GRPC_METHOD, b"", {})
        targets = [
            Target(REST_FLOOR, "rest", rest_floor, rest_floor_load, REST_FLOOR),
            Target(GRPC_FLOOR, "grpc", grpc_floor, h2load_load(grpc_floor, noop), GRPC_FLOOR),
            Target(GRPC_SYNC_FLOOR, "grpc", sync_floor, h2load_load(sync_floor, noop), GRPC_FLOOR),
        ]
        for op in found:
            floor = REST_FLOOR if op.protocol == "rest" else GRPC_FLOOR
            targets.append(Target(op.name, op.protocol, server, op.load(labels[op.name]), floor))
        rows = await measure(ctx, targets)
    notes["goals"] = goals(rows, options)
    notes["quiet_seconds_spent"] = round(ctx.quiet.spent, 1)
    return Outcome(rows, notes)


def goals(rows: list[Row], options: Options) -> list[dict[str, Any]]:
    """The targets, each met or not, at the highest concurrency measured."""
    top = max(options.concurrency)
    by_name = {r.operation: r for r in rows if r.stats.concurrency == top}
    out: list[dict[str, Any]] = []
    for name, least in THROUGHPUT_GOALS:
        row = by_name.get(name)
        if row is None:
            continue
        value = row.throughput_vs_floor_median or row.throughput_vs_floor
        out.append(
            {
                "goal": f"{name} req/s ≥ {least:.2f} × its floor's",
                "concurrency": top,
                "limit": least,
                "measured": value,
                "basis": "median of per-round ratios" if row.throughput_vs_floor_median else "pooled",
                "met": value is not None and value >= least,
            }
        )
    for name in OPERATIONS:
        row = by_name.get(name)
        if row is None:
            continue
        tail = row.stats.p99_ms / row.stats.p50_ms if row.stats.p50_ms else math.nan
        out.append(
            {
                "goal": f"{name} p99 ≤ {TAIL_GOAL:g} × p50",
                "concurrency": top,
                "limit": TAIL_GOAL,
                "measured": tail,
                "basis": "pooled latencies",
                "met": tail <= TAIL_GOAL,
            }
        )
    return out


def ops_table(rows: list[Row]) -> str:
    median = any(r.rps_median is not None for r in rows)
    head = ["operation", "conc", "req/s"]
    if median:
        head.append("median req/s")
    head += ["p50 ms", "p99 ms", "p99/p50", "vs floor"]
    if median:
        head.append("median vs floor")
    head += ["server CPU", "server µs/req", "µs/req vs floor", "load gen CPU", "others' CPU", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for r in rows:
        s = r.stats
        cells = [r.operation, str(s.concurrency), num(s.rps, 0)]
        if median:
            cells.append(num(r.rps_median, 0))
        cells += [
            num(s.p50_ms),
            num(s.p99_ms),
            num(s.p99_ms / s.p50_ms if s.p50_ms else None),
            num(r.throughput_vs_floor),
        ]
        if median:
            cells.append(num(r.throughput_vs_floor_median))
        cells += [
            f"{s.server_cpu:.0%}",
            num(s.server_cpu_us_per_request, 0),
            num(r.cpu_per_request_vs_floor),
            f"{s.client_cpu:.0%}",
            f"{s.other_cpu:.0%}" + (" †" if s.other_cpu >= NOISY else ""),
            str(s.errors),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals_table(items: list[dict[str, Any]]) -> str:
    lines = ["| target | conc | measured | met? |", "|---|--:|--:|---|"]
    for g in items:
        met = "met" if g["met"] else "NOT met"
        lines.append(f"| {g['goal']} | {g['concurrency']} | {num(g['measured'])} | {met} |")
    return "\n".join(lines)


def render(name: str, outcome: Outcome, placement: str, options: Options) -> str:
    notes = outcome.notes
    lg = notes["load_generator"]
    rounds = (
        f"{options.rounds} rounds, interleaved; req/s and p50/p99 pooled over them, 'median' columns are "
        "medians of the per-round values (floor ratios: this round's floor run)"
        if options.rounds > 1
        else "1 round"
    )
    parts = [
        f"## {name}",
        "",
        f"placement: {placement}; threadgate's store: {notes.get('backend', 'sqlite')}",
        f"load: REST {lg['rest']}; gRPC {lg['grpc']}; tools: "
        + ", ".join(f"{v}" for v in notes.get("tools", {}).values()),
        f"each run: {options.warmup:g}s warm-up invocation, then {options.duration:g}s measured; {rounds}",
        "vs floor: REST operations over the REST floor, gRPC ones over the grpc.aio floor (same "
        "concurrency); CPU columns are shares of one core; errors: the tool's and the server's "
        f"/metrics count for the method; † = other processes used over {NOISY:.0%} of a core",
        "",
        ops_table(outcome.rows),
        "",
        f"targets (at c={max(options.concurrency)}):",
        "",
        goals_table(notes["goals"]),
    ]
    return "\n".join(parts)


# keep the names in step with bench/__main__.py's SCENARIO_NAMES
OPS_SCENARIOS: dict[str, Scenario] = {"ops": ops}
