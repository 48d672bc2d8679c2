"""The gRPC converter: Yandex protobuf messages <-> core values.

One function per direction and message (``*_to_core`` / ``*_to_pb``), in the
style of a cattrs converter per wire format: leaf conversions (timestamps,
enums, maps) are shared, message conversions are explicit and greppable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from google.protobuf import json_format, timestamp_pb2

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1 import common_pb2 as tools_pb2
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import (
    message_pb2,
    thread_pb2,
    thread_service_pb2,
)
from adapters.yandex._gen.yandex.cloud.ai.common import common_pb2
from core.entries import NewMessage
from core.errors import InvalidArgument
from core.messages import parse_role
from core.model import (
    ContentPart,
    ExpirationPolicy,
    ImageFilePart,
    ImageUrlPart,
    Message,
    MessageStatus,
    RefusalPart,
    Role,
    TextPart,
    Thread,
    Tool,
)
from core.threads import THREAD_FIELDS, ExpirationInput, NewThread, ThreadUpdate

_POLICY_TO_PB = {
    ExpirationPolicy.STATIC: common_pb2.ExpirationConfig.STATIC,
    ExpirationPolicy.SINCE_LAST_ACTIVE: common_pb2.ExpirationConfig.SINCE_LAST_ACTIVE,
}
_POLICY_FROM_PB = {v: k for k, v in _POLICY_TO_PB.items()}
_STATUS_TO_PB = {
    MessageStatus.COMPLETED: message_pb2.Message.COMPLETED,
    MessageStatus.INCOMPLETE: message_pb2.Message.TRUNCATED,
    MessageStatus.IN_PROGRESS: message_pb2.Message.MESSAGE_STATUS_UNSPECIFIED,
}
_TOOL_KINDS = ("search_index", "function", "gen_search")

# update_mask paths accepted by ThreadService.Update (snake_case, as the SDK sends them):
# the proto names the thread's fields as the core does
MASK_PATHS = THREAD_FIELDS


# -- leaves ---------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    # what Timestamp.FromDatetime computes, without its pure-Python checks (a third of
    # a Get's conversion time); timedelta keeps microseconds >= 0, as nanos must be
    delta = moment - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000
    )


def policy_from_pb(value: int, field: str) -> ExpirationPolicy | None:
    if value == common_pb2.ExpirationConfig.EXPIRATION_POLICY_UNSPECIFIED:
        return None
    if value not in _POLICY_FROM_PB:
        raise InvalidArgument(field, "invalid_value", value=value, allowed=("STATIC", "SINCE_LAST_ACTIVE"))
    return _POLICY_FROM_PB[value]  # type: ignore[index]


def expiration_from_pb(config: common_pb2.ExpirationConfig) -> ExpirationInput:
    return ExpirationInput(
        policy=policy_from_pb(config.expiration_policy, "expiration_config.expiration_policy"),
        ttl_days=config.ttl_days or None,
    )


def tools_from_pb(tools: Iterable[tools_pb2.Tool]) -> tuple[Tool, ...]:
    result = []
    for i, tool in enumerate(tools):
        kind = tool.WhichOneof("ToolType")
        if kind is None:
            raise InvalidArgument(f"tools[{i}]", "tool_kind_missing")
        try:
            spec = json_format.MessageToDict(getattr(tool, kind), preserving_proto_field_name=True)
        except json_format.SerializeToJsonError:
            raise InvalidArgument(f"tools[{i}]", "tool_not_json") from None
        result.append(Tool(kind=kind, spec=spec))
    return tuple(result)


def tool_to_pb(tool: Tool) -> tools_pb2.Tool:
    pb = tools_pb2.Tool()
    if tool.kind in _TOOL_KINDS:
        part = getattr(pb, tool.kind)
        part.SetInParent()  # an empty tool (no settings) still names its kind
        json_format.ParseDict(tool.spec, part, ignore_unknown_fields=True)
    return pb


# -- threads --------------------------------------------------------------------


def thread_to_pb(t: Thread) -> thread_pb2.Thread:
    return thread_pb2.Thread(
        id=t.id,
        folder_id=t.folder_id,
        name=t.name,
        description=t.description,
        default_message_author_id=t.default_message_author_id,
        created_by=t.created_by,
        created_at=timestamp(t.created_at),
        updated_by=t.updated_by,
        updated_at=timestamp(t.updated_at),
        expiration_config=common_pb2.ExpirationConfig(
            expiration_policy=_POLICY_TO_PB[t.expiration.policy], ttl_days=t.expiration.ttl_days
        ),
        expires_at=timestamp(t.expires_at),
        labels=dict(t.labels),
        tools=[tool_to_pb(tool) for tool in t.tools],
    )


def create_request_to_core(r: thread_service_pb2.CreateThreadRequest) -> tuple[NewThread, list[NewMessage]]:
    thread = NewThread(
        folder_id=r.folder_id,
        name=r.name,
        description=r.description,
        default_message_author_id=r.default_message_author_id,
        expiration=expiration_from_pb(r.expiration_config) if r.HasField("expiration_config") else None,
        labels=dict(r.labels),
        tools=tools_from_pb(r.tools),
    )
    messages = [
        message_data_to_core(
            m.author if m.HasField("author") else None, m.content, m.labels, f"messages[{i}]."
        )
        for i, m in enumerate(r.messages)
    ]
    return thread, messages


def update_request_to_core(r: thread_service_pb2.UpdateThreadRequest) -> ThreadUpdate:
    paths = list(r.update_mask.paths)
    if not paths:
        raise InvalidArgument("update_mask", "missing_required_parameter")
    unknown = [p for p in paths if p not in MASK_PATHS]
    if unknown:
        raise InvalidArgument(
            "update_mask", "invalid_field_mask", path=unknown[0], allowed=tuple(sorted(MASK_PATHS))
        )
    return ThreadUpdate(
        fields=frozenset(paths),
        name=r.name,
        description=r.description,
        labels=dict(r.labels),
        expiration=expiration_from_pb(r.expiration_config),
        tools=tools_from_pb(r.tools),
    )


# -- messages -------------------------------------------------------------------


def message_data_to_core(
    author: message_pb2.Author | None,
    content: message_pb2.MessageContent,
    labels: Mapping[str, str],
    prefix: str = "",
) -> NewMessage:
    role = Role.USER
    author_id: str | None = None
    if author is not None:
        if author.role:
            role = parse_role(author.role, f"{prefix}author.role")
        author_id = author.id or None
    parts: list[ContentPart] = []
    for i, part in enumerate(content.content):
        if part.WhichOneof("PartType") != "text":
            # the core's path (content[i]): wording.grpc_field puts it in the proto's terms
            raise InvalidArgument(
                f"{prefix}content[{i}]", "invalid_value", value=part.WhichOneof("PartType") or ""
            )
        parts.append(TextPart(text=part.text.content))
    return NewMessage(content=tuple(parts), role=role, author_id=author_id, labels=dict(labels))


def _part_to_pb(part: ContentPart) -> message_pb2.ContentPart:
    if isinstance(part, TextPart):
        text = part.text
    elif isinstance(part, ImageFilePart):
        text = f"[image_file {part.file_id}]"
    elif isinstance(part, ImageUrlPart):
        text = f"[image_url {part.url}]"
    elif isinstance(part, RefusalPart):
        text = part.refusal
    else:  # an inline file: named, never its data
        text = f"[input_file {part.file_id or part.filename or part.file_url or ''}]"
    return message_pb2.ContentPart(text=message_pb2.Text(content=text))


def message_to_pb(m: Message) -> message_pb2.Message:
    return message_pb2.Message(
        id=m.id,
        thread_id=m.thread_id,
        created_by=m.created_by,
        created_at=timestamp(m.created_at),
        author=message_pb2.Author(id=m.author.id, role=m.author.role.value.upper()),
        labels=dict(m.labels),
        content=message_pb2.MessageContent(content=[_part_to_pb(p) for p in m.content]),
        status=_STATUS_TO_PB[m.status],
    )
