"""``GET /assistants/v1/messages``: the message stream as newline-delimited
``{"result": …}`` lines, read from the store and sent page by page, so a server's memory
does not grow with the thread; errors as a first (mapped status) or a last line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from adapters.yandex.operations import STREAM_BATCH
from core.entries import NewMessage
from core.errors import Unavailable
from core.model import TextPart
from tests.faces_grpc.rest_harness import FOLDER, RestFace, checked_status, lines_of

TOTAL = 3 * STREAM_BATCH + 7


async def fill(rest: RestFace, count: int) -> tuple[str, list[str]]:
    """A new thread of ``count`` messages (written through the core: quicker), and their ids."""
    thread = await rest.thread()
    caller = await rest.core.access.authenticate(rest.token)
    ids = [
        (
            await rest.core.messages.create(
                thread["id"], NewMessage(content=(TextPart(text=str(i)),)), caller
            )
        ).id
        for i in range(count)
    ]
    return thread["id"], ids


def count_reads(rest: RestFace, fail_at: int | None = None) -> list[int]:
    """The ``limit`` of every page the store is asked for, in order; with ``fail_at``, that
    read (1-based) fails as an outage would."""
    limits: list[int] = []
    read = rest.store.list_messages

    async def counted(*args: Any, **kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        if len(limits) == fail_at:
            raise Unavailable("connection lost", retry_safe=True)
        return await read(*args, **kwargs)

    rest.store.list_messages = counted  # type: ignore[method-assign]
    return limits


def scope_of(rest: RestFace, query: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/assistants/v1/messages",
        "raw_path": b"/assistants/v1/messages",
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"authorization", f"Api-Key {rest.token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("face", 80),
    }


async def drive(
    rest: RestFace,
    query: str,
    on_chunk: Callable[[bytes], Awaitable[None]],
    receive: Callable[[], Awaitable[Any]],
) -> int:
    """Run the app on one request, handing each body chunk to ``on_chunk``; its status."""
    status = 0

    async def send(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message.get("body"):
            await on_chunk(message["body"])

    await rest.app(scope_of(rest, query), receive, send)
    return status


async def test_a_long_thread_streams_whole_newest_first_line_by_line(rest: RestFace) -> None:
    thread_id, ids = await fill(rest, TOTAL)
    r = await rest.client.get("/messages", params={"threadId": thread_id})
    lines = lines_of(r)
    assert [line["result"]["id"] for line in lines] == ids[::-1]
    assert [line["result"]["content"]["content"][0]["text"]["content"] for line in lines[:2]] == [
        str(TOTAL - 1),
        str(TOTAL - 2),
    ]


async def test_the_stream_reads_bounded_pages_and_sends_each_before_reading_the_next(rest: RestFace) -> None:
    """Memory stays flat however long the thread (100,000 messages is the default cap):
    the store is asked for one page of at most STREAM_BATCH (+1, to see if there is
    more) at a time, and a page's lines are sent before the next page is read."""
    thread_id, ids = await fill(rest, TOTAL)
    limits = count_reads(rest)
    reads_before_chunk: list[int] = []
    lines_per_chunk: list[int] = []
    body = bytearray()

    async def on_chunk(chunk: bytes) -> None:
        reads_before_chunk.append(len(limits))
        lines_per_chunk.append(chunk.count(b"\n"))
        body.extend(chunk)

    async def receive() -> Any:
        await asyncio.Event().wait()  # the client never hangs up

    assert await drive(rest, f"threadId={thread_id}", on_chunk, receive) == 200
    assert all(limit <= STREAM_BATCH + 1 for limit in limits), limits
    assert len(limits) == TOTAL // STREAM_BATCH + 1
    assert max(lines_per_chunk) <= STREAM_BATCH and sum(lines_per_chunk) == TOTAL
    # chunk k (a page) goes out before page k + 2 is read: at most one page is held
    assert all(reads <= k + 2 for k, reads in enumerate(reads_before_chunk)), reads_before_chunk
    assert [orjson.loads(line)["result"]["id"] for line in bytes(body).splitlines()] == ids[::-1]


async def test_a_client_that_hangs_up_mid_stream_stops_the_reading(rest: RestFace) -> None:
    thread_id, _ = await fill(rest, TOTAL)
    limits = count_reads(rest)
    gone = asyncio.Event()

    async def on_chunk(chunk: bytes) -> None:
        gone.set()
        await asyncio.sleep(0.01)  # the disconnect lands while the stream would go on

    async def receive() -> Any:
        await gone.wait()
        return {"type": "http.disconnect"}

    await drive(rest, f"threadId={thread_id}", on_chunk, receive)
    assert len(limits) < TOTAL // STREAM_BATCH + 1, limits


async def test_an_error_after_the_first_line_is_the_streams_last_line(rest: RestFace) -> None:
    thread_id, ids = await fill(rest, TOTAL)
    count_reads(rest, fail_at=2)
    r = await rest.client.get("/messages", params={"threadId": thread_id})
    assert r.status_code == 200  # sent before the failure: it stays
    *results, last = lines_of(r)
    assert [line["result"]["id"] for line in results] == ids[::-1][:STREAM_BATCH]
    assert list(last) == ["error"]
    status = checked_status(last["error"], 14, r.headers["x-request-id"])
    assert status["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"


async def test_an_error_before_the_first_line_is_the_mapped_status_and_one_error_line(rest: RestFace) -> None:
    thread_id, _ = await fill(rest, 3)
    count_reads(rest, fail_at=1)
    r = await rest.client.get("/messages", params={"threadId": thread_id})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    (line,) = lines_of(r)
    checked_status(line["error"], 14, r.headers["x-request-id"])
    r = await rest.client.get("/messages", params={"threadId": "thread_nothere"})
    (line,) = lines_of(r)
    assert r.status_code == 404 and checked_status(line["error"], 5, r.headers["x-request-id"])


async def test_a_deleted_thread_streams_not_found(rest: RestFace) -> None:
    thread_id, _ = await fill(rest, 2)
    assert (await rest.client.delete(f"/threads/{thread_id}")).status_code == 200
    r = await rest.client.get("/messages", params={"threadId": thread_id})
    assert r.status_code == 404 and list(lines_of(r)[0]) == ["error"]
    assert (await rest.client.get("/threads", params={"folderId": FOLDER})).json()["threads"] == []


async def test_no_character_of_a_message_splits_its_line(rest: RestFace) -> None:
    """NEL, LINE and PARAGRAPH SEPARATOR are raw in JSON strings, but str.splitlines and
    httpx's iter_lines end lines at them: in the stream they are escaped."""
    t = await rest.thread()
    tricky = "a\u0085b\u2028c\u2029d\re\nf\x1cg"
    await rest.message(t["id"], tricky)
    await rest.message(t["id"], "plain")
    r = await rest.client.get("/messages", params={"threadId": t["id"]})
    lines = lines_of(r)  # splitlines: every line end it knows
    assert [line["result"]["content"]["content"][0]["text"]["content"] for line in lines] == ["plain", tricky]
    assert b"\\u2028" in r.content and "\u2028".encode() not in r.content
    single = await rest.client.get(f"/messages/{lines[1]['result']['id']}", params={"threadId": t["id"]})
    assert "\u2028".encode() in single.content  # a unary body is not a line: printed as is
