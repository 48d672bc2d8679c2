"""Fuzz the REST API of a running threadgate with schemathesis, from the /openapi.json it serves.

Every operation is fuzzed on its own (schemathesis' examples, coverage and
fuzzing phases, positive and negative data), then as chains that follow the
document's links (create a thread or a conversation, then read, change, list and
delete it and its messages or items). No answer may be a 5xx, and every answer with a documented status must
match the documented schema, content type and headers. Afterwards the server must
still serve, and its SQLite store must hang together. The tests run in file order:
the last one checks what the others left. One server per module (conftest.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from contextlib import closing
from typing import Any

import httpx
import jsonschema
import orjson
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import Case
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.schemas import OpenApiSchema

from adapters.storage.rows import MESSAGE_COLUMNS, THREAD_COLUMNS, message_from_row, thread_from_row
from core.model import Message, is_plain
from core.validation import check_labels
from testkit.server import Server, tracebacks

schema = schemathesis.pytest.from_fixture("api_schema")

# Linked chains: up to STATEFUL_SCENARIOS scenarios of up to STATEFUL_STEPS calls, run in
# batches of STATEFUL_BATCH until STATEFUL_SECONDS have passed. An item is three links
# from a root (create a conversation, add items, use one), and schemathesis follows each
# source -> target pair at most twice a scenario: with 10 steps a run often reached no
# item operation at all, with 20 every run reaches them (and messages more often too).
STATEFUL_STEPS = 20
STATEFUL_SCENARIOS = 150
STATEFUL_BATCH = 25
STATEFUL_SECONDS = 45.0
THREAD_LINK_TARGETS = {
    "GET /v1/threads/{thread_id}",
    "POST /v1/threads/{thread_id}",
    "DELETE /v1/threads/{thread_id}",
    "POST /v1/threads/{thread_id}/messages",
    "GET /v1/threads/{thread_id}/messages",
}
# the Yandex REST face, reached over links from the OpenAI creates (the same threads), and
# its own: every one of these answered 200 at least once
YANDEX_LINK_TARGETS = {
    "GET /assistants/v1/threads/{thread_id}",
    "GET /assistants/v1/messages",
    "POST /assistants/v1/messages",
}
MESSAGE_LINK_TARGETS = {
    "GET /v1/threads/{thread_id}/messages/{message_id}",
    "POST /v1/threads/{thread_id}/messages/{message_id}",
    "DELETE /v1/threads/{thread_id}/messages/{message_id}",
}
CONVERSATION_LINK_TARGETS = {
    "GET /v1/conversations/{conversation_id}",
    "POST /v1/conversations/{conversation_id}",
    "DELETE /v1/conversations/{conversation_id}",
    "POST /v1/conversations/{conversation_id}/items",
    "GET /v1/conversations/{conversation_id}/items",
}
ITEM_LINK_TARGETS = {
    "GET /v1/conversations/{conversation_id}/items/{item_id}",
    "DELETE /v1/conversations/{conversation_id}/items/{item_id}",
}


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation(case: Case[Any]) -> None:
    case.call_and_validate()


def test_linked_operations(api_schema: OpenApiSchema) -> None:
    """Chains along the document's links: create -> get / modify / list / delete, with real ids.

    What a step can draw depends on what the server answered before, so Hypothesis
    sometimes stops a run with FlakyStrategyDefinition ("data generation behaved
    differently"); schemathesis' own runner ends its stateful phase there too. Here a
    stopped run is started again (with new random choices) until enough scenarios
    ran. Check failures are recorded as they happen, so a stop can never hide one.
    """
    failures: list[str] = []
    scenarios = 0
    answers: Counter[tuple[str, int]] = Counter()

    # a base class made at run time, from the document's links: mypy cannot check one
    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def after_call(self, response: Any, case: Case[Any]) -> None:
            answers[case.operation.label, response.status_code] += 1
            super().after_call(response, case)

        def validate_response(self, response: Any, case: Case[Any], *args: Any, **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, *args, **kwargs)
            except FailureGroup as exc:
                failures.append(
                    f"{exc}\n{case.as_curl_command()}\n-> {response.status_code} {response.text[:2000]}"
                )
                raise

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1
            super().teardown()

    deadline = time.monotonic() + STATEFUL_SECONDS
    stops = 0
    while scenarios < STATEFUL_SCENARIOS and time.monotonic() < deadline and not failures:
        try:
            Workflow.run(
                settings=settings(
                    max_examples=min(STATEFUL_BATCH, STATEFUL_SCENARIOS - scenarios),
                    stateful_step_count=STATEFUL_STEPS,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except FlakyStrategyDefinition:
            stops += 1
    assert not failures, "\n\n".join(failures)
    assert scenarios >= STATEFUL_BATCH, f"only {scenarios} scenarios ran ({stops} stopped runs)"
    # The links were followed: operations succeeded on ids the server made.
    seen = "\n".join(f"{label} -> {status}: {n}" for (label, status), n in sorted(answers.items()))
    succeeded = {label for (label, status) in answers if status == 200}
    missing = (THREAD_LINK_TARGETS | CONVERSATION_LINK_TARGETS | YANDEX_LINK_TARGETS) - succeeded
    assert not missing, f"never a 200: {sorted(missing)}\n{seen}"
    assert MESSAGE_LINK_TARGETS & succeeded, f"no message operation answered 200:\n{seen}"
    assert ITEM_LINK_TARGETS & succeeded, f"no item operation answered 200:\n{seen}"


# -- afterwards ---------------------------------------------------------------------------------


def test_server_still_serves(rest_server: Server, rest_root: str) -> None:
    assert httpx.get(f"{rest_root}/health", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"{rest_root}/ready", timeout=10).json() == {"status": "ready"}
    with rest_server.http() as http:
        created = http.post(
            "/threads",
            json={"messages": [{"role": "user", "content": "still here"}], "metadata": {"k": "v"}},
        )
        assert created.status_code == 200, created.text
        thread = created.json()
        got = http.get(f"/threads/{thread['id']}")
        assert got.status_code == 200, got.text
        assert got.json() == thread
        listed = http.get(f"/threads/{thread['id']}/messages")
        assert listed.status_code == 200, listed.text
        assert [m["content"][0]["text"]["value"] for m in listed.json()["data"]] == ["still here"]
        assert http.delete(f"/threads/{thread['id']}").json()["deleted"] is True
        made = http.post("/conversations", json={"items": [{"role": "user", "content": "still here"}]})
        assert made.status_code == 200, made.text
        conversation = made.json()
        added = http.post(
            f"/conversations/{conversation['id']}/items",
            json={"items": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]},
        )
        assert added.status_code == 200, added.text
        items = http.get(f"/conversations/{conversation['id']}/items", params={"order": "asc"})
        assert items.status_code == 200, items.text
        assert [i["type"] for i in items.json()["data"]] == ["message", "function_call"]
        assert http.delete(f"/conversations/{conversation['id']}").json()["deleted"] is True
    assert not tracebacks(rest_server.log()), rest_server.log()


def read_store(server: Server) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Thread rows (with next_seq, message_count), message rows (with seq), tombstones; read-only."""
    assert server.data_dir is not None
    path = server.data_dir / "threadgate.db"
    assert path.exists(), path
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        threads = db.execute(f"SELECT {THREAD_COLUMNS}, next_seq, message_count FROM threads").fetchall()
        messages = db.execute(f"SELECT {MESSAGE_COLUMNS}, seq FROM messages").fetchall()
        tombstones = db.execute("SELECT thread_id, id, seq FROM message_tombstones").fetchall()
    return threads, messages, tombstones


def test_store_is_consistent(rest_server: Server) -> None:
    threads, messages, tombstones = read_store(rest_server)
    assert threads, "the fuzzing created no thread at all: did it reach the server?"
    problems: list[str] = []
    next_seq: dict[str, int] = {}
    count: dict[str, int] = {}
    for row in threads:
        try:
            thread = thread_from_row(row[:16])
            check_labels(thread.labels)
        except Exception as exc:
            problems.append(f"thread row {row[0]!r} does not parse or breaks a rule: {exc!r}")
            continue
        next_seq[thread.id], count[thread.id] = row[16], row[17]
    rows_per_thread: Counter[str] = Counter()
    max_seq: dict[str, int] = {}
    for row in messages:
        seq = row[5]
        try:
            message = message_from_row(row[:5])
            if isinstance(message, Message):
                check_labels(message.labels)
        except Exception as exc:
            problems.append(f"message row {row[0]!r} does not parse or breaks a rule: {exc!r}")
            continue
        if message.thread_id not in next_seq:
            problems.append(f"message {message.id} belongs to no thread ({message.thread_id})")
            continue
        rows_per_thread[message.thread_id] += 1
        max_seq[message.thread_id] = max(seq, max_seq.get(message.thread_id, 0))
    for thread_id, _, seq in tombstones:
        if thread_id in next_seq:
            max_seq[thread_id] = max(seq, max_seq.get(thread_id, 0))
    for thread_id, stored in count.items():
        if stored != rows_per_thread[thread_id]:
            problems.append(
                f"thread {thread_id}: message_count {stored}, but {rows_per_thread[thread_id]} messages"
            )
        if next_seq[thread_id] <= max_seq.get(thread_id, 0):
            problems.append(f"thread {thread_id}: next_seq {next_seq[thread_id]} <= seq {max_seq[thread_id]}")
    assert not problems, "\n".join(problems[:50])


class Reader:
    """GETs of the server that must answer 200 with what the document says they answer."""

    def __init__(self, http: httpx.Client, api_schema: OpenApiSchema) -> None:
        self._http = http
        self._schema = api_schema

    def get(self, label: str, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._http.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        operation = self._schema.find_operation_by_label(label)
        assert operation is not None, label
        operation.validate_response(response)
        return response.json()

    def every_id(self, label: str, path: str) -> list[str]:
        """The ids of every entry a list route pages through, oldest first."""
        seen: list[str] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, "order": "asc", **({"after": after} if after else {})}
            body = self.get(label, path, params)
            seen += [m["id"] for m in body["data"]]
            if not body["has_more"]:
                return seen
            after = body["last_id"]


def test_every_stored_thread_reads_back_over_rest(rest_server: Server, api_schema: OpenApiSchema) -> None:
    """What the store holds is what REST shows, in the document's shapes: each thread, as
    a thread and as a conversation; exactly its entries as items, and its user and
    assistant messages as messages, in the same order. (Chains do not cross from one
    route set to the other's deletes: schemathesis would take an entry deleted through
    one path and read through the other for one that vanished.)"""
    threads, messages, _ = read_store(rest_server)
    ids_of: dict[str, list[str]] = {row[0]: [] for row in threads}
    plain: set[tuple[str, str]] = set()  # (thread, entry): an entry id is unique per thread only
    for row in sorted(messages, key=lambda r: r[5]):  # by seq: the entries' order
        ids_of[row[1]].append(row[0])
        if is_plain(message_from_row(row[:5])):
            plain.add((row[1], row[0]))
    with rest_server.http() as http:
        read = Reader(http, api_schema)
        for thread_id, entry_ids in ids_of.items():
            read.get("GET /v1/threads/{thread_id}", f"/threads/{thread_id}")
            read.get("GET /v1/conversations/{conversation_id}", f"/conversations/{thread_id}")
            items = read.every_id(
                "GET /v1/conversations/{conversation_id}/items", f"/conversations/{thread_id}/items"
            )
            assert items == entry_ids, thread_id
            thread_messages = read.every_id(
                "GET /v1/threads/{thread_id}/messages", f"/threads/{thread_id}/messages"
            )
            assert thread_messages == [i for i in entry_ids if (thread_id, i) in plain], thread_id


def test_every_stored_thread_reads_back_over_yandex_rest(
    rest_server: Server, api_schema: OpenApiSchema
) -> None:
    """The same rows through the Yandex REST face: each thread as the document says, and
    exactly its user and assistant messages, newest first, every line of the stream as
    the document says one is (the fuzzer cannot: the stream is no one JSON document)."""
    threads, messages, _ = read_store(rest_server)
    ids_of: dict[str, list[str]] = {row[0]: [] for row in threads}
    for row in sorted(messages, key=lambda r: r[5]):  # by seq: the entries' order
        if is_plain(message_from_row(row[:5])):
            ids_of[row[1]].append(row[0])
    components = api_schema.raw_schema["components"]
    line_schema = {"$ref": "#/components/schemas/YandexStreamLine", "components": components}
    with rest_server.yandex_http() as client:
        read = Reader(client, api_schema)
        for thread_id, message_ids in ids_of.items():
            assert (
                read.get("GET /assistants/v1/threads/{thread_id}", f"/threads/{thread_id}")["id"] == thread_id
            )
            with client.stream("GET", "/messages", params={"threadId": thread_id}) as streamed:
                assert streamed.status_code == 200, thread_id
                lines = [orjson.loads(line) for line in streamed.iter_lines()]
            for line in lines:
                jsonschema.validate(line, line_schema)
            assert [line["result"]["id"] for line in lines] == message_ids[::-1], thread_id
