"""What a request may add to a thread, and the rules for it: messages and other items.

A thread holds one ordered sequence of entries.  The thread APIs write only
messages; OpenAI's Conversations writes messages of four roles and items of any
other type (tool calls, their outputs, reasoning, types that do not exist yet),
which threadgate keeps as data and returns unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from attrs import field, frozen

from core.errors import InvalidArgument
from core.model import (
    Attachment,
    ContentPart,
    FilePart,
    ImageFilePart,
    ImageUrlPart,
    Item,
    JsonObject,
    MessageStatus,
    RefusalPart,
    Role,
    TextPart,
)
from core.sizes import MAX_ATTACHMENTS, MAX_TEXT_PART, check_content_size, check_item_size, check_part_count
from core.validation import (
    MAX_AUTHOR_ID,
    MAX_ID,
    check_count,
    check_labels,
    check_length,
    check_text,
    json_strings_clean,
)

MESSAGE_PREFIX = "msg_"
ITEM_PREFIX = "item_"
# Ids minted for items sent without one take the prefix OpenAI gives that type:
# a client that replays an item into OpenAI's Responses API must not be refused
# for the prefix ("Expected an ID that begins with 'fc'").
ITEM_PREFIXES: Mapping[str, str] = {
    "message": MESSAGE_PREFIX,
    "function_call": "fc_",
    "function_call_output": "fco_",
    "reasoning": "rs_",
    "compaction": "cmp_",
    "web_search_call": "ws_",
    "file_search_call": "fs_",
    "code_interpreter_call": "ci_",
    "computer_call": "cu_",
    "computer_call_output": "cuo_",
    "image_generation_call": "ig_",
    "custom_tool_call": "ctc_",
    "custom_tool_call_output": "ctco_",
    "mcp_call": "mcp_",
    "mcp_list_tools": "mcpl_",
    "mcp_approval_request": "mcpr_",
    "local_shell_call": "lsh_",
    "shell_call": "sh_",
    "apply_patch_call": "apc_",
}
# input-only members of OpenAI's item union: they point at or trigger something and
# are never stored as such
INPUT_ONLY_TYPES = frozenset({"item_reference", "compaction_trigger"})
PHASES = ("commentary", "final_answer")
MAX_TYPE = 64
_TYPE_SHAPE = re.compile(r"[a-z][a-z0-9_.]*", re.ASCII)


@frozen
class NewMessage:
    content: tuple[ContentPart, ...]
    role: Role = Role.USER
    # None: the thread's default author for user messages, none for other roles
    author_id: str | None = None
    labels: Mapping[str, str] = field(factory=dict, hash=False)
    attachments: tuple[Attachment, ...] = ()
    # a Conversations write may name the message's id, status and phase
    id: str | None = None
    status: MessageStatus = MessageStatus.COMPLETED
    phase: str | None = None


@frozen
class NewItem:
    """An item that is not a message; ``data`` is every field but ``id`` and ``type``."""

    type: str
    data: JsonObject = field(factory=dict, hash=False)
    id: str | None = None


NewEntry = NewMessage | NewItem


def _check_id(entry_id: str | None, where: str) -> None:
    """An id a request gives an entry: the faces name entries by id in URL paths, so it
    must be one path segment as it is (no ``/``; ``.`` and ``..`` are resolved away)."""
    if entry_id is not None:
        if not entry_id:
            raise InvalidArgument(where, "empty_string")
        check_length(entry_id, where, MAX_ID)
        if "/" in entry_id or entry_id in (".", ".."):
            raise InvalidArgument(where, "not_an_id")


def _check_part(part: ContentPart, role: Role, where: str) -> None:
    if isinstance(part, TextPart):
        check_length(part.text, where, MAX_TEXT_PART)
        if not json_strings_clean([*part.annotations, *part.logprobs]):
            raise InvalidArgument(where, "nul_character")
    elif isinstance(part, ImageUrlPart):
        check_text(part.url, f"{where}.image_url.url")
    elif isinstance(part, ImageFilePart):
        check_length(part.file_id, f"{where}.image_file.file_id", MAX_ID)
    elif isinstance(part, RefusalPart):
        if role is not Role.ASSISTANT:
            raise InvalidArgument(where, "part_not_for_role", part="refusal", role=role.value)
        check_length(part.refusal, where, MAX_TEXT_PART)
    elif isinstance(part, FilePart):
        if role is Role.ASSISTANT:
            raise InvalidArgument(where, "part_not_for_role", part="file", role=role.value)
        if part.file_id is not None:
            check_length(part.file_id, f"{where}.file_id", MAX_ID)
        for value in (part.filename, part.file_data, part.file_url, part.detail):
            if value is not None:
                check_text(value, where)


def check_message(new: NewMessage, prefix: str = "") -> None:
    """Validate one message request; ``prefix`` locates it (``messages[2].``)."""
    _check_id(new.id, f"{prefix}id")
    if not new.content:
        raise InvalidArgument(f"{prefix}content", "empty_array")
    check_part_count(new.content, f"{prefix}content")
    for i, part in enumerate(new.content):
        where = f"{prefix}content[{i}]" if len(new.content) > 1 else f"{prefix}content"
        _check_part(part, new.role, where)
    check_content_size(new.content, f"{prefix}content")
    check_count(len(new.attachments), f"{prefix}attachments", MAX_ATTACHMENTS)
    for i, attachment in enumerate(new.attachments):
        check_length(attachment.file_id, f"{prefix}attachments[{i}].file_id", MAX_ID)
    if new.author_id is not None:
        check_length(new.author_id, f"{prefix}author.id", MAX_AUTHOR_ID)
    check_labels(new.labels, f"{prefix}labels")
    if new.phase is not None and new.phase not in PHASES:
        raise InvalidArgument(f"{prefix}phase", "invalid_value", value=new.phase, allowed=PHASES)


def check_item(new: NewItem, prefix: str = "") -> None:
    """An item is kept as data: only its type, id and status are the server's business."""
    if not new.type:
        raise InvalidArgument(f"{prefix}type", "missing_required_parameter")
    if len(new.type) > MAX_TYPE or not _TYPE_SHAPE.fullmatch(new.type):
        raise InvalidArgument(f"{prefix}type", "invalid_item_type", value=new.type[:MAX_TYPE])
    if new.type in INPUT_ONLY_TYPES or new.type == "message":
        raise InvalidArgument(f"{prefix}type", "input_only_item", value=new.type)
    _check_id(new.id, f"{prefix}id")
    status = new.data.get("status")
    if status is not None and not isinstance(status, str):
        raise InvalidArgument(f"{prefix}status", "invalid_type", expected="string")
    where = prefix.rstrip(".") or "item"
    if not json_strings_clean(new.data):
        raise InvalidArgument(where, "nul_character")
    check_item_size(new.data, where)


def check_entries(entries: Sequence[NewEntry], field: str, maximum: int) -> None:
    """A batch of entries for one write: at most ``maximum``, each valid, no id twice."""
    check_count(len(entries), field, maximum)
    seen: set[str] = set()
    for i, new in enumerate(entries):
        if isinstance(new, NewMessage):
            check_message(new, f"{field}[{i}].")
        else:
            check_item(new, f"{field}[{i}].")
        if new.id is not None:
            if new.id in seen:
                raise InvalidArgument(f"{field}[{i}].id", "duplicate_id", id=new.id)
            seen.add(new.id)


def build_item(new: NewItem, entry_id: str, thread_id: str, created_by: str, at: datetime) -> Item:
    """The stored item; the server sets ``status`` when the request left it out (or
    sent null: a stored item's status is always a string)."""
    data = new.data if new.data.get("status") is not None else {**new.data, "status": "completed"}
    return Item(
        id=entry_id, thread_id=thread_id, created_by=created_by, created_at=at, type=new.type, data=data
    )


def prefix_for(new: NewEntry) -> str:
    return MESSAGE_PREFIX if isinstance(new, NewMessage) else ITEM_PREFIXES.get(new.type, ITEM_PREFIX)


def located(exc: InvalidArgument, entries: Sequence[NewEntry], field: str) -> InvalidArgument:
    """A store's ``duplicate_id`` names an id; say which entry of the request has it."""
    if exc.code != "duplicate_id":
        return exc
    for i, new in enumerate(entries):
        if new.id == exc.params.get("id"):
            where = f"{field}[{i}].id" if field else "id"
            return InvalidArgument(where, "duplicate_id", **exc.params)
    return exc
