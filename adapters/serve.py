"""``threadgate serve``: REST on Hypercorn and gRPC on grpc.aio, one event loop.

The HTTP host serves the OpenAI face at ``/v1`` and, handed in from here, the Yandex REST
face at ``/assistants/v1``; the gRPC host serves the Yandex gRPC face."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from typing import Any

from attrs import frozen
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

import adapters.tls
from adapters.bootstrap import build_core, open_store, redact_dsn
from adapters.grpc.server import add_services, bind_grpc_server, set_serving
from adapters.grpc.tls import server_credentials
from adapters.http import h2_protocol, h11_protocol
from adapters.http.app import build_app
from adapters.http.connections import open_gate
from adapters.http.tls import TlsConfig
from adapters.observability import JsonFormatter, MeasuredStore, Metrics, write_request_lines_to
from adapters.openai.requests import RestOptions
from adapters.settings import Settings
from adapters.yandex.rest.app import yandex_rest_mount
from core.access import AccessRole
from core.expiry import SweepSettings
from core.ports import Store
from core.services import Core

log = logging.getLogger("threadgate")


def hypercorn_config(settings: Settings, tls: adapters.tls.ServerTls | None = None) -> Config:
    config = Config() if tls is None else TlsConfig(tls.rest_context)
    config.bind = [f"{settings.host}:{settings.rest_port}"]
    # Hypercorn's default closes a connection after 1,000 requests; clients then
    # reconnect.  Keep it bounded, but far from the hot path.
    config.keep_alive_max_requests = settings.keep_alive_max_requests
    config.graceful_timeout = settings.shutdown_grace
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def first_key(core: Core, settings: Settings) -> None:
    """On an empty store, make an admin key for the default folder and show it once."""
    if settings.allow_anonymous:
        log.warning(
            "ANONYMOUS ACCESS IS ON (--allow-anonymous): calls without an API key act as an "
            "admin on every folder. Never use this outside development."
        )
    if await core.access.list_keys():
        return
    key, token = await core.access.create_key(
        [settings.default_folder], AccessRole.ADMIN, description="created on first start"
    )
    print(
        f"threadgate: created the first API key ({key.id}), admin on folder "
        f"'{settings.default_folder}'. It is shown only now; keep it:\n"
        f"threadgate: api key: {token}",
        flush=True,
    )


async def watch_health(
    core: Core, health_servicer: Any, stop: asyncio.Event, every: float = 5.0, timeout: float = 2.0
) -> None:
    """gRPC health follows the store, as REST /ready does: NOT_SERVING while its write
    probe fails or takes over ``timeout`` seconds, SERVING again once it answers."""
    serving = True
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(core.store.ping(), timeout)
            ok = True
        except Exception:
            ok = False
        if ok != serving:
            log.warning(
                "store %s: gRPC health is now %s",
                "back" if ok else "unreachable",
                "SERVING" if ok else "NOT_SERVING",
            )
            await set_serving(health_servicer, ok)
            serving = ok


@frozen
class WorkerRole:
    """Set when this process is one of ``--workers N``: its index and the pipe it
    reports readiness on.  It binds both ports with SO_REUSEPORT, so the kernel spreads
    new connections over the workers."""

    index: int
    ready_fd: int


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT: one of a group that shares ``port``."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def bind_rest(config: Config) -> Sockets:
    """Bind and listen at once, so clients that connect before Hypercorn's accept loop
    runs wait in the backlog instead of being refused."""
    try:
        sockets = config.create_sockets()
        for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
            sock.listen(config.backlog)
    except OSError as exc:
        raise OSError(f"cannot listen for REST on {config.bind[0]}: {exc.strerror}") from exc
    return sockets


def describe_store(settings: Settings) -> str:
    if settings.database == "memory":
        return "memory (nothing is kept)"
    if settings.database.startswith(("postgresql://", "postgres://")):
        return redact_dsn(settings.database)
    return str(settings.sqlite_path)


def listening_line(
    settings: Settings, rest_port: int, grpc_port: int, tls: adapters.tls.ServerTls | None
) -> str:
    rest = f"{'http' if tls is None else 'https'}://{settings.host}:{rest_port}/v1"
    grpc_tls = "" if tls is None else " (mTLS)" if tls.requires_client_certificate else " (TLS)"
    return (
        f"threadgate listening: REST {rest} gRPC {settings.host}:{grpc_port}{grpc_tls} "
        f"store {describe_store(settings)}"
    )


async def run(settings: Settings, worker: WorkerRole | None = None) -> None:
    # The certificate is read and checked first: a bad one stops the start before
    # anything binds or writes.
    tls = adapters.tls.server_tls(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    if tls is not None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the reload handler is in place
    config = hypercorn_config(settings, tls)
    gate = open_gate(settings.max_connections)  # also raises the open-file limit
    h11_protocol.install()  # shaped protocol errors, prompt close on hang-up
    h2_protocol.install()  # HTTP/2 data on an answered stream no longer drops the connection
    # Bind both ports before serving anything, so a clash fails at once and cleanly.
    if worker is None:
        sockets = bind_rest(config)
    else:
        # each worker listens on a socket of its own in the port's SO_REUSEPORT group:
        # with one shared socket, asyncio's accept loop let whichever worker woke first
        # take every pending connection, and keep-alive clients stayed there
        try:
            own = reuse_port_socket(settings.host, settings.rest_port)
            own.listen(config.backlog)
        except OSError as exc:
            raise OSError(f"cannot listen for REST on {config.bind[0]}: {exc.strerror}") from exc
        secure, plain = ([], [own]) if tls is None else ([own], [])
        sockets = Sockets(secure_sockets=secure, insecure_sockets=plain, quic_sockets=[])
    sockets = gate.guard(sockets)  # accept through the connection bound
    try:
        # workers share the gRPC port on purpose; a lone server must fail on a clash
        grpc_server, grpc_port = bind_grpc_server(
            f"{settings.host}:{settings.grpc_port}",
            max_message_bytes=settings.grpc_max_message_bytes,
            reuse_port=worker is not None,
            credentials=None if tls is None else server_credentials(tls),
        )
    except OSError:
        for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
            sock.close()
        raise
    # Only now, with both ports held, may the start write anything (the store, a key).
    raw_store = await open_store(settings)
    metrics = Metrics()
    metrics.registry.register(gate)
    store: Store = MeasuredStore(raw_store, metrics)
    try:
        core = build_core(store, settings)
        if worker is None:
            await first_key(core, settings)
        rest_app = build_app(
            core,
            RestOptions(
                default_folder=settings.default_folder,
                allow_anonymous=settings.allow_anonymous,
                require_openai_beta=settings.require_openai_beta,
                body_timeout=settings.body_timeout,
            ),
            metrics,
            mounts=[
                yandex_rest_mount(
                    core, allow_anonymous=settings.allow_anonymous, body_timeout=settings.body_timeout
                )
            ],
        )
        app = wrap_app(rest_app, config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
        health_servicer = add_services(
            grpc_server, core, allow_anonymous=settings.allow_anonymous, metrics=metrics
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if tls is not None:
            loop.add_signal_handler(signal.SIGHUP, tls.reload)  # new certificate, same connections
        # Everything made so far lives as long as the server: keep it out of the
        # collector's full passes, which would otherwise walk it every few thousand
        # requests (about 10 ms each) and show up as latency spikes.
        gc.collect()
        gc.freeze()
        await grpc_server.start()
        await set_serving(health_servicer, True)
        rest = asyncio.create_task(worker_serve(app, config, sockets=sockets, shutdown_trigger=stop.wait))
        sweeper = core.sweeper(
            SweepSettings(interval_seconds=settings.sweep_interval, batch_rows=settings.sweep_batch_rows)
        )
        metrics.watch_sweeper(sweeper.totals)
        commit_totals = getattr(raw_store, "commit_totals", None)  # group-committing stores
        if commit_totals is not None:
            metrics.watch_commits(commit_totals)
        sweeping = asyncio.create_task(sweeper.run(stop))
        watching = asyncio.create_task(watch_health(core, health_servicer, stop))
        reloading = None if tls is None else asyncio.create_task(tls.watch(stop, settings.tls_watch_interval))
        rest_port = (sockets.secure_sockets or sockets.insecure_sockets)[0].getsockname()[1]
        if worker is None:
            print(listening_line(settings, rest_port, grpc_port, tls), flush=True)
        else:
            os.write(worker.ready_fd, b"ready\n")
            os.close(worker.ready_fd)
        await stop.wait()
        log.info("shutting down: draining in-flight calls")
        await set_serving(health_servicer, False)
        await asyncio.gather(rest, grpc_server.stop(settings.shutdown_grace), sweeping, watching)
        if reloading is not None:
            await reloading
    finally:
        await raw_store.close()
    if worker is None:
        print("threadgate stopped", flush=True)


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    write_request_lines_to(sys.stderr)
