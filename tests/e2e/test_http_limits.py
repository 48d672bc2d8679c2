"""REST connection and body limits over real sockets: stalled and trickled bodies, an
over-cap Content-Length, the connection bound, redirects, protocol errors, hang-ups."""

from __future__ import annotations

import json
import resource
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.server import Server, running_server
from tests.e2e.raw_http import connect, read_response, request_head, wait_closed

OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that gives a request body one second to arrive."""
    with running_server(tmp_path_factory.mktemp("limited"), "--body-timeout", "1") as s:
        yield s


def post_head(server: Server, length: int, path: str = "/v1/threads") -> bytes:
    headers = {**server.auth_headers, "Content-Type": "application/json", "Content-Length": str(length)}
    return request_head("POST", path, headers)


def metric_lines(server: Server, name: str) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{server.rest_port}/metrics").text
    return {
        series: float(value)
        for series, _, value in (line.rpartition(" ") for line in text.splitlines())
        if series.startswith(name)
    }


def wait_for(condition: object, timeout: float = 10) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def request_lines(server: Server) -> list[dict[str, object]]:
    lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("msg") == "request"]


# -- bodies ----------------------------------------------------------------------


def test_a_body_stalled_after_one_byte_is_cut(limited: Server) -> None:
    with connect(limited.rest_port) as sock:
        sock.sendall(post_head(limited, 100) + b"{")
        r = read_response(sock)
    assert r.status == 400 and r.closed
    assert r.headers["connection"] == "close"
    assert r.json()["error"]["code"] == "request_timeout"
    assert set(r.json()["error"]) == OPENAI_ERROR_KEYS


def test_a_trickled_body_is_cut_at_the_deadline(limited: Server) -> None:
    """One byte every 0.2 s keeps every read short, but the whole body has one second."""
    with connect(limited.rest_port) as sock:
        sock.sendall(post_head(limited, 100))
        deadline = time.monotonic() + 15
        while not select.select([sock], [], [], 0.2)[0]:  # until the server answers
            assert time.monotonic() < deadline, "the trickle was never cut"
            sock.sendall(b" ")
        r = read_response(sock)
    assert r.status == 400 and r.closed
    assert r.json()["error"]["code"] == "request_timeout"


def test_an_over_cap_content_length_is_refused_before_the_body(limited: Server) -> None:
    with connect(limited.rest_port) as sock:
        sock.sendall(post_head(limited, 100 * 1024 * 1024))  # and no body at all
        r = read_response(sock)
    assert r.status == 413 and r.closed
    assert r.headers["connection"] == "close"
    err = r.json()["error"]
    assert err["code"] == "request_too_large" and set(err) == OPENAI_ERROR_KEYS


def test_a_hang_up_mid_upload_is_499_not_a_server_error(limited: Server) -> None:
    with connect(limited.rest_port) as sock:
        sock.sendall(post_head(limited, 1000, "/v1/threads/thread_gone/messages") + b'{"role": "us')
        time.sleep(0.2)  # the handler is reading the body by now
    series = 'threadgate_requests_total{method="create_message",outcome="499",protocol="rest"}'
    wait_for(lambda: metric_lines(limited, "threadgate_requests_total").get(series) == 1.0)
    totals = metric_lines(limited, "threadgate_requests_total")
    assert not [s for s in totals if 'method="create_message",outcome="5' in s], totals
    wait_for(lambda: any(x["status"] == 499 for x in request_lines(limited)))
    mine = [x for x in request_lines(limited) if x["method"] == "create_message"]
    assert [x["status"] for x in mine] == [499]
    assert "Traceback" not in limited.log() and "unhandled error" not in limited.log()


def test_hang_ups_before_the_response_log_no_tracebacks(limited: Server) -> None:
    for linger in (False, True):
        for path in ("/v1/threads", "/metrics", "/openapi.json"):
            sock = connect(limited.rest_port)
            if linger:  # close with a reset rather than a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            method = "POST" if path == "/v1/threads" else "GET"
            sock.sendall(request_head(method, path, limited.auth_headers))
            sock.close()
    assert httpx.get(f"http://127.0.0.1:{limited.rest_port}/health").status_code == 200
    time.sleep(0.5)
    assert "Traceback" not in limited.log()


# -- redirects and unknown paths ---------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/threads/",
        "/v1/threads/thread_abc/",
        "/v1/threads/thread_abc/messages/",
        "/health/",
        "/v1/threads%2f",
    ],
)
def test_no_redirects_unknown_paths_get_the_openai_404(limited: Server, path: str) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{limited.rest_port}", headers=limited.auth_headers) as c:
        for method in ("GET", "POST"):
            r = c.request(method, path, headers={"Host": "evil.example.com"})
            assert r.status_code == 404, (method, path, r.headers)
            assert "location" not in r.headers
            decoded = path.replace("%2f", "/")
            assert r.json() == {
                "error": {
                    "message": f"Invalid URL ({method} {decoded})",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }


@pytest.mark.parametrize("path", ["/v1/%2e%2e%2f", "/v1/threads/%2e%2e%2f", "/v1/threads%2F"])
def test_encoded_paths_never_redirect(limited: Server, path: str) -> None:
    with connect(limited.rest_port) as sock:
        sock.sendall(request_head("GET", path, limited.auth_headers, host="evil.example.com"))
        r = read_response(sock, timeout=2)
    assert r.status == 404 and "location" not in r.headers
    assert r.json()["error"]["type"] == "invalid_request_error"


# -- protocol errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"BLAH\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n", 400),
        (b"POST /v1/threads HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000, 431),
    ],
)
def test_protocol_errors_are_well_formed(limited: Server, data: bytes, status: int) -> None:
    with connect(limited.rest_port) as sock:
        sock.sendall(data)
        r = read_response(sock)
    assert r.status == status and r.closed
    assert r.headers["connection"] == "close"
    assert int(r.headers["content-length"]) == len(r.body)
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert set(err) == OPENAI_ERROR_KEYS and err["type"] == "invalid_request_error"


# -- the connection bound ----------------------------------------------------------


def test_connections_beyond_the_bound_are_refused_cleanly(tmp_path: Path) -> None:
    with running_server(tmp_path / "d", "--max-connections", "8") as server:
        base = f"http://127.0.0.1:{server.rest_port}"
        with httpx.Client(base_url=base) as keep_alive:

            def metric(name: str) -> float:
                text = keep_alive.get("/metrics").text
                return next(float(x.split()[1]) for x in text.splitlines() if x.startswith(name + " "))

            def open_now() -> float:
                return metric("threadgate_rest_connections_open")

            assert keep_alive.get("/health").status_code == 200
            stalled = [connect(server.rest_port) for _ in range(7)]
            for sock in stalled:  # bodies that do not come: each holds its connection
                sock.sendall(post_head(server, 10) + b"{")
            wait_for(lambda: open_now() == 8)
            for _ in range(3):
                with connect(server.rest_port) as extra:
                    try:
                        r = read_response(extra, timeout=10)
                    except ConnectionError:
                        pass  # refused with a reset: clean as well
                    else:
                        assert r.status == 503 and r.closed
                        assert r.json()["error"]["type"] == "server_error"
            assert keep_alive.get("/health").status_code == 200
            assert metric("threadgate_rest_connections_refused_total") >= 3
            for sock in stalled:
                sock.close()
            wait_for(lambda: open_now() == 1)
            assert httpx.get(f"{base}/health").status_code == 200
    assert "Traceback" not in server.log()


def test_connections_the_client_closed_free_their_slot_at_once(tmp_path: Path) -> None:
    """Hypercorn kept a connection its client had closed open until the keep-alive timer
    (5 s) ran out; one fresh connection per request then filled the bound at once."""
    with running_server(tmp_path / "d", "--max-connections", "8") as server:
        url = f"http://127.0.0.1:{server.rest_port}/health"
        statuses = [httpx.get(url).status_code for _ in range(30)]
        assert statuses == [200] * 30


def test_a_client_that_shuts_its_sending_side_still_gets_its_answers(limited: Server) -> None:
    head = request_head("GET", "/health", {})
    with connect(limited.rest_port) as sock:
        sock.sendall(head + head)  # two pipelined requests, then the end of the stream
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):  # until the server closes, after both answers
            data += chunk
    assert data.count(b"HTTP/1.1 200 ") == 2 and data.endswith(b'{"status":"ok"}')


def test_running_out_of_file_descriptors_is_logged_once(tmp_path: Path) -> None:
    with running_server(tmp_path / "d") as server:
        pid = server.process.pid
        before = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        in_use = len(list(Path(f"/proc/{pid}/fd").iterdir()))
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 8, before[1]))
        held: list[socket.socket] = []
        try:
            for _ in range(60):
                sock = connect(server.rest_port)
                sock.sendall(post_head(server, 10) + b"{")
                held.append(sock)
            time.sleep(3)  # several seconds of connections the server cannot take
            refused = sum(wait_closed(sock, 0.05) for sock in held)
            assert refused > 0  # refused at once, not left waiting in the backlog
        finally:
            for sock in held:
                sock.close()
            resource.prlimit(pid, resource.RLIMIT_NOFILE, before)
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{server.rest_port}/health").status_code == 200)
        lines = [x for x in server.log().splitlines() if "file descriptors" in x or "open files" in x]
        assert 1 <= len(lines) <= 2, lines
