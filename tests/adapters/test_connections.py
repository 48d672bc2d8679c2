"""The connection bound's arithmetic and the shaped protocol-error bodies."""

from __future__ import annotations

import orjson

from adapters.http.connections import REFUSAL, connection_limit
from adapters.http.h11_protocol import protocol_error_body


def test_the_bound_leaves_descriptors_for_everything_else() -> None:
    assert connection_limit(1024, 1_048_576) == 1024
    assert connection_limit(1024, 20_000) == 1024
    assert connection_limit(1024, 1024) == 768  # a quarter kept back
    assert connection_limit(1024, 256) == 192  # the incident's limit: 64 kept back
    assert connection_limit(8, 256) == 8
    assert connection_limit(1024, 40) == 8  # at least 32 kept back
    assert connection_limit(1024, 10) == 1


def test_the_refusal_is_a_complete_503() -> None:
    head, _, body = REFUSAL.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert f"content-length: {len(body)}".encode() in head and b"connection: close" in head
    assert orjson.loads(body)["error"]["type"] == "server_error"


def test_protocol_error_bodies_have_the_openai_shape() -> None:
    for status in (400, 431, 505):
        error = orjson.loads(protocol_error_body(status, 16384))["error"]
        assert set(error) == {"message", "type", "param", "code"}
    assert "16384 bytes" in orjson.loads(protocol_error_body(431, 16384))["error"]["message"]
