"""Bare floors, the cheapest request each protocol stack can serve: ``python -m bench.floors
rest --port N`` serves a no-op Starlette route on Hypercorn configured as ``threadgate serve``
configures it; ``grpc`` a no-op grpc.aio unary method (bytes in and out, no serializers);
``grpc-sync`` the same method on the synchronous ``grpc.server`` with 16 threads.  Each prints
a line starting with ``floor listening`` when ready, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from hypercorn.asyncio.run import worker_serve
from hypercorn.utils import wrap_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.serve import hypercorn_config
from adapters.settings import Settings

HOST = "127.0.0.1"
REST_PATH = "/noop"
GRPC_SERVICE = "bench.Floor"
GRPC_METHOD = f"/{GRPC_SERVICE}/Noop"
SYNC_THREADS = 16


async def _noop(request: Request) -> Response:
    return Response(b"{}", media_type="application/json")


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_rest(port: int) -> None:
    config = hypercorn_config(Settings(host=HOST, rest_port=port))
    sockets = config.create_sockets()
    rest_app = Starlette(routes=[Route(REST_PATH, _noop, methods=["GET"])])
    app = wrap_app(rest_app, config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
    stop = _stop_event()
    server = asyncio.create_task(worker_serve(app, config, sockets=sockets, shutdown_trigger=stop.wait))
    print(f"floor listening: REST http://{HOST}:{port}{REST_PATH}", flush=True)
    await stop.wait()
    await server


async def _noop_unary(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return b""


def _grpc_options() -> list[tuple[str, Any]]:
    limit = Settings().grpc_max_message_bytes
    # the options threadgate's gRPC server uses (adapters/grpc/server.py)
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
    ]


def _listen(server: grpc.Server | grpc.aio.Server, port: int) -> None:
    try:
        server.add_insecure_port(f"{HOST}:{port}")
    except RuntimeError as exc:  # grpcio reports a failed bind this way
        raise OSError(f"cannot listen for gRPC on {HOST}:{port}") from exc


async def serve_grpc(port: int) -> None:
    handler = grpc.method_handlers_generic_handler(
        GRPC_SERVICE, {"Noop": grpc.unary_unary_rpc_method_handler(_noop_unary)}
    )
    server = grpc.aio.server(options=_grpc_options())
    server.add_generic_rpc_handlers((handler,))
    _listen(server, port)
    stop = _stop_event()
    await server.start()
    print(f"floor listening: gRPC {HOST}:{port}{GRPC_METHOD}", flush=True)
    await stop.wait()
    await server.stop(1)


def _noop_sync(request: bytes, context: grpc.ServicerContext) -> bytes:
    return b""


def serve_grpc_sync(port: int) -> None:
    handler = grpc.method_handlers_generic_handler(
        GRPC_SERVICE, {"Noop": grpc.unary_unary_rpc_method_handler(_noop_sync)}
    )
    server = grpc.server(ThreadPoolExecutor(SYNC_THREADS), options=_grpc_options())
    server.add_generic_rpc_handlers((handler,))
    _listen(server, port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    server.start()
    print(f"floor listening: gRPC (sync, {SYNC_THREADS} threads) {HOST}:{port}{GRPC_METHOD}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(1).wait()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floors", description=__doc__)
    p.add_argument("kind", choices=["rest", "grpc", "grpc-sync"])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.kind == "grpc-sync":
        serve_grpc_sync(args.port)
    else:
        asyncio.run(serve_rest(args.port) if args.kind == "rest" else serve_grpc(args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
