"""The domain: threads, messages and their expiration, as immutable values.

These classes are the one shape both protocols are mapped onto; they carry no
wire names, no framework types and no storage details.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TypeAlias

from attrs import field, frozen

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"

Labels: TypeAlias = Mapping[str, str]


class ExpirationPolicy(enum.Enum):
    """When a thread expires: a fixed time after creation, or after last activity."""

    STATIC = "static"
    SINCE_LAST_ACTIVE = "since_last_active"


@frozen
class ExpirationConfig:
    policy: ExpirationPolicy
    ttl_days: int

    def expires_at(self, created_at: datetime, last_activity_at: datetime) -> datetime:
        base = created_at if self.policy is ExpirationPolicy.STATIC else last_activity_at
        return base + timedelta(days=self.ttl_days)


@frozen
class Tool:
    """A tool attached to a thread (threadgate stores tools; it runs none).

    ``kind`` is ``search_index``, ``function`` or ``gen_search``; ``spec`` holds the
    tool's settings as plain JSON data with snake_case keys.  A ``search_index``
    tool lists its index ids under ``spec["search_index_ids"]``.
    """

    kind: str
    spec: JsonObject = field(factory=dict, hash=False)


@frozen
class Thread:
    id: str
    folder_id: str
    name: str
    description: str
    default_message_author_id: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    last_activity_at: datetime
    expiration: ExpirationConfig
    labels: Labels = field(factory=dict, hash=False)
    tools: tuple[Tool, ...] = ()
    # OpenAI's code_interpreter file ids; None when the thread never had that resource.
    code_interpreter_file_ids: tuple[str, ...] | None = None

    @property
    def expires_at(self) -> datetime:
        return self.expiration.expires_at(self.created_at, self.last_activity_at)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class MessageStatus(enum.Enum):
    COMPLETED = "completed"
    IN_PROGRESS = "in_progress"
    INCOMPLETE = "incomplete"


class Role(enum.Enum):
    """Who a message speaks for.  The thread APIs know only user and assistant;
    OpenAI's Conversations also writes system and developer messages."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    DEVELOPER = "developer"


# the roles both thread APIs (Assistants, Yandex) can show
PLAIN_ROLES = frozenset({Role.USER, Role.ASSISTANT})


@frozen
class Author:
    id: str
    role: Role


@frozen
class TextPart:
    text: str
    # what a model attached to its output text, as OpenAI's Responses API writes it
    # (``output_text.annotations`` and ``logprobs``), kept as JSON data
    annotations: tuple[JsonObject, ...] = field(default=(), hash=False)
    logprobs: tuple[JsonObject, ...] = field(default=(), hash=False)


@frozen
class ImageFilePart:
    file_id: str
    detail: str = "auto"


@frozen
class ImageUrlPart:
    url: str
    detail: str = "auto"


@frozen
class RefusalPart:
    """An assistant's refusal to answer, in its own words."""

    refusal: str


@frozen
class FilePart:
    """A file handed to a model inline: by file id, by URL, or as (base64) data."""

    file_id: str | None = None
    filename: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    detail: str | None = None


# every field of a FilePart, each optional
FILE_PART_FIELDS = ("file_id", "filename", "file_data", "file_url", "detail")

ContentPart: TypeAlias = TextPart | ImageFilePart | ImageUrlPart | RefusalPart | FilePart


@frozen
class Attachment:
    file_id: str
    tools: tuple[str, ...] = ()


@frozen
class Message:
    id: str
    thread_id: str
    created_by: str
    created_at: datetime
    author: Author
    content: tuple[ContentPart, ...]
    labels: Labels = field(factory=dict, hash=False)
    status: MessageStatus = MessageStatus.COMPLETED
    attachments: tuple[Attachment, ...] = ()
    run_id: str | None = None
    # OpenAI's assistant-message phase (``commentary``, ``final_answer``), kept for replay
    phase: str | None = None

    @property
    def assistant_id(self) -> str | None:
        """The authoring assistant, for assistant messages that name one."""
        if self.author.role is Role.ASSISTANT and self.author.id:
            return self.author.id
        return None


@frozen
class Item:
    """A thread entry that is not a message: a tool call, its output, reasoning, a
    compaction, or a type that does not exist yet.  threadgate runs none of them; it
    keeps each in the thread's order and returns it unchanged.

    ``data`` holds every field of the item but ``id`` and ``type``, as JSON.
    """

    id: str
    thread_id: str
    created_by: str
    created_at: datetime
    type: str
    data: JsonObject = field(factory=dict, hash=False)


# One place in a thread's single order: a message or another item.
Entry: TypeAlias = Message | Item


def is_plain(entry: Entry) -> bool:
    """A user or assistant message: an entry the thread APIs can show as a message."""
    return isinstance(entry, Message) and entry.author.role in PLAIN_ROLES
