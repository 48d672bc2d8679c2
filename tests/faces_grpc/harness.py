"""The Yandex gRPC face in process, and how its tests read what it answers.

The gRPC host's own server (``bind_grpc_server`` on port 0, ``add_services``) over a
memory store that fails on demand, reached through our generated stubs over a real
grpc.aio channel to 127.0.0.1.  This module imports ``adapters.yandex._gen``: only the
gRPC tier's process may load it (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import pytest
from attrs import define, field
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from hypothesis import strategies as st

from adapters.grpc.server import add_services, bind_grpc_server
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_pb2
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from core.access import AccessRole
from core.services import Core
from core.validation import MAX_LABEL_KEY, MAX_LABEL_VALUE, MAX_LABELS
from tests.doubles import ManualClock, OutageStore, SequentialIds
from tests.factories import T0

M = TypeVar("M", bound=Message)
T = TypeVar("T")
Code = grpc.StatusCode
FOLDER, OTHER_FOLDER = "b1g-face", "b1g-other"

# text protobuf can carry (UTF-8, so no lone surrogates) and every store keeps (no NUL)
storable = st.characters(codec="utf-8", exclude_characters="\x00")
labels = st.dictionaries(
    st.text(storable, max_size=MAX_LABEL_KEY),
    st.text(storable, max_size=MAX_LABEL_VALUE),
    max_size=MAX_LABELS,
)


def with_key(details: grpc.aio.ClientCallDetails, authorization: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), ("authorization", authorization))
    return details._replace(metadata=metadata)  # type: ignore[attr-defined,no-any-return]


# An ``authorization`` entry on every call, the way the Yandex SDK adds its key; one class
# per kind of call, since a channel files each interceptor under the first kind it is.
class UnaryKey(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, authorization: str) -> None:
        self._authorization = authorization

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(with_key(client_call_details, self._authorization), request)


class StreamKey(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, authorization: str) -> None:
        self._authorization = authorization

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(with_key(client_call_details, self._authorization), request)


@define
class Client:
    channel: grpc.aio.Channel
    threads: ts_grpc.ThreadServiceAsyncStub
    messages: ms_grpc.MessageServiceAsyncStub


@define
class Face:
    """A started server and a client whose calls carry an editor key for FOLDER and OTHER_FOLDER."""

    core: Core
    store: OutageStore
    clock: ManualClock
    server: grpc.aio.Server
    target: str
    token: str
    editor: Client = field(init=False)
    bare: Client = field(init=False)  # calls carry no credentials
    _channels: list[grpc.aio.Channel] = field(factory=list)

    def __attrs_post_init__(self) -> None:
        self.editor = self.client(f"Bearer {self.token}")
        self.bare = self.client(None)

    @property
    def threads(self) -> ts_grpc.ThreadServiceAsyncStub:
        return self.editor.threads

    @property
    def messages(self) -> ms_grpc.MessageServiceAsyncStub:
        return self.editor.messages

    def client(self, authorization: str | None) -> Client:
        """Stubs over a channel of their own; ``None``: calls carry no credentials."""
        keys = [] if authorization is None else [UnaryKey(authorization), StreamKey(authorization)]
        channel = grpc.aio.insecure_channel(self.target, interceptors=keys)
        self._channels.append(channel)
        return Client(channel, ts_grpc.ThreadServiceStub(channel), ms_grpc.MessageServiceStub(channel))

    async def key(self, *folders: str, role: AccessRole = AccessRole.EDITOR) -> str:
        """A new key's ``authorization`` value."""
        _, token = await self.core.access.create_key(folders, role)
        return f"Bearer {token}"

    async def thread_with_a_message(self) -> tuple[str, str]:
        """A new thread's id in FOLDER, and its one message's."""
        t = await self.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))
        m = await self.messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=text("hi")))
        return t.id, m.id

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
        await self.server.stop(None)


async def start_face() -> Face:
    store, clock = OutageStore(), ManualClock(T0)
    core = Core(store, clock, SequentialIds())
    _, token = await core.access.create_key([FOLDER, OTHER_FOLDER], AccessRole.EDITOR)
    server, port = bind_grpc_server("127.0.0.1:0")
    add_services(server, core)
    await server.start()
    return Face(core, store, clock, server, f"127.0.0.1:{port}", token)


def method_calls(
    client: Client, thread_id: str, message_id: str
) -> dict[str, Callable[[], Awaitable[object]]]:
    """A call of each method on one thread (or FOLDER), made only when called."""
    t, m = client.threads, client.messages
    name = field_mask_pb2.FieldMask(paths=["name"])
    return {
        "Threads/Create": lambda: t.Create(ts.CreateThreadRequest(folder_id=FOLDER)),
        "Threads/Get": lambda: t.Get(ts.GetThreadRequest(thread_id=thread_id)),
        "Threads/Update": lambda: t.Update(ts.UpdateThreadRequest(thread_id=thread_id, update_mask=name)),
        "Threads/Delete": lambda: t.Delete(ts.DeleteThreadRequest(thread_id=thread_id)),
        "Threads/List": lambda: t.List(ts.ListThreadsRequest(folder_id=FOLDER)),
        "Messages/Create": lambda: m.Create(ms.CreateMessageRequest(thread_id=thread_id, content=text("x"))),
        "Messages/Get": lambda: m.Get(ms.GetMessageRequest(thread_id=thread_id, message_id=message_id)),
        "Messages/List": lambda: listed(m.List(ms.ListMessagesRequest(thread_id=thread_id))),
    }


READ_METHODS = ("Threads/Get", "Threads/List", "Messages/Get", "Messages/List")
WRITE_METHODS = ("Threads/Create", "Threads/Update", "Threads/Delete", "Messages/Create")


# -- reading answers ---------------------------------------------------------------------


async def listed(call: AsyncIterable[T]) -> list[T]:
    """Every message of a server stream."""
    return [item async for item in call]


async def rejected(call: Awaitable[object], code: Code) -> status_pb2.Status:
    """The google.rpc.Status a call failed with, parsed from ``grpc-status-details-bin``."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    error = info.value
    assert error.code() == code, (error.code(), error.details())
    raw = [v for k, v in error.trailing_metadata() or () if k == "grpc-status-details-bin"]
    assert len(raw) == 1, error.trailing_metadata()
    assert isinstance(raw[0], bytes)
    status = status_pb2.Status.FromString(raw[0])
    assert (status.code, status.message) == (code.value[0], error.details())
    return status


def detail(status: status_pb2.Status, kind: type[M]) -> M:
    """The one detail of ``kind`` in a status."""
    found = [d for d in status.details if d.Is(kind.DESCRIPTOR)]
    assert len(found) == 1, status
    value = kind()
    found[0].Unpack(value)
    return value


def violation(status: status_pb2.Status) -> error_details_pb2.BadRequest.FieldViolation:
    """The one field violation of an INVALID_ARGUMENT, whose words the message repeats."""
    (only,) = detail(status, error_details_pb2.BadRequest).field_violations
    assert status.message == f"Request validation error: {only.field}: {only.description}"
    return only


def names_a_field(request: Message, path: str) -> bool:
    """True when ``path`` (``messages[0].content.content[1]``, ``labels.<key>``) walks
    through fields of ``request`` by their proto names."""
    message: Any = request.DESCRIPTOR
    for step in path.split("."):
        found = message.fields_by_name.get(step.split("[", 1)[0]) if message is not None else None
        if found is None:
            return False
        if found.message_type is not None and found.message_type.GetOptions().map_entry:
            return True  # what follows is a map key
        message = found.message_type
    return True


def text(*parts: str) -> message_pb2.MessageContent:
    return message_pb2.MessageContent(
        content=[message_pb2.ContentPart(text=message_pb2.Text(content=p)) for p in parts]
    )


def texts_of(message: message_pb2.Message) -> list[str]:
    return [part.text.content for part in message.content.content]
