"""Small builders for core values used across the test suites."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from core.model import (
    Author,
    Entry,
    ExpirationConfig,
    ExpirationPolicy,
    Message,
    Role,
    TextPart,
    Thread,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
_n = itertools.count(1)


def make_thread(
    *,
    folder_id: str = "folder-a",
    created_at: datetime = T0,
    ttl_days: int = 7,
    policy: ExpirationPolicy = ExpirationPolicy.SINCE_LAST_ACTIVE,
    thread_id: str | None = None,
    labels: dict[str, str] | None = None,
) -> Thread:
    n = next(_n)
    return Thread(
        id=thread_id or f"thread_{n:08d}",
        folder_id=folder_id,
        name=f"name {n}",
        description="",
        default_message_author_id=f"user_{n}",
        created_by="subject-1",
        created_at=created_at,
        updated_by="subject-1",
        updated_at=created_at,
        last_activity_at=created_at,
        expiration=ExpirationConfig(policy=policy, ttl_days=ttl_days),
        labels=labels or {},
    )


def text_of(message: Entry) -> str:
    """The text of a message whose first part is text, as every message made here is."""
    assert isinstance(message, Message), message
    part = message.content[0]
    assert isinstance(part, TextPart), part
    return part.text


def make_message(
    thread: Thread, text: str, *, at: datetime | None = None, run_id: str | None = None
) -> Message:
    n = next(_n)
    return Message(
        id=f"msg_{n:08d}",
        thread_id=thread.id,
        created_by="subject-1",
        created_at=at or thread.created_at + timedelta(microseconds=n),
        author=Author(id=thread.default_message_author_id, role=Role.USER),
        content=(TextPart(text=text),),
        run_id=run_id,
    )
