"""How a store outage is rendered on each protocol, and how few lines it logs."""

from __future__ import annotations

import logging

import orjson
import pytest
from google.rpc import code_pb2, error_details_pb2

from adapters.openai.errors import domain_error_response
from adapters.storage.outage_log import OutageLog
from adapters.yandex.status import to_status
from core.errors import Unavailable


def test_rest_invites_a_retry_only_when_it_is_safe() -> None:
    safe = domain_error_response(Unavailable("disk full", retry_safe=True))
    assert safe.status_code == 503
    assert safe.headers["x-should-retry"] == "true"
    assert safe.headers["retry-after"] == "1"
    body = orjson.loads(bytes(safe.body))
    assert body["error"]["type"] == "server_error"
    assert body["error"]["code"] == "store_unavailable"
    assert body["error"]["param"] is None
    assert "disk full" not in body["error"]["message"]  # the driver's words stay in the log

    unknown = domain_error_response(Unavailable("I/O error at COMMIT", retry_safe=False))
    assert unknown.status_code == 503
    assert unknown.headers["x-should-retry"] == "false"
    assert "retry-after" not in unknown.headers
    assert "may or may not" in orjson.loads(bytes(unknown.body))["error"]["message"]

    keyed = domain_error_response(Unavailable("I/O error at COMMIT", retry_safe=False).deduplicated())
    assert keyed.headers["x-should-retry"] == "true"


def test_grpc_is_unavailable_with_retry_info_only_when_a_retry_is_safe_else_unknown() -> None:
    safe = to_status(Unavailable("locked", retry_safe=True))
    assert safe.code == code_pb2.UNAVAILABLE
    assert len(safe.details) == 1
    info = error_details_pb2.RetryInfo()
    assert safe.details[0].Unpack(info)
    assert info.retry_delay.seconds == 1

    # a write that may have committed: not UNAVAILABLE, which gRPC retry policies resend
    unknown = to_status(Unavailable("lost at COMMIT", retry_safe=False))
    assert unknown.code == code_pb2.UNKNOWN
    assert list(unknown.details) == []
    assert "may or may not" in unknown.message
    keyed = to_status(Unavailable("lost at COMMIT", retry_safe=False).deduplicated())
    assert keyed.code == code_pb2.UNAVAILABLE


def test_an_outage_logs_one_traceback_then_a_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    outages = OutageLog(interval=10, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="threadgate.store")
    for _ in range(1000):  # 1000 failures over 25 s
        outages.failed("create_thread", Unavailable("disk full", retry_safe=True))
        now[0] += 0.025
    outages.available()
    records = caplog.records
    assert sum(1 for r in records if r.exc_info) == 1
    assert records[0].exc_info and "disk full" in records[0].getMessage()
    summaries = [r for r in records if "more failures" in r.getMessage()]
    assert len(summaries) == 2
    assert "available again" in records[-1].getMessage()
    assert len(records) == 4

    # a store that flaps: at most one traceback per interval
    caplog.clear()
    for _ in range(20):  # down and up again every second
        outages.failed("ping", Unavailable("locked", retry_safe=True))
        outages.available()
        now[0] += 1
    assert sum(1 for r in caplog.records if r.exc_info) == 2
