"""The eight routes of the Yandex REST face, as the protos' ``google.api.http``
annotations give them.  Written out here so they can be read; ``annotated`` reads the
annotations, and the face refuses to start if the two differ."""

from __future__ import annotations

from collections.abc import Iterable

from attrs import frozen
from google.api import annotations_pb2
from google.protobuf.descriptor import ServiceDescriptor

PREFIX = "/assistants/v1"


@frozen
class RestRoute:
    rpc: str  # "ThreadService/Create"
    method: str  # the HTTP method
    path: str  # the template, path variables by proto name
    body: str  # "*": the whole request is the body; "": the path and the query are


ROUTES = (
    RestRoute("ThreadService/Create", "POST", f"{PREFIX}/threads", "*"),
    RestRoute("ThreadService/Get", "GET", f"{PREFIX}/threads/{{thread_id}}", ""),
    RestRoute("ThreadService/Update", "PATCH", f"{PREFIX}/threads/{{thread_id}}", "*"),
    RestRoute("ThreadService/Delete", "DELETE", f"{PREFIX}/threads/{{thread_id}}", ""),
    RestRoute("ThreadService/List", "GET", f"{PREFIX}/threads", ""),
    RestRoute("MessageService/Create", "POST", f"{PREFIX}/messages", "*"),
    RestRoute("MessageService/Get", "GET", f"{PREFIX}/messages/{{message_id}}", ""),
    RestRoute("MessageService/List", "GET", f"{PREFIX}/messages", ""),
)


def annotated(services: Iterable[ServiceDescriptor]) -> set[RestRoute]:
    """The routes the services' ``google.api.http`` options name."""
    found = set()
    for service in services:
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            kind = rule.WhichOneof("pattern")
            if kind is not None and kind != "custom":
                found.add(
                    RestRoute(f"{service.name}/{method.name}", kind.upper(), getattr(rule, kind), rule.body)
                )
    return found
