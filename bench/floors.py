"""Bare floors: the cheapest request each protocol stack can serve.

``python -m bench.floors rest --port N`` serves one no-op Starlette route on
Hypercorn, configured exactly as ``threadgate serve`` configures it.
``python -m bench.floors grpc --port N`` serves one no-op grpc.aio unary method
through a generic handler with identity (bytes) serializers.

Each prints a line starting with ``floor listening`` when ready and stops on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

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
EMPTY_JSON = b"{}"


async def _noop(request: Request) -> Response:
    return Response(EMPTY_JSON, media_type="application/json")


def rest_app() -> Starlette:
    return Starlette(routes=[Route(REST_PATH, _noop, methods=["GET"])])


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_rest(port: int) -> None:
    config = hypercorn_config(Settings(host=HOST, rest_port=port))
    sockets = config.create_sockets()
    app = wrap_app(rest_app(), config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
    stop = _stop_event()
    server = asyncio.create_task(worker_serve(app, config, sockets=sockets, shutdown_trigger=stop.wait))
    print(f"floor listening: REST http://{HOST}:{port}{REST_PATH}", flush=True)
    await stop.wait()
    await server


async def _noop_unary(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return b""


async def serve_grpc(port: int) -> None:
    handler = grpc.method_handlers_generic_handler(
        GRPC_SERVICE,
        # no serializers: the method sees and returns raw bytes
        {"Noop": grpc.unary_unary_rpc_method_handler(_noop_unary)},
    )
    limit = Settings().grpc_max_message_bytes
    # the options threadgate's gRPC server uses (adapters/grpc/server.py)
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ]
    )
    server.add_generic_rpc_handlers((handler,))
    try:
        server.add_insecure_port(f"{HOST}:{port}")
    except RuntimeError as exc:  # grpcio reports a failed bind this way
        raise OSError(f"cannot listen for gRPC on {HOST}:{port}") from exc
    stop = _stop_event()
    await server.start()
    print(f"floor listening: gRPC {HOST}:{port}{GRPC_METHOD}", flush=True)
    await stop.wait()
    await server.stop(1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floors", description=__doc__)
    p.add_argument("kind", choices=["rest", "grpc"])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve_rest(args.port) if args.kind == "rest" else serve_grpc(args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
