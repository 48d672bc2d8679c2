"""A bound on open REST connections, and calm behaviour when file descriptors run out.

Hypercorn accepts every connection it can (its accept loop is asyncio's) and has no
limit of its own.  ``ConnectionGate.guard`` hands Hypercorn listening sockets whose
``accept()`` counts the connections still open: beyond ``--max-connections`` a new one is
answered with a short 503 and closed at once, before it costs more than a moment.

When the process is out of descriptors anyway (EMFILE: other sockets, the store, gRPC),
asyncio's accept loop used to log a traceback for every pending connection, up to a
hundred a turn, and leave the clients waiting in the backlog.  The gate keeps one spare
descriptor to accept and refuse such a connection with, and says so at most once a
minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import time
from collections.abc import Iterable
from typing import Any, NoReturn

import orjson
from hypercorn.config import Sockets
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("threadgate.connections")

_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_REFUSALS_PER_CALL = 64  # then back to the event loop, which calls again while more wait
_REPORT_EVERY = 60.0  # seconds between two warnings of the same kind


def _refusal() -> bytes:
    body = orjson.dumps(
        {
            "error": {
                "message": "The server has too many open connections; please retry shortly.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nretry-after: 1\r\nx-should-retry: true\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


REFUSAL = _refusal()


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as Go and nginx do) and return the
    limit now in force; logged once when it changes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    log.info("open-file limit (RLIMIT_NOFILE) raised from %d to %d", soft, target)
    return target


def connection_limit(requested: int, nofile: int) -> int:
    """``requested``, lowered so REST connections leave descriptors for everything else:
    a quarter of the limit, at least 32 and at most 256."""
    reserve = max(32, min(256, nofile // 4))
    return max(1, min(requested, nofile - reserve))


class _Report:
    """A warning at most every ``_REPORT_EVERY`` seconds, with a count of the ones held back."""

    def __init__(self) -> None:
        self._next = 0.0
        self._held = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        self._next = now + _REPORT_EVERY
        held, self._held = self._held, 0
        suffix = f" ({held} more since the last report)" if held else ""
        log.warning(message + suffix, *args)


class ConnectionGate(Collector):
    """Counts the open REST connections of this process and refuses those beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.refused = 0
        self._spare = _open_spare()
        self._paused_until = 0.0
        self._report_full = _Report()
        self._report_out_of_fds = _Report()

    def guard(self, sockets: Sockets) -> Sockets:
        """The same listening sockets, accepting through the gate."""
        return Sockets(
            secure_sockets=[GatedListener(self, s) for s in sockets.secure_sockets],
            insecure_sockets=[GatedListener(self, s) for s in sockets.insecure_sockets],
            quic_sockets=sockets.quic_sockets,
        )

    def watch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Route the loop's out-of-descriptor reports (asyncio's accept loop makes one, with
        a traceback, per failed accept) through the same once-a-minute warning."""
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if isinstance(exc, OSError) and exc.errno in _OUT_OF_FDS:
                self._out_of_fds_warning(exc)
            elif previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    def accept(self, listener: GatedListener) -> tuple[socket.socket, Any]:
        if time.monotonic() < self._paused_until:
            raise BlockingIOError  # asyncio retries on its own after an EMFILE it was told of
        for _ in range(_REFUSALS_PER_CALL):
            try:
                conn, address = socket.socket.accept(listener)
            except OSError as exc:
                if exc.errno not in _OUT_OF_FDS:
                    raise
                self._out_of_fds(listener, exc)
            if self.open < self.limit:
                self.open += 1
                return _GatedConnection(self, conn), address
            self._refuse(conn)
            self._report_full(
                "refusing REST connections: %d are open, the limit is %d (--max-connections)",
                self.open,
                self.limit,
            )
        raise BlockingIOError

    def _out_of_fds(self, listener: GatedListener, exc: OSError) -> NoReturn:
        """Refuse one waiting connection with the spare descriptor, or pause accepting."""
        self._out_of_fds_warning(exc)
        if self._spare is None:
            self._spare = _open_spare()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
            try:
                conn, _ = socket.socket.accept(listener)
            except OSError:
                pass
            else:
                self._refuse(conn)
            self._spare = _open_spare()
            raise BlockingIOError from None  # the loop calls again while more wait
        # no spare: let asyncio stop accepting for a second, and make it ask only once
        self._paused_until = time.monotonic() + 0.5
        raise exc

    def _out_of_fds_warning(self, exc: OSError) -> None:
        self._report_out_of_fds(
            "out of file descriptors (%s): refusing new REST connections; %d are open. "
            "Raise the open-file limit (ulimit -n) or lower --max-connections",
            exc.strerror,
            self.open,
        )

    def _refuse(self, conn: socket.socket) -> None:
        self.refused += 1
        try:
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # what the client sent already: closing on it would reset
            conn.send(REFUSAL)
        except OSError:
            pass
        finally:
            conn.close()

    def _closed(self) -> None:
        self.open -= 1

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily(
            "threadgate_rest_connections_open", "REST connections open in this process.", value=self.open
        )
        yield CounterMetricFamily(
            "threadgate_rest_connections_refused",
            "REST connections refused at accept: over --max-connections or out of file descriptors.",
            value=self.refused,
        )


class GatedListener(socket.socket):
    """A listening socket (it takes over ``sock``'s descriptor) that accepts through a gate."""

    def __init__(self, gate: ConnectionGate, sock: socket.socket) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self._gate = gate

    def accept(self) -> tuple[socket.socket, Any]:
        return self._gate.accept(self)


class _GatedConnection(socket.socket):
    """An accepted connection that tells the gate when it is closed (asyncio closes the
    socket when the transport is done with it)."""

    def __init__(self, gate: ConnectionGate, conn: socket.socket) -> None:
        super().__init__(conn.family, conn.type, conn.proto, fileno=conn.detach())
        self._gate: ConnectionGate | None = gate

    def close(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate._closed()
        super().close()


def _open_spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def open_gate(max_connections: int) -> ConnectionGate:
    """The gate for this process's REST listener: raises the open-file limit, bounds the
    connections to what it can hold, and quiets the running loop's EMFILE reports."""
    nofile = raise_open_file_limit()
    limit = connection_limit(max_connections, nofile)
    if limit < max_connections:
        log.warning(
            "--max-connections %d does not fit the open-file limit %d: accepting at most %d "
            "REST connections, to leave descriptors for gRPC and the store",
            max_connections,
            nofile,
            limit,
        )
    gate = ConnectionGate(limit)
    gate.watch_loop(asyncio.get_running_loop())
    return gate
