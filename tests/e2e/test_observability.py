"""Health, readiness, metrics and request ids on both protocols."""

from __future__ import annotations

import json
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import Server


def test_health_and_ready(server: Server) -> None:
    assert httpx.get(f"http://127.0.0.1:{server.rest_port}/health").json() == {"status": "ok"}
    assert httpx.get(f"http://127.0.0.1:{server.rest_port}/ready").json() == {"status": "ready"}
    with grpc.insecure_channel(server.grpc_target) as ch:
        reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_rest_request_id_is_returned_and_logged(server: Server, http: httpx.Client) -> None:
    r = http.get("/threads/thread_missing", headers={"x-client-request-id": "client-id-42"})
    assert r.headers["x-request-id"] == "client-id-42"
    generated = http.post("/threads").headers["x-request-id"]
    assert len(generated) == 32
    bad = http.get("/threads/thread_missing", headers={"x-client-request-id": "no spaces allowed"})
    assert bad.headers["x-request-id"] != "no spaces allowed"
    mine: list[dict[str, object]] = []
    deadline = time.monotonic() + 5
    while not mine and time.monotonic() < deadline:
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        mine = [x for x in lines if x.get("request_id") == "client-id-42"]
        time.sleep(0.02)
    assert len(mine) == 1
    assert mine[0]["protocol"] == "rest" and mine[0]["status"] == 404 and mine[0]["method"] == "get_thread"
    assert mine[0]["key_id"] == server.api_key.split(".")[0]
    assert "duration_ms" in mine[0]


def test_grpc_request_id_is_returned_and_logged(server: Server, channel: grpc.Channel) -> None:
    threads = ts_grpc.ThreadServiceStub(channel)
    _, call = threads.Create.with_call(
        ts.CreateThreadRequest(folder_id="f"), metadata=(("x-client-request-id", "grpc-client-7"),)
    )
    assert ("x-request-id", "grpc-client-7") in list(call.initial_metadata())
    with pytest.raises(grpc.RpcError) as info:
        threads.Get(
            ts.GetThreadRequest(thread_id="nope"), metadata=(("x-client-request-id", "grpc-client-8"),)
        )
    assert isinstance(info.value, grpc.Call)  # what a failed call raises is the call, too
    assert ("x-request-id", "grpc-client-8") in list(info.value.initial_metadata())
    by_id: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + 5  # the line is written just after the answer is sent
    while "grpc-client-8" not in by_id and time.monotonic() < deadline:
        time.sleep(0.02)
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        by_id = {str(x.get("request_id")): x for x in lines}
    assert (
        by_id["grpc-client-7"]["status"] == "OK"
        and by_id["grpc-client-7"]["method"] == "ThreadService/Create"
    )
    assert by_id["grpc-client-8"]["status"] == "NOT_FOUND"


def test_metrics(server: Server, http: httpx.Client, channel: grpc.Channel) -> None:
    http.post("/threads")
    http.get("/threads/thread_missing")
    ts_grpc.ThreadServiceStub(channel).Create(ts.CreateThreadRequest(folder_id="f"))
    text = httpx.get(f"http://127.0.0.1:{server.rest_port}/metrics").text
    assert 'threadgate_requests_total{method="create_thread",outcome="200",protocol="rest"}' in text
    assert 'threadgate_requests_total{method="get_thread",outcome="404",protocol="rest"}' in text
    assert 'threadgate_requests_total{method="ThreadService/Create",outcome="OK",protocol="grpc"}' in text
    assert "threadgate_request_seconds_bucket" in text
    assert 'threadgate_store_seconds_count{operation="create_thread"}' in text
    assert "threadgate_sweeper_batches_total" in text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    commits = float(values["threadgate_store_commits_total"])
    writes = float(values["threadgate_store_writes_total"])
    assert commits >= 1 and writes >= commits  # the two creates above, at least
