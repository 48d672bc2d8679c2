"""HTTP/1.1 over a bare socket, for what clients never send: stalled bodies, bad request
lines, oversized headers, hang-ups in the middle of an upload."""

from __future__ import annotations

import socket
import time
from typing import Any

import orjson
from attrs import frozen


@frozen
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after the response

    def json(self) -> Any:
        return orjson.loads(self.body)


def connect(port: int, timeout: float = 15) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_head(method: str, path: str, headers: dict[str, str], host: str = "127.0.0.1") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float = 15) -> RawResponse:
    """One response: its head, its ``content-length`` bytes of body, and whether the
    server then closed the connection (waits for that at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock, deadline)
        if not chunk:
            raise AssertionError(f"connection closed before a full response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ")[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = _recv(sock, deadline)
        if not chunk:
            break
        body += chunk
    closed = len(body) > length or wait_closed(sock, max(0.1, deadline - time.monotonic()))
    return RawResponse(status, headers, body[:length], closed)


def wait_closed(sock: socket.socket, timeout: float) -> bool:
    """True once the server closes the connection (EOF or reset) within ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            chunk = _recv(sock, deadline)
            if not chunk:
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def _recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no answer from the server in time")
    sock.settimeout(remaining)
    try:
        return sock.recv(65536)
    except TimeoutError:
        raise TimeoutError("no answer from the server in time") from None
