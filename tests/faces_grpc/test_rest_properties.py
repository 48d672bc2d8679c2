"""Properties of the Yandex REST face's JSON mapping, over messages drawn from the
descriptors themselves: any Thread or Message prints with its keys in declaration
order, ``null`` for each unset singular message, and parses back to itself; any request,
its keys camelCase or snake_case at random, int64 as numbers or strings and enums as
names or numbers, reads as the request it is; no JSON at all makes the face fail."""

from __future__ import annotations

from typing import Any, cast

import orjson
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_pb2, thread_pb2
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from adapters.yandex.rest.body import from_body
from adapters.yandex.rest.transcoding import INT_RANGES, to_json
from tests.faces_grpc.rest_harness import RestFace, start_rest

F = FieldDescriptor
text = st.text(st.characters(codec="utf-8"), max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
MASK_PATHS = ["name", "description", "labels", "tools", "expiration_config", "expiration_config.ttl_days"]


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type in INT_RANGES:
        low, high = INT_RANGES[field.type]
        return st.integers(low, high)
    if field.type == F.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values])
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type == F.TYPE_DOUBLE:
        return st.floats(allow_nan=False, allow_infinity=False)
    if field.type == F.TYPE_FLOAT:
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if field.type == F.TYPE_BYTES:
        return st.binary(max_size=8)
    return text


def messages(descriptor: Descriptor, depth: int = 4) -> st.SearchStrategy[Message]:
    """Any message of ``descriptor`` (its sub-messages ``depth`` levels down)."""
    cls = message_factory.GetMessageClass(descriptor)
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        return st.builds(
            lambda s, n: cls(seconds=s, nanos=n), st.integers(0, 253402300799), st.integers(0, 999_999_999)
        )
    if name == "google.protobuf.Struct":
        return st.dictionaries(text, json_values, max_size=3).map(lambda d: json_format.ParseDict(d, cls()))

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        chosen = {o.name: draw(st.sampled_from([None, *o.fields])) for o in descriptor.oneofs}
        for field in descriptor.fields:
            oneof = field.containing_oneof
            if oneof is not None and chosen[oneof.name] is not field:
                continue
            if field.message_type is not None and depth == 0:
                continue
            if oneof is None and not draw(st.booleans()):
                continue
            _set(draw, message, field, depth)
        return message

    return build()


def _set(draw: st.DrawFn, message: Message, field: FieldDescriptor, depth: int) -> None:
    kind = field.message_type
    if kind is not None and kind.GetOptions().map_entry:
        values = kind.fields_by_name["value"]
        entries = draw(st.dictionaries(text, _scalar(values), max_size=3))
        getattr(message, field.name).update(entries)
    elif kind is not None and field.is_repeated:
        getattr(message, field.name).extend(draw(st.lists(messages(kind, depth - 1), max_size=2)))
    elif kind is not None:
        getattr(message, field.name).CopyFrom(draw(messages(kind, depth - 1)))
    elif field.is_repeated:
        getattr(message, field.name).extend(draw(st.lists(_scalar(field), max_size=3)))
    else:
        setattr(message, field.name, draw(_scalar(field)))


def in_declaration_order(data: Any, descriptor: Descriptor) -> bool:
    """Keys of every object are the fields in .proto order, each unset oneof member left
    out; map keys are sorted."""
    if descriptor.full_name.startswith("google.protobuf."):
        return True
    expected = [f.name for f in descriptor.fields if f.containing_oneof is None or f.name in data]
    if list(data) != expected:
        return False
    for field in descriptor.fields:
        value = data.get(field.name)
        kind = field.message_type
        if value is not None and kind is not None and kind.GetOptions().map_entry:
            if list(value) != sorted(value):  # map keys sorted, as Go prints them
                return False
            continue
        if value is None or kind is None:
            continue
        for item in value if field.is_repeated else [value]:
            if not in_declaration_order(item, kind):
                return False
    return True


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(messages(thread_pb2.Thread.DESCRIPTOR), messages(message_pb2.Message.DESCRIPTOR)))
def test_any_thread_or_message_prints_in_order_and_parses_back_to_itself(message: Message) -> None:
    printed = to_json(message)
    descriptor = cast(Descriptor, message.DESCRIPTOR)
    assert in_declaration_order(printed, descriptor), printed
    wire = orjson.loads(orjson.dumps(printed))
    assert json_format.ParseDict(wire, type(message)(), ignore_unknown_fields=True) == message
    for field in descriptor.fields:  # every singular message is printed, null when unset
        if field.message_type is not None and not field.is_repeated and field.containing_oneof is None:
            assert field.name in printed and (printed[field.name] is None) == (
                not message.HasField(field.name)
            )


@st.composite
def spelled(draw: st.DrawFn, data: Any, descriptor: Descriptor) -> Any:
    """``data`` (MessageToDict with proto names) with each key in either spelling, int64
    as a number or a string, enums by name or by number."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = descriptor.fields_by_name[key]
        name = draw(st.sampled_from([field.name, field.json_name]))
        out[name] = draw(_respelled(value, field))
    return out


@st.composite
def _respelled(draw: st.DrawFn, value: Any, field: FieldDescriptor) -> Any:
    kind = field.message_type
    if kind is not None and kind.GetOptions().map_entry:
        return value
    if field.is_repeated:
        return [draw(_one(v, field)) for v in value]
    return draw(_one(value, field))


@st.composite
def _one(draw: st.DrawFn, value: Any, field: FieldDescriptor) -> Any:
    kind = field.message_type
    if kind is not None and not kind.full_name.startswith("google.protobuf."):
        return draw(spelled(value, kind))
    if field.type in INT_RANGES and isinstance(value, str):
        return draw(st.sampled_from([value, int(value)]))
    if field.type == F.TYPE_ENUM and isinstance(value, str):
        return draw(st.sampled_from([value, field.enum_type.values_by_name[value].number]))
    return value


REQUESTS = [
    ts.CreateThreadRequest.DESCRIPTOR,
    ts.UpdateThreadRequest.DESCRIPTOR,
    ms.CreateMessageRequest.DESCRIPTOR,
]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REQUESTS).flatmap(messages), st.data())
def test_any_request_in_mixed_spellings_reads_as_itself(request: Message, data: st.DataObject) -> None:
    if isinstance(request, ts.UpdateThreadRequest):
        request.update_mask.paths[:] = data.draw(st.lists(st.sampled_from(MASK_PATHS), max_size=3))
    printed = json_format.MessageToDict(request, preserving_proto_field_name=True)
    body = data.draw(spelled(printed, cast(Descriptor, request.DESCRIPTOR)))
    assert from_body(orjson.dumps(body), type(request)(), {}) == request


BODIES = st.dictionaries(
    st.sampled_from(
        [
            "folderId",
            "threadId",
            "thread_id",
            "messages",
            "content",
            "author",
            "labels",
            "tools",
            "name",
            "expirationConfig",
            "updateMask",
            "update_mask",
            "x",
        ]
    ),
    json_values,
    max_size=4,
)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["POST /threads", "PATCH /threads/t", "POST /messages"]), BODIES | json_values)
async def test_no_body_is_a_server_error(route: str, body: Any) -> None:
    rest: RestFace = await start_rest()
    try:
        method, path = route.split()
        r = await rest.client.request(method, path, content=orjson.dumps(body))
        assert r.status_code in (200, 400, 403, 404), r.text
    finally:
        await rest.close()


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["/threads", "/threads/t", "/messages", "/messages/m"]),
    st.lists(
        st.tuples(st.sampled_from(["folderId", "pageSize", "page_token", "threadId", "q"]), text), max_size=4
    ),
)
async def test_no_query_is_a_server_error(path: str, params: list[tuple[str, str]]) -> None:
    rest: RestFace = await start_rest()
    try:
        r = await rest.client.get(path, params=tuple(params))
        assert r.status_code in (200, 400, 403, 404), r.text
    finally:
        await rest.close()
