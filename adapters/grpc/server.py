"""The grpc.aio server: both services, health checking and reflection."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from adapters.grpc.observer import GrpcObserver
from adapters.observability import Metrics
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import (
    message_pb2,
    message_service_pb2,
    thread_pb2,
    thread_service_pb2,
)
from adapters.yandex.grpc_methods import tolerant
from adapters.yandex.servicers import Authenticator, MessageServiceServicer, ThreadServiceServicer
from core.services import Core

SERVICE_NAMES = (
    thread_service_pb2.DESCRIPTOR.services_by_name["ThreadService"].full_name,
    message_service_pb2.DESCRIPTOR.services_by_name["MessageService"].full_name,
)


def service_handlers(
    threads: ThreadServiceServicer, messages: MessageServiceServicer, observer: GrpcObserver
) -> tuple[grpc.GenericRpcHandler, ...]:
    """Both services, as the generated add_*_to_server would register them, but with
    request deserializers that never raise (bad bytes must be INVALID_ARGUMENT), and
    every method observed (request id, metrics, log line) as ``<Service>/<Method>``."""
    ts, ms, t, m = thread_service_pb2, message_service_pb2, thread_pb2, message_pb2

    def unary(service: str, servicer: Any, methods: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
        short = service.rsplit(".", 1)[-1]
        return {
            name: grpc.unary_unary_rpc_method_handler(
                observer.unary(f"{short}/{name}", getattr(servicer, name)),
                request_deserializer=tolerant(request.FromString),
                response_serializer=response.SerializeToString,
            )
            for name, (request, response) in methods.items()
        }

    thread_methods = unary(
        SERVICE_NAMES[0],
        threads,
        {
            "Create": (ts.CreateThreadRequest, t.Thread),
            "Get": (ts.GetThreadRequest, t.Thread),
            "Update": (ts.UpdateThreadRequest, t.Thread),
            "Delete": (ts.DeleteThreadRequest, ts.DeleteThreadResponse),
            "List": (ts.ListThreadsRequest, ts.ListThreadsResponse),
        },
    )
    message_methods = unary(
        SERVICE_NAMES[1],
        messages,
        {"Create": (ms.CreateMessageRequest, m.Message), "Get": (ms.GetMessageRequest, m.Message)},
    )
    message_methods["List"] = grpc.unary_stream_rpc_method_handler(
        observer.stream("MessageService/List", messages.List),
        request_deserializer=tolerant(ms.ListMessagesRequest.FromString),
        response_serializer=m.Message.SerializeToString,
    )
    return (
        grpc.method_handlers_generic_handler(SERVICE_NAMES[0], thread_methods),
        grpc.method_handlers_generic_handler(SERVICE_NAMES[1], message_methods),
    )


def bind_grpc_server(
    address: str,
    *,
    max_message_bytes: int = 4 * 1024 * 1024,
    reuse_port: bool = False,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A server bound to ``address``, with no services yet; returns it and the bound port.
    With ``credentials`` (``adapters.grpc.tls``), the port serves TLS.

    Binding comes first, before the store opens, so that a port clash fails a start
    before anything is written (see ``serve.run``).
    """
    server = grpc.aio.server(
        options=[
            # a second process on the same port must fail, not silently share it,
            # unless this is one of several --workers sharing the port on purpose
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpcio reports a failed bind this way
        raise OSError(f"cannot listen for gRPC on {address}: address in use or not available") from exc
    return server, port


def add_services(
    server: grpc.aio.Server, core: Core, *, allow_anonymous: bool = False, metrics: Metrics | None = None
) -> health.aio.HealthServicer:
    """Both threadgate services, health checking and reflection; returns the health servicer."""
    auth = Authenticator(core, allow_anonymous)
    server.add_generic_rpc_handlers(
        service_handlers(
            ThreadServiceServicer(core, auth),
            MessageServiceServicer(core, auth),
            GrpcObserver(metrics or Metrics()),
        )
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return health_servicer


async def set_serving(health_servicer: health.aio.HealthServicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, status)
