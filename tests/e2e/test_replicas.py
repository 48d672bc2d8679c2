"""Two threadgate replicas on one PostgreSQL, as docs/deploy.md describes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import openai as openai_module
import pytest
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.postgres import PgServer, postgres_server
from testkit.server import TEST_FOLDERS, Server, create_key, running_server
from tests.e2e.concurrency import assert_one_order, write_concurrently
from tests.e2e.conftest import openai_client, text_value
from tests.e2e.messages_wire import content, texts_of


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(pg: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    data = tmp_path_factory.mktemp("replicas")
    db = ("--database", pg.dsn)
    key = create_key(data / "unused", TEST_FOLDERS, database=pg.dsn)
    with (
        running_server(data / "a", *db, key_folders=()) as a,
        running_server(data / "b", *db, key_folders=()) as b,
    ):
        a.api_key = b.api_key = key
        yield a, b


def test_a_thread_made_on_one_replica_is_read_and_extended_on_the_other(
    replicas: tuple[Server, Server],
) -> None:
    a, b = replicas
    with openai_client(a) as rest_a:
        made = rest_a.beta.threads.create(messages=[{"role": "user", "content": "from REST on A"}])
    with b.channel() as ch:
        t = ts_grpc.ThreadServiceStub(ch).Get(ts.GetThreadRequest(thread_id=made.id))
        assert t.id == made.id
        messages = ms_grpc.MessageServiceStub(ch)
        messages.Create(ms.CreateMessageRequest(thread_id=made.id, content=content("from gRPC on B")))
        streamed = [texts_of(m)[0] for m in messages.List(ms.ListMessagesRequest(thread_id=made.id))]
    assert streamed == ["from gRPC on B", "from REST on A"]
    with openai_client(a) as rest_a:
        listed = [text_value(m) for m in rest_a.beta.threads.messages.list(made.id, order="asc")]
    assert listed == ["from REST on A", "from gRPC on B"]


def test_a_key_revoked_through_one_replica_is_refused_by_the_other(
    pg: PgServer, replicas: tuple[Server, Server]
) -> None:
    import subprocess
    import sys

    from testkit.server import ROOT

    a, b = replicas
    token = create_key(Path("/nonexistent"), ["f"], "editor", database=pg.dsn)
    with openai_client(a, token) as client:
        client.beta.threads.create()
    subprocess.run(
        [sys.executable, "-m", "adapters.cli", "keys", "revoke", token.split(".")[0], "--database", pg.dsn],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    with openai_client(b, token) as client, pytest.raises(openai_module.AuthenticationError):
        client.beta.threads.create()
    with grpc.insecure_channel(a.grpc_target) as ch, pytest.raises(grpc.RpcError) as info:
        ts_grpc.ThreadServiceStub(ch).List(
            ts.ListThreadsRequest(folder_id="f"), metadata=(("authorization", f"Bearer {token}"),)
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_many_writers_on_both_replicas_get_one_exact_order(replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    with a.http() as http:
        thread_id = http.post("/threads").json()["id"]

    written = write_concurrently((a, b), thread_id, writers=8, each=20)
    seen: list[str] = []
    with b.http() as http:
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"order": "asc", "limit": 100}
            if after:
                params["after"] = after
            page = http.get(f"/threads/{thread_id}/messages", params=params).json()
            seen += [m["id"] for m in page["data"]]
            if not page["has_more"]:
                break
            after = page["last_id"]
    assert len(seen) == 160
    assert_one_order(seen, written)
