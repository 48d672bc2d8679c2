"""The Yandex gRPC face's driver, through our generated stubs (``adapters.yandex._gen``).
The only parity module that loads grpc and protobuf; imported only when the face is
selected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2

from adapters.parity.faces import (
    FaceError,
    NewThreadIntent,
    ThreadChange,
    ThreadView,
    Unreachable,
    Value,
    micros_time,
)
from adapters.parity.losses import YANDEX_GRPC
from adapters.parity.scenario import NeutralMessage
from adapters.parity.yandex_faces import role_of, update_paths
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

_UNREACHABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
)


def _time(t: timestamp_pb2.Timestamp) -> str:
    return micros_time(t.seconds, t.nanos // 1000)


def _data(m: NeutralMessage) -> mp.MessageData:
    return mp.MessageData(
        author=mp.Author(role=m.role.upper()),
        labels=m.labels,
        content=mp.MessageContent(content=[mp.ContentPart(text=mp.Text(content=m.text))]),
    )


class YandexGrpcFace:
    name = YANDEX_GRPC

    def __init__(
        self, target: str, api_key: str, folder: str, *, tls: bool, ca: bytes | None, timeout: float
    ) -> None:
        if tls:
            self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca))
        else:
            self.channel = grpc.insecure_channel(target)
        self.threads = ts_grpc.ThreadServiceStub(self.channel)
        self.messages = ms_grpc.MessageServiceStub(self.channel)
        self.metadata = (("authorization", f"Api-Key {api_key}"),)
        self.folder = folder
        self.timeout = timeout
        self.target = target

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: Any, request: Any, *, missing_ok: bool = False, stream: bool = False) -> Any:
        try:
            answer = method(request, metadata=self.metadata, timeout=self.timeout)
            return list(answer) if stream else answer  # a stream raises while it is read
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            if code in _UNREACHABLE:
                raise Unreachable(f"gRPC {self.target}: {code.name}: {details}") from None
            if code is grpc.StatusCode.NOT_FOUND and missing_ok:
                return None
            raise FaceError(f"{type(request).__name__}: {code.name}: {details}") from None

    def create(self, thread: NewThreadIntent) -> str:
        request = ts.CreateThreadRequest(
            folder_id=self.folder,
            name=thread.name,
            description=thread.description,
            labels=thread.labels,
            messages=[_data(m) for m in thread.messages],
        )
        return str(self._call(self.threads.Create, request).id)

    def append(self, thread_id: str, messages: Sequence[NeutralMessage]) -> None:
        for m in messages:
            data = _data(m)
            request = ms.CreateMessageRequest(
                thread_id=thread_id, author=data.author, labels=data.labels, content=data.content
            )
            self._call(self.messages.Create, request)

    def update(self, thread_id: str, change: ThreadChange) -> None:
        request = ts.UpdateThreadRequest(
            thread_id=thread_id,
            update_mask=field_mask_pb2.FieldMask(paths=update_paths(change)),
            name=change.name or "",
            description=change.description or "",
            labels=change.labels or {},
        )
        self._call(self.threads.Update, request)

    def delete(self, thread_id: str) -> None:
        self._call(self.threads.Delete, ts.DeleteThreadRequest(thread_id=thread_id))

    def _stream(self, thread_id: str) -> list[mp.Message]:
        listed: list[mp.Message] = self._call(
            self.messages.List, ms.ListMessagesRequest(thread_id=thread_id), stream=True
        )
        return listed

    def newest_first(self, thread_id: str) -> list[str]:
        return [m.id for m in self._stream(thread_id)]

    def read(self, thread_id: str) -> ThreadView | None:
        t = self._call(self.threads.Get, ts.GetThreadRequest(thread_id=thread_id), missing_ok=True)
        if t is None:
            return None
        fields: dict[str, Value] = {
            "name": t.name,
            "description": t.description,
            "labels": dict(t.labels),
            "created_at": _time(t.created_at),
            "expires_at": _time(t.expires_at),
        }
        listed = self._stream(thread_id)
        messages: list[dict[str, Value]] = [
            {
                "id": m.id,
                "role": role_of(m.author.role),
                "text": "".join(p.text.content for p in m.content.content if p.HasField("text")),
                "labels": dict(m.labels),
                "created_at": _time(m.created_at),
            }
            for m in reversed(listed)
        ]
        return ThreadView(fields, tuple(messages))
