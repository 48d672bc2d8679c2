"""Fuzz the gRPC API of a running threadgate with the yandexcloud stubs, then check it still holds up.

Every call must end OK or with a client-error status (never INTERNAL, UNKNOWN,
UNAVAILABLE or a hang); OK answers must keep the invariants Yandex clients rely
on; after the fuzzing the server must still serve and its SQLite store must hang
together. One server per module, so the final checks see only this run's data.
The tests run in file order: the last four check what the first ones left.

The server runs with a small --max-messages-per-thread, so RESOURCE_EXHAUSTED is
reachable. Failure reports quote the request in protobuf text format with the
tail of the server log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_pb2
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import TEST_FOLDERS, Server, running_server
from tests.fuzz.grpc_support import (
    FUZZ_FOLDERS,
    MAX_MESSAGES_PER_THREAD,
    METHODS,
    NASTY_PAYLOADS,
    SLA,
    STATIC,
    UNKNOWN_FOLDER,
    Code,
    Method,
    Pool,
    Result,
    Shown,
    call,
    create_message_requests,
    create_thread_requests,
    deep_create_payload,
    expect,
    fail,
    folders,
    garbled,
    idempotency_keys,
    idempotent_call,
    list_problems,
    log_tail,
    message_problems,
    message_refs,
    mutated,
    page_sizes,
    page_tokens,
    read_store,
    requests_for,
    shown,
    stream_problems,
    texts_of,
    thread_ids,
    thread_problems,
    update_thread_requests,
    valid_create_thread_requests,
)

FUZZ = settings(
    max_examples=80,
    deadline=None,
    # one bug per test, shrunk: shrinking every distinct bug against a live server takes too long
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
RAW = settings(FUZZ, max_examples=40)


# -- fixtures ----------------------------------------------------------------------------------


class QuietServer:
    """The server, with a short repr: Hypothesis reprs every argument, and Server's holds its whole log."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)

    def __repr__(self) -> str:
        return f"<threadgate gRPC {self._server.grpc_target}>"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("grpc-fuzz") / "data"
    with running_server(data_dir, "--max-messages-per-thread", str(MAX_MESSAGES_PER_THREAD)) as s:
        yield cast(Server, QuietServer(s))


def store_file(server: Server) -> Path:
    """The SQLite file of a server started on a data directory."""
    assert server.data_dir is not None
    return server.data_dir / "threadgate.db"


@pytest.fixture(scope="module")
def channel(fuzz_server: Server) -> Iterator[grpc.Channel]:
    """Calls carry the fuzz server's admin key (on every TEST_FOLDERS folder)."""
    ch = fuzz_server.channel()
    try:
        yield ch
    finally:
        ch.close()


@pytest.fixture(scope="module")
def bare_channel(fuzz_server: Server) -> Iterator[grpc.Channel]:
    """No interceptor: calls carry only the metadata a test gives them."""
    ch = grpc.insecure_channel(fuzz_server.grpc_target)
    try:
        yield ch
    finally:
        ch.close()


@pytest.fixture(scope="module")
def threads(channel: grpc.Channel) -> ts_grpc.ThreadServiceStub:
    return ts_grpc.ThreadServiceStub(channel)


@pytest.fixture(scope="module")
def messages(channel: grpc.Channel) -> ms_grpc.MessageServiceStub:
    return ms_grpc.MessageServiceStub(channel)


@pytest.fixture(scope="module")
def pool(threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub) -> Pool:
    """A few well-formed threads with messages in each fuzz folder, and a page token of each folder."""
    known = Pool()
    for folder in FUZZ_FOLDERS:
        for i in range(3):
            t = threads.Create(ts.CreateThreadRequest(folder_id=folder, name=f"seed {i}"), timeout=10)
            known.add_thread(t)
            for text in ("first", "second"):
                m = messages.Create(
                    ms.CreateMessageRequest(
                        thread_id=t.id,
                        content=mp.MessageContent(content=[mp.ContentPart(text=mp.Text(content=text))]),
                    ),
                    timeout=10,
                )
                known.add_message(m)
        page = threads.List(ts.ListThreadsRequest(folder_id=folder, page_size=2), timeout=10)
        known.add_token(folder, page.next_page_token)
    return known


def check(server: Server, what: str, request: Any, result: Result, problems: list[str]) -> None:
    if problems:
        raise fail(server, what, request, result, "; ".join(problems))


# -- 1. typed requests, method by method --------------------------------------------------------


@settings(FUZZ, max_examples=30)
@given(generated=shown(valid_create_thread_requests()))
def test_thread_create_valid(
    fuzz_server: Server, threads: ts_grpc.ThreadServiceStub, pool: Pool, generated: Shown
) -> None:
    """Requests within every documented limit are accepted, and come back as sent."""
    req: ts.CreateThreadRequest = generated.value
    result = call(threads.Create, req)
    expect(fuzz_server, "ThreadService.Create (valid)", req, result, frozenset({Code.OK}))
    pool.add_thread(result.value)
    problems = thread_problems(result.value)
    if dict(result.value.labels) != dict(req.labels) or result.value.name != req.name:
        problems.append("name/labels not stored as sent")
    check(fuzz_server, "ThreadService.Create (valid)", req, result, problems)


@FUZZ
@given(generated=shown(create_thread_requests()), key=idempotency_keys)
def test_thread_create(
    fuzz_server: Server,
    threads: ts_grpc.ThreadServiceStub,
    messages: ms_grpc.MessageServiceStub,
    pool: Pool,
    generated: Shown,
    key: str | None,
) -> None:
    req: ts.CreateThreadRequest = generated.value
    result, problems = idempotent_call(fuzz_server, pool, "ThreadService.Create", threads.Create, req, key)
    if result.code is not Code.OK:
        check(fuzz_server, "ThreadService.Create", req, result, problems)
        return
    t: thread_pb2.Thread = result.value
    pool.add_thread(t)
    problems += thread_problems(t)
    if req.folder_id not in TEST_FOLDERS:
        problems.append(f"created in folder {req.folder_id!r}, which the key has no role on")
    if (t.folder_id, t.name, t.description, dict(t.labels)) != (
        req.folder_id,
        req.name,
        req.description,
        dict(req.labels),
    ):
        problems.append("folder_id/name/description/labels not stored as sent")
    if req.default_message_author_id and t.default_message_author_id != req.default_message_author_id:
        problems.append("default_message_author_id not stored as sent")
    if len(t.tools) != len(req.tools):
        problems.append(f"{len(req.tools)} tools sent, {len(t.tools)} returned")
    given_policy = req.expiration_config.expiration_policy
    if given_policy in (STATIC, SLA) and t.expiration_config.expiration_policy != given_policy:
        problems.append("expiration_policy not stored as sent")
    if req.expiration_config.ttl_days > 0 and t.expiration_config.ttl_days != req.expiration_config.ttl_days:
        problems.append("ttl_days not stored as sent")
    got = call(threads.Get, ts.GetThreadRequest(thread_id=t.id))
    if got.code is not Code.OK or got.value != t:
        problems.append(f"Get after Create: {got.code.name} {got.details}")
    listed = call(messages.List, ms.ListMessagesRequest(thread_id=t.id), streaming=True)
    expect(fuzz_server, "MessageService.List after ThreadService.Create", req, listed)
    if listed.code is Code.OK:
        for m in listed.value:
            pool.add_message(m)
        problems += stream_problems(listed.value, t.id)
        if [texts_of(m.content) for m in reversed(listed.value)] != [
            texts_of(m.content) for m in req.messages
        ]:
            problems.append("initial messages not stored as sent, oldest first")
    check(fuzz_server, "ThreadService.Create", req, result, problems)


@FUZZ
@given(data=st.data())
def test_thread_get_and_delete(
    fuzz_server: Server, threads: ts_grpc.ThreadServiceStub, pool: Pool, data: st.DataObject
) -> None:
    thread_id = data.draw(thread_ids(pool), label="thread_id")
    if data.draw(st.integers(0, 4), label="delete?") == 0:
        req: Any = ts.DeleteThreadRequest(thread_id=thread_id)
        result = call(threads.Delete, req)
        expect(fuzz_server, "ThreadService.Delete", req, result)
        if result.code is Code.OK:
            pool.forget(thread_id)
            after = call(threads.Get, ts.GetThreadRequest(thread_id=thread_id))
            if after.code is not Code.NOT_FOUND:
                raise fail(fuzz_server, "Get after Delete", req, after, "a deleted thread is still there")
        return
    req = ts.GetThreadRequest(thread_id=thread_id)
    result = call(threads.Get, req)
    expect(fuzz_server, "ThreadService.Get", req, result)
    if result.code is Code.OK:
        problems = thread_problems(result.value)
        if result.value.id != thread_id:
            problems.append(f"asked for {thread_id!r}, got {result.value.id!r}")
        check(fuzz_server, "ThreadService.Get", req, result, problems)
    elif thread_id in pool.threads:
        raise fail(fuzz_server, "ThreadService.Get", req, result, "a live thread was not found")


@FUZZ
@given(data=st.data())
def test_thread_update(
    fuzz_server: Server, threads: ts_grpc.ThreadServiceStub, pool: Pool, data: st.DataObject
) -> None:
    req = data.draw(shown(update_thread_requests(thread_ids(pool))), label="request").value
    before = call(threads.Get, ts.GetThreadRequest(thread_id=req.thread_id)) if req.thread_id else None
    result = call(threads.Update, req)
    expect(fuzz_server, "ThreadService.Update", req, result)
    paths = set(req.update_mask.paths)
    if result.code is not Code.OK:
        if before is not None and before.code is Code.OK:
            still = call(threads.Get, ts.GetThreadRequest(thread_id=req.thread_id))
            if still.code is Code.OK and still.value != before.value:
                raise fail(
                    fuzz_server, "ThreadService.Update", req, result, "a refused update changed the thread"
                )
        return
    u: thread_pb2.Thread = result.value
    problems = thread_problems(u)
    if not paths:
        problems.append("an update without update_mask paths was accepted")
    if "name" in paths and u.name != req.name:
        problems.append("name not updated")
    if "description" in paths and u.description != req.description:
        problems.append("description not updated")
    if "labels" in paths and dict(u.labels) != dict(req.labels):
        problems.append("labels not updated")
    if "tools" in paths and len(u.tools) != len(req.tools):
        problems.append("tools not updated")
    if before is not None and before.code is Code.OK:
        b = before.value
        if "name" not in paths and u.name != b.name:
            problems.append("name changed without being in the mask")
        if "labels" not in paths and dict(u.labels) != dict(b.labels):
            problems.append("labels changed without being in the mask")
        if (u.folder_id, u.created_at, u.default_message_author_id) != (
            b.folder_id,
            b.created_at,
            b.default_message_author_id,
        ):
            problems.append("folder_id/created_at/default_message_author_id changed")
    check(fuzz_server, "ThreadService.Update", req, result, problems)


@FUZZ
@given(data=st.data())
def test_thread_list(
    fuzz_server: Server, threads: ts_grpc.ThreadServiceStub, pool: Pool, data: st.DataObject
) -> None:
    req = ts.ListThreadsRequest(
        folder_id=data.draw(folders, label="folder_id"),
        page_size=data.draw(page_sizes, label="page_size"),
        page_token=data.draw(page_tokens(pool), label="page_token"),
    )
    result = call(threads.List, req)
    expect(fuzz_server, "ThreadService.List", req, result)
    if result.code is not Code.OK:
        return
    problems = list_problems(result.value, req)
    if req.page_size < 0:
        problems.append("a negative page_size was accepted")
    if req.folder_id == UNKNOWN_FOLDER:
        problems.append("listed a folder the key has no role on")
    pool.add_token(req.folder_id, result.value.next_page_token)
    check(fuzz_server, "ThreadService.List", req, result, problems)


@FUZZ
@given(data=st.data())
def test_message_create(
    fuzz_server: Server, messages: ms_grpc.MessageServiceStub, pool: Pool, data: st.DataObject
) -> None:
    req = data.draw(shown(create_message_requests(thread_ids(pool))), label="request").value
    key = data.draw(idempotency_keys, label="idempotency-key")
    result, problems = idempotent_call(fuzz_server, pool, "MessageService.Create", messages.Create, req, key)
    if result.code is not Code.OK:
        check(fuzz_server, "MessageService.Create", req, result, problems)
        return
    m: mp.Message = result.value
    pool.add_message(m)
    problems += message_problems(m, req.thread_id)
    if texts_of(m.content) != texts_of(req.content):
        problems.append("content not stored as sent")
    if dict(m.labels) != dict(req.labels):
        problems.append("labels not stored as sent")
    if req.author.id and m.author.id != req.author.id:
        problems.append("author.id not stored as sent")
    if req.author.role and m.author.role != req.author.role.upper():
        problems.append(f"author.role {req.author.role!r} came back as {m.author.role!r}")
    got = call(messages.Get, ms.GetMessageRequest(thread_id=m.thread_id, message_id=m.id))
    if got.code is not Code.OK or got.value != m:
        problems.append(f"Get after Create: {got.code.name} {got.details}")
    check(fuzz_server, "MessageService.Create", req, result, problems)


@FUZZ
@given(data=st.data())
def test_message_get(
    fuzz_server: Server, messages: ms_grpc.MessageServiceStub, pool: Pool, data: st.DataObject
) -> None:
    thread_id, message_id = data.draw(message_refs(pool), label="ids")
    req = ms.GetMessageRequest(thread_id=thread_id, message_id=message_id)
    result = call(messages.Get, req)
    expect(fuzz_server, "MessageService.Get", req, result)
    if result.code is Code.OK:
        problems = message_problems(result.value, thread_id)
        if result.value.id != message_id:
            problems.append(f"asked for {message_id!r}, got {result.value.id!r}")
        check(fuzz_server, "MessageService.Get", req, result, problems)
    elif message_id in pool.messages.get(thread_id, ()):
        raise fail(fuzz_server, "MessageService.Get", req, result, "a live message was not found")


@FUZZ
@given(data=st.data())
def test_message_list(
    fuzz_server: Server, messages: ms_grpc.MessageServiceStub, pool: Pool, data: st.DataObject
) -> None:
    req = ms.ListMessagesRequest(thread_id=data.draw(thread_ids(pool), label="thread_id"))
    result = call(messages.List, req, streaming=True)
    expect(fuzz_server, "MessageService.List", req, result)
    if result.code is not Code.OK:
        return
    problems = stream_problems(result.value, req.thread_id)
    missing = set(pool.messages.get(req.thread_id, ())) - {m.id for m in result.value}
    if missing:
        problems.append(f"messages created in this run are missing: {sorted(missing)[:5]}")
    check(fuzz_server, "MessageService.List", req, result, problems)


# no shrinking: replaying bursts one by one is slow, and each request kind has its own test above
@settings(FUZZ, max_examples=6, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=st.data())
def test_concurrent_writes(
    fuzz_server: Server,
    threads: ts_grpc.ThreadServiceStub,
    messages: ms_grpc.MessageServiceStub,
    pool: Pool,
    data: st.DataObject,
) -> None:
    """Bursts of writes at a few threads at once: appends near the cap, updates, deletes."""
    targets = data.draw(st.lists(thread_ids(pool), min_size=1, max_size=3), label="targets")
    target = st.sampled_from(targets)
    ops = data.draw(
        st.lists(
            shown(
                st.one_of(
                    create_message_requests(target),
                    create_message_requests(target),
                    update_thread_requests(target),
                    st.builds(ts.DeleteThreadRequest, thread_id=target),
                    create_thread_requests(st.sampled_from(FUZZ_FOLDERS)),
                )
            ),
            min_size=5,
            max_size=30,
        ),
        label="ops",
    )
    method: dict[type[Any], Callable[..., Any]] = {
        ms.CreateMessageRequest: messages.Create,
        ts.UpdateThreadRequest: threads.Update,
        ts.DeleteThreadRequest: threads.Delete,
        ts.CreateThreadRequest: threads.Create,
    }
    with ThreadPoolExecutor(max_workers=8) as workers:
        results = list(workers.map(lambda op: (op.value, call(method[type(op.value)], op.value)), ops))
    for req, result in results:
        expect(fuzz_server, f"concurrent {type(req).__name__}", req, result)
        if result.code is not Code.OK:
            continue
        if isinstance(req, ts.DeleteThreadRequest):
            pool.forget(req.thread_id)
        elif isinstance(result.value, thread_pb2.Thread) and result.value.id not in pool.deleted:
            pool.add_thread(result.value)
        elif isinstance(result.value, mp.Message) and result.value.thread_id in pool.threads:
            pool.add_message(result.value)


# -- 2. raw bytes and bad credentials -------------------------------------------------------------


def raw_callable(channel: grpc.Channel, method: Method) -> Any:
    if method.streaming:
        return channel.unary_stream(method.name, request_serializer=None, response_deserializer=None)
    return channel.unary_unary(method.name, request_serializer=None, response_deserializer=None)


def learn_from_raw(pool: Pool, method: Method, payload: bytes, answer: Any) -> list[str]:
    """Check an OK answer to a raw payload and keep the pool in step with what it did."""
    try:
        request = method.request.FromString(payload)
    except Exception:  # the server accepted what this client cannot parse; nothing to learn
        request = None
    if method.streaming:
        found = [mp.Message.FromString(raw) for raw in answer]
        return stream_problems(found, getattr(request, "thread_id", found[0].thread_id if found else ""))
    response = method.response.FromString(answer)
    if isinstance(response, thread_pb2.Thread):
        if method.short == "Create":
            pool.add_thread(response)
        return thread_problems(response)
    if isinstance(response, ts.ListThreadsResponse) and isinstance(request, ts.ListThreadsRequest):
        return list_problems(response, request)
    if isinstance(response, mp.Message):
        return message_problems(response, response.thread_id)
    if isinstance(request, ts.DeleteThreadRequest):
        pool.forget(request.thread_id)
    return []


METHOD_IDS = [m.name.split(".")[-1].replace("/", ".") for m in METHODS]


def send_raw(server: Server, channel: grpc.Channel, pool: Pool, method: Method, payload: bytes) -> None:
    result = call(raw_callable(channel, method), payload, streaming=method.streaming)
    expect(server, f"{method.name} (raw bytes)", payload, result, rich=False)
    if result.code is Code.OK:
        check(server, method.name, payload, result, learn_from_raw(pool, method, payload, result.value))


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_nasty_payloads(fuzz_server: Server, channel: grpc.Channel, pool: Pool, method: Method) -> None:
    """Hand-made encodings: overlong varints, absurd lengths, groups, bad UTF-8, deep nesting."""
    failures = []
    for payload in [*NASTY_PAYLOADS, deep_create_payload()]:
        try:
            send_raw(fuzz_server, channel, pool, method, payload)
        except AssertionError as exc:
            failures.append(str(exc).split("\n--- server log", 1)[0])
    assert not failures, "\n".join(failures) + "\n--- server log (tail) ---\n" + log_tail(fuzz_server)


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@RAW
@given(data=st.data())
def test_raw_bytes(
    fuzz_server: Server, channel: grpc.Channel, pool: Pool, method: Method, data: st.DataObject
) -> None:
    """Random bytes, and valid serializations cut short, flipped, padded or repeated."""
    payload = data.draw(
        shown(st.one_of(st.binary(max_size=256), garbled(requests_for(method, pool)))), label="payload"
    ).value
    send_raw(fuzz_server, channel, pool, method, payload)


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
schemes = st.sampled_from(
    ["Bearer", "bearer", "BEARER", "Api-Key", "api-key", "Basic", "Token", "", "Bearer:"]
)


def bad_credentials(api_key: str) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Call metadata that must not authenticate: none, garbage, the key slightly wrong."""
    wrong_keys = mutated(api_key).filter(lambda k: k.strip() != api_key and k.isascii() and k.isprintable())
    return st.one_of(
        st.just([]),
        printable.map(lambda v: [("authorization", v)]),
        st.tuples(schemes, printable).map(lambda p: [("authorization", f"{p[0]} {p[1]}")]),
        st.tuples(schemes, wrong_keys).map(lambda p: [("authorization", f"{p[0]} {p[1]}")]),
        st.tuples(st.sampled_from(["Basic", "Token", "Bearer:", "", "Key"]), st.just(api_key)).map(
            lambda p: [("authorization", f"{p[0]} {p[1]}")]
        ),
        st.binary(max_size=40).map(lambda b: [("authorization-bin", b)]),
        st.tuples(st.sampled_from(["x-api-key", "api-key", "x-authorization", "auth"]), st.just(api_key)).map(
            lambda p: [(p[0], f"Bearer {p[1]}")]
        ),
    )


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@settings(FUZZ, max_examples=25)
@given(data=st.data())
def test_bad_credentials(
    fuzz_server: Server, bare_channel: grpc.Channel, pool: Pool, method: Method, data: st.DataObject
) -> None:
    payload = data.draw(shown(requests_for(method, pool)), label="request").value.SerializeToString()
    metadata = data.draw(bad_credentials(fuzz_server.api_key), label="metadata")
    result = call(raw_callable(bare_channel, method), payload, streaming=method.streaming, metadata=metadata)
    what = f"{method.name} with metadata {metadata!r}"
    expect(fuzz_server, what, payload, result, frozenset({Code.UNAUTHENTICATED}))


# -- 3. afterwards: still serving, store consistent, everything walkable ---------------------------


def test_server_still_serves(
    fuzz_server: Server,
    channel: grpc.Channel,
    threads: ts_grpc.ThreadServiceStub,
    messages: ms_grpc.MessageServiceStub,
) -> None:
    assert fuzz_server.process.poll() is None, log_tail(fuzz_server)
    health = health_pb2_grpc.HealthStub(channel)
    for service in (
        "",
        "yandex.cloud.ai.assistants.v1.threads.ThreadService",
        "yandex.cloud.ai.assistants.v1.threads.MessageService",
    ):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
    t = threads.Create(
        ts.CreateThreadRequest(folder_id=FUZZ_FOLDERS[0], name="after the fuzzing"), timeout=10
    )
    assert threads.Get(ts.GetThreadRequest(thread_id=t.id), timeout=10) == t
    assert not thread_problems(t)
    m = messages.Create(
        ms.CreateMessageRequest(
            thread_id=t.id,
            content=mp.MessageContent(content=[mp.ContentPart(text=mp.Text(content="still here"))]),
        ),
        timeout=10,
    )
    assert messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id), timeout=10) == m
    assert list(messages.List(ms.ListMessagesRequest(thread_id=t.id), timeout=10)) == [m]


def test_store_is_consistent(fuzz_server: Server) -> None:
    view = read_store(store_file(fuzz_server))
    assert view.threads, "the fuzzing stored nothing at all"
    assert not view.problems, "\n".join(view.problems[:50])


def test_no_thread_holds_more_than_the_cap(fuzz_server: Server) -> None:
    """--max-messages-per-thread bounds every thread, however its messages arrived."""
    view = read_store(store_file(fuzz_server))
    over = {tid: count for tid, (_, count) in view.threads.items() if count > MAX_MESSAGES_PER_THREAD}
    assert not over, f"threads over the cap of {MAX_MESSAGES_PER_THREAD} messages: {over}"


def test_every_thread_and_message_is_reachable(
    fuzz_server: Server, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    view = read_store(store_file(fuzz_server))
    problems: list[str] = []
    for folder in TEST_FOLDERS:
        seen: list[str] = []
        token = ""
        for _ in range(10_000):
            req = ts.ListThreadsRequest(folder_id=folder, page_size=7, page_token=token)
            page = call(threads.List, req)
            expect(fuzz_server, f"walking folder {folder}", req, page, frozenset({Code.OK}))
            problems += list_problems(page.value, req)
            if not page.value.threads:
                break
            seen += [t.id for t in page.value.threads]
            token = page.value.next_page_token
        else:
            problems.append(f"folder {folder}: paging never reached an empty page")
        stored = {tid for tid, (f, _) in view.threads.items() if f == folder}
        if len(seen) != len(set(seen)):
            problems.append(f"folder {folder}: a thread listed on two pages")
        if set(seen) != stored:
            problems.append(
                f"folder {folder}: listed {len(set(seen))} threads, the store holds {len(stored)} "
                f"(only listed: {sorted(set(seen) - stored)[:3]}, "
                f"only stored: {sorted(stored - set(seen))[:3]})"
            )
        for tid in seen:
            req_m = ms.ListMessagesRequest(thread_id=tid)
            listed = call(messages.List, req_m, streaming=True)
            expect(fuzz_server, f"streaming thread {tid}", req_m, listed, frozenset({Code.OK}))
            problems += stream_problems(listed.value, tid)
            ids = {m.id for m in listed.value}
            if tid in view.threads and ids != view.messages.get(tid, set()):
                problems.append(
                    f"thread {tid}: streamed {len(ids)} messages, the store holds {view.threads[tid][1]}"
                )
    strays = sorted(tid for tid, (f, _) in view.threads.items() if f not in TEST_FOLDERS)
    if strays:
        problems.append(f"threads stored in folders the key has no role on: {strays[:5]}")
    denied = call(threads.List, ts.ListThreadsRequest(folder_id=UNKNOWN_FOLDER))
    if denied.code is not Code.PERMISSION_DENIED:
        problems.append(f"listing a folder of no role answered {denied.code.name}")
    assert not problems, "\n".join(problems[:50]) + "\n--- server log (tail) ---\n" + log_tail(fuzz_server)
