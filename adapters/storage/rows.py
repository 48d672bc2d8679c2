"""Mapping between core values and the flat rows SQL backends store.

Scalars get their own columns (so they can be indexed and filtered); maps and
lists are stored as JSON text.  Times are integer microseconds since the epoch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from core.access import AccessRole, ApiKey
from core.model import (
    FILE_PART_FIELDS,
    Attachment,
    Author,
    ContentPart,
    Entry,
    ExpirationConfig,
    ExpirationPolicy,
    FilePart,
    ImageFilePart,
    ImageUrlPart,
    Item,
    JsonObject,
    Message,
    MessageStatus,
    RefusalPart,
    Role,
    TextPart,
    Thread,
    Tool,
    is_plain,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer threadgate than this one."""


class UnreadableStore(RuntimeError):
    """A reader that never migrates (``threadgate export``) found no store it can read:
    no database, not a threadgate store, or a schema version other than this one's."""


def require_version(found: int, current: int, where: str) -> None:
    if found == 0:
        raise UnreadableStore(f"{where} holds no threadgate store")
    if found != current:
        side = "older" if found < current else "newer"
        fix = "start this threadgate's serve on it once to migrate it" if found < current else "upgrade"
        raise UnreadableStore(
            f"{where} has schema version {found}, {side} than this threadgate's ({current}): {fix}"
        )


THREAD_COLUMNS = (
    "id, folder_id, name, description, default_author_id, created_by, created_us, "
    "updated_by, updated_us, last_active_us, policy, ttl_days, expires_us, labels, tools, "
    "ci_file_ids"
)
MESSAGE_COLUMNS = "id, thread_id, created_us, run_id, body"


def to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def thread_to_row(t: Thread) -> tuple[Any, ...]:
    return (
        t.id,
        t.folder_id,
        t.name,
        t.description,
        t.default_message_author_id,
        t.created_by,
        to_us(t.created_at),
        t.updated_by,
        to_us(t.updated_at),
        to_us(t.last_activity_at),
        t.expiration.policy.value,
        t.expiration.ttl_days,
        to_us(t.expires_at),
        dumps(dict(t.labels)),
        dumps([{"kind": tool.kind, "spec": tool.spec} for tool in t.tools]),
        None if t.code_interpreter_file_ids is None else dumps(list(t.code_interpreter_file_ids)),
    )


_POLICIES = {p.value: p for p in ExpirationPolicy}


def thread_from_row(r: tuple[Any, ...]) -> Thread:
    ci = r[15]
    return Thread(
        id=r[0],
        folder_id=r[1],
        name=r[2],
        description=r[3],
        default_message_author_id=r[4],
        created_by=r[5],
        created_at=from_us(r[6]),
        updated_by=r[7],
        updated_at=from_us(r[8]),
        last_activity_at=from_us(r[9]),
        expiration=ExpirationConfig(policy=_POLICIES[r[10]], ttl_days=r[11]),
        labels=orjson.loads(r[13]),
        tools=tuple(Tool(kind=x["kind"], spec=x["spec"]) for x in orjson.loads(r[14])),
        code_interpreter_file_ids=None if ci is None else tuple(orjson.loads(ci)),
    )


def part_to_json(part: ContentPart) -> JsonObject:
    if isinstance(part, TextPart):
        text: JsonObject = {"type": "text", "text": part.text}
        if part.annotations:
            text["annotations"] = list(part.annotations)
        if part.logprobs:
            text["logprobs"] = list(part.logprobs)
        return text
    if isinstance(part, ImageFilePart):
        return {"type": "image_file", "file_id": part.file_id, "detail": part.detail}
    if isinstance(part, ImageUrlPart):
        return {"type": "image_url", "url": part.url, "detail": part.detail}
    if isinstance(part, RefusalPart):
        return {"type": "refusal", "refusal": part.refusal}
    file: JsonObject = {"type": "file"}
    for name in FILE_PART_FIELDS:
        if getattr(part, name) is not None:
            file[name] = getattr(part, name)
    return file


def part_from_json(data: dict[str, Any]) -> ContentPart:
    kind = data["type"]
    if kind == "text":
        return TextPart(
            text=data["text"],
            annotations=tuple(data.get("annotations", ())),
            logprobs=tuple(data.get("logprobs", ())),
        )
    if kind == "image_file":
        return ImageFilePart(file_id=data["file_id"], detail=data["detail"])
    if kind == "image_url":
        return ImageUrlPart(url=data["url"], detail=data["detail"])
    if kind == "refusal":
        return RefusalPart(refusal=data["refusal"])
    return FilePart(**{name: data.get(name) for name in FILE_PART_FIELDS})


def message_to_row(m: Entry) -> tuple[Any, ...]:
    """(id, thread_id, created_us, run_id, body, plain): ``plain`` is its own column so
    that the thread APIs can page over plain messages only."""
    if isinstance(m, Item):
        item = {"created_by": m.created_by, "item": {"type": m.type, "data": m.data}}
        return (m.id, m.thread_id, to_us(m.created_at), None, dumps(item), False)
    body: dict[str, Any] = {
        "created_by": m.created_by,
        "author": {"id": m.author.id, "role": m.author.role._value_},
        "content": [part_to_json(p) for p in m.content],
        "labels": dict(m.labels),
        "status": m.status._value_,
        "attachments": [{"file_id": a.file_id, "tools": list(a.tools)} for a in m.attachments],
    }
    if m.phase is not None:
        body["phase"] = m.phase
    return (m.id, m.thread_id, to_us(m.created_at), m.run_id, dumps(body), is_plain(m))


# Enum(value) goes through EnumMeta.__call__ (~0.6 µs); a list page decodes 40 of them
_ROLES = {r.value: r for r in Role}
_STATUSES = {s.value: s for s in MessageStatus}


def message_from_row(r: tuple[Any, ...]) -> Entry:
    """From the first five columns of ``message_to_row``."""
    body = orjson.loads(r[4])
    item = body.get("item")
    if item is not None:
        return Item(
            id=r[0],
            thread_id=r[1],
            created_at=from_us(r[2]),
            created_by=body["created_by"],
            type=item["type"],
            data=item["data"],
        )
    author = body["author"]
    attachments = body["attachments"]
    return Message(
        id=r[0],
        thread_id=r[1],
        created_at=from_us(r[2]),
        run_id=r[3],
        created_by=body["created_by"],
        author=Author(id=author["id"], role=_ROLES[author["role"]]),
        content=tuple([part_from_json(p) for p in body["content"]]),
        labels=body["labels"],
        status=_STATUSES[body["status"]],
        attachments=tuple([Attachment(file_id=a["file_id"], tools=tuple(a["tools"])) for a in attachments])
        if attachments
        else (),
        phase=body.get("phase"),
    )


KEY_COLUMNS = (
    "id, subject_id, role, folders, default_folder, secret_sha256, created_us, revoked_us, description"
)


def key_to_row(k: ApiKey) -> tuple[Any, ...]:
    return (
        k.id,
        k.subject_id,
        int(k.role),
        dumps(list(k.folders)),
        k.default_folder,
        k.secret_sha256,
        to_us(k.created_at),
        None if k.revoked_at is None else to_us(k.revoked_at),
        k.description,
    )


def key_from_row(r: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=r[0],
        subject_id=r[1],
        role=AccessRole(r[2]),
        folders=tuple(orjson.loads(r[3])),
        default_folder=r[4],
        secret_sha256=r[5],
        created_at=from_us(r[6]),
        revoked_at=None if r[7] is None else from_us(r[7]),
        description=r[8],
    )
