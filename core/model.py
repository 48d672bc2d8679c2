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
    USER = "user"
    ASSISTANT = "assistant"


@frozen
class Author:
    id: str
    role: Role


@frozen
class TextPart:
    text: str


@frozen
class ImageFilePart:
    file_id: str
    detail: str = "auto"


@frozen
class ImageUrlPart:
    url: str
    detail: str = "auto"


ContentPart: TypeAlias = TextPart | ImageFilePart | ImageUrlPart


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

    @property
    def assistant_id(self) -> str | None:
        """The authoring assistant, for assistant messages that name one."""
        if self.author.role is Role.ASSISTANT and self.author.id:
            return self.author.id
        return None
