"""Group commit through the real clients: concurrent creates share transactions, and
every one of them is there, over both protocols."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import Server
from tests.e2e.conftest import openai_client


def commit_counts(server: Server) -> tuple[float, float]:
    text = httpx.get(f"http://127.0.0.1:{server.rest_port}/metrics").text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return float(values["threadgate_store_commits_total"]), float(values["threadgate_store_writes_total"])


def test_concurrent_creates_share_commits_and_all_land(fresh_server: Server) -> None:
    server = fresh_server
    client = openai_client(server)
    commits0, writes0 = commit_counts(server)
    with ThreadPoolExecutor(32) as pool:
        made = list(pool.map(lambda _: client.beta.threads.create().id, range(256)))
    commits1, writes1 = commit_counts(server)
    assert len(set(made)) == 256
    assert writes1 - writes0 == 256
    # 32 clients at once cannot all have found the writer idle: some creates shared a commit
    assert commits1 - commits0 < 256, commits1 - commits0
    # and each is stored: read every one back over the other protocol
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = ts_grpc.ThreadServiceStub(channel)
        auth = (("authorization", f"Api-Key {server.api_key}"),)
        for thread_id in made:
            assert stub.Get(ts.GetThreadRequest(thread_id=thread_id), metadata=auth).id == thread_id
