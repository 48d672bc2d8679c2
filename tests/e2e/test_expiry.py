"""Expiry end to end: a STATIC/1-day thread before and after it is a day old.

No test hook in the server: between runs the test ages the thread's rows in the
SQLite file by a day and a minute (as if it had been made that long ago), and the
server, on its real clock, must then treat it as expired on every face.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import grpc
import openai as openai_module
import pytest
from yandex.cloud.ai.assistants.v1.threads import message_pb2
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex.cloud.ai.common import common_pb2

from testkit.server import running_server
from tests.e2e.conftest import openai_client

DAY = 86_400


def rows(db: Path, table: str, thread_id: str) -> int:
    column = "id" if table == "threads" else "thread_id"
    with sqlite3.connect(db) as conn:
        return int(
            conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (thread_id,)).fetchone()[0]
        )


def age(db: Path, thread_id: str, seconds: int) -> None:
    """Move a thread's times ``seconds`` into the past (its messages' too)."""
    us = seconds * 1_000_000
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE threads SET created_us = created_us - ?, updated_us = updated_us - ?, "
            "last_active_us = last_active_us - ?, expires_us = expires_us - ? WHERE id = ?",
            (us, us, us, us, thread_id),
        )
        conn.execute("UPDATE messages SET created_us = created_us - ? WHERE thread_id = ?", (us, thread_id))


def test_static_thread_expires_on_both_protocols_then_is_swept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    static = common_pb2.ExpirationConfig(expiration_policy=common_pb2.ExpirationConfig.STATIC, ttl_days=1)
    text = message_pb2.MessageContent(content=[message_pb2.ContentPart(text=message_pb2.Text(content="hi"))])
    with running_server(data) as server, server.channel() as ch:
        key = server.api_key
        threads = ts_grpc.ThreadServiceStub(ch)
        messages = ms_grpc.MessageServiceStub(ch)
        doomed = threads.Create(ts.CreateThreadRequest(folder_id="f", expiration_config=static))
        kept = threads.Create(ts.CreateThreadRequest(folder_id="f"))  # SINCE_LAST_ACTIVE, 7 days
        for _ in range(3):
            messages.Create(ms.CreateMessageRequest(thread_id=doomed.id, content=text))
        with openai_client(server) as client:
            assert client.beta.threads.retrieve(doomed.id).id == doomed.id
    db = data / "threadgate.db"
    assert rows(db, "messages", doomed.id) == 3

    # A day and a minute later, with the sweeper off: the thread is gone at once for
    # clients, though its rows are still there.
    age(db, doomed.id, DAY + 60)
    with running_server(data, "--sweep-interval", "0") as server:
        server.api_key = key
        ch = server.channel()
        threads = ts_grpc.ThreadServiceStub(ch)
        messages = ms_grpc.MessageServiceStub(ch)
        for call in (
            lambda: threads.Get(ts.GetThreadRequest(thread_id=doomed.id)),
            lambda: list(messages.List(ms.ListMessagesRequest(thread_id=doomed.id))),
            lambda: messages.Create(ms.CreateMessageRequest(thread_id=doomed.id, content=text)),
        ):
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
        listed = [t.id for t in threads.List(ts.ListThreadsRequest(folder_id="f")).threads]
        assert doomed.id not in listed and kept.id in listed
        with openai_client(server) as client:
            with pytest.raises(openai_module.NotFoundError):
                client.beta.threads.retrieve(doomed.id)
            with pytest.raises(openai_module.NotFoundError):
                client.beta.threads.messages.list(doomed.id)
            assert client.beta.threads.retrieve(kept.id).id == kept.id
        ch.close()
    assert rows(db, "threads", doomed.id) == 1

    # With the sweeper on, its rows go from the database.
    with running_server(data, "--sweep-interval", "0.2"):
        deadline = time.monotonic() + 20
        while rows(db, "threads", doomed.id) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert rows(db, "threads", doomed.id) == 0
    assert rows(db, "messages", doomed.id) == 0
    assert rows(db, "threads", kept.id) == 1
