"""``threadgate serve``: REST on Hypercorn and gRPC on grpc.aio, one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from adapters.bootstrap import build_core, open_store
from adapters.grpc.server import build_grpc_server, set_serving
from adapters.rest.app import build_app
from adapters.settings import Settings

log = logging.getLogger("threadgate")


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.host}:{settings.rest_port}"]
    config.keep_alive_max_requests = settings.keep_alive_max_requests
    config.graceful_timeout = settings.shutdown_grace
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def run(settings: Settings) -> None:
    store = await open_store(settings)
    try:
        core = build_core(store, settings)
        app = build_app(core, settings.default_folder)
        grpc_server, health_servicer, grpc_port = build_grpc_server(
            core,
            f"{settings.host}:{settings.grpc_port}",
            max_message_bytes=settings.grpc_max_message_bytes,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await grpc_server.start()
        await set_serving(health_servicer, True)
        rest = asyncio.create_task(
            hypercorn_serve(app, hypercorn_config(settings), shutdown_trigger=stop.wait)  # type: ignore[arg-type]
        )
        where = "memory (nothing is kept)" if settings.database == "memory" else str(settings.sqlite_path)
        print(
            f"threadgate listening: REST http://{settings.host}:{settings.rest_port}/v1 "
            f"gRPC {settings.host}:{grpc_port} store {where}",
            flush=True,
        )
        stop_wait = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({rest, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if rest in done and not stop.is_set():
            await grpc_server.stop(0)
            rest.result()  # REST failed to start (port in use...): raise it
        log.info("shutting down: draining in-flight calls")
        await set_serving(health_servicer, False)
        await asyncio.gather(rest, grpc_server.stop(settings.shutdown_grace))
    finally:
        await store.close()
    print("threadgate stopped", flush=True)


def main_serve(settings: Settings) -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        asyncio.run(run(settings))
    except OSError as exc:
        print(f"threadgate: {exc}", file=sys.stderr)
        return 1
    return 0
