"""Message rules: append in a total order, read, page, relabel, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from attrs import evolve, field, frozen

from core.access import AccessRole, Principal, visible
from core.clock import Clock, IdSource
from core.errors import InvalidArgument, NotFound, ResourceExhausted
from core.model import (
    Attachment,
    Author,
    ContentPart,
    ImageUrlPart,
    Message,
    MessageStatus,
    Role,
    TextPart,
    Thread,
)
from core.ports import Idempotency, MessagePage, Order, ThreadStore
from core.sizes import (
    MAX_ATTACHMENTS,
    MAX_TEXT_PART,
    check_content_size,
    check_part_count,
    fit_page,
    message_bytes,
)
from core.validation import (
    MAX_AUTHOR_ID,
    MAX_ID,
    check_count,
    check_labels,
    check_length,
    check_text,
    required,
    usable_id,
)

MESSAGE_PREFIX = "msg_"
MAX_INITIAL_MESSAGES = 32
MAX_PAGE_LIMIT = 100
DEFAULT_MAX_MESSAGES_PER_THREAD = 100_000


@frozen
class NewMessage:
    content: tuple[ContentPart, ...]
    role: Role = Role.USER
    # None: the thread's default author for user messages, none for assistant ones
    author_id: str | None = None
    labels: Mapping[str, str] = field(factory=dict, hash=False)
    attachments: tuple[Attachment, ...] = ()


def parse_role(value: str, field_name: str = "role") -> Role:
    """Roles are accepted in any case (``user``, ``USER``); only two exist."""
    try:
        return Role(value.lower())
    except ValueError:
        raise InvalidArgument(
            field_name, "invalid_value", value=value, allowed=("user", "assistant")
        ) from None


class MessageService:
    def __init__(
        self,
        store: ThreadStore,
        clock: Clock,
        ids: IdSource,
        max_messages_per_thread: int = DEFAULT_MAX_MESSAGES_PER_THREAD,
        idempotency_window: timedelta = timedelta(hours=24),
    ) -> None:
        self._idempotency_window = idempotency_window
        self._store = store
        self._clock = clock
        self._ids = ids
        self._max_messages = max_messages_per_thread

    def check(self, new: NewMessage, prefix: str = "") -> None:
        """Validate one message request; ``prefix`` locates it (``messages[2].``)."""
        if not new.content:
            raise InvalidArgument(f"{prefix}content", "empty_array")
        check_part_count(new.content, f"{prefix}content")
        for i, part in enumerate(new.content):
            where = f"{prefix}content[{i}]" if len(new.content) > 1 else f"{prefix}content"
            if isinstance(part, TextPart):
                check_length(part.text, where, MAX_TEXT_PART)
            elif isinstance(part, ImageUrlPart):
                check_text(part.url, f"{where}.image_url.url")
            else:
                check_length(part.file_id, f"{where}.image_file.file_id", MAX_ID)
        check_content_size(new.content, f"{prefix}content")
        check_count(len(new.attachments), f"{prefix}attachments", MAX_ATTACHMENTS)
        for i, attachment in enumerate(new.attachments):
            check_length(attachment.file_id, f"{prefix}attachments[{i}].file_id", MAX_ID)
        if new.author_id is not None:
            check_length(new.author_id, f"{prefix}author.id", MAX_AUTHOR_ID)
        check_labels(new.labels, f"{prefix}labels")

    def build(
        self, thread: Thread, requests: Sequence[NewMessage], caller: Principal, now: datetime
    ) -> tuple[Thread, list[Message]]:
        """The messages to append and the thread after that activity."""
        # created_at never goes back within a thread, even across processes
        at = max(now, thread.last_activity_at)
        messages = []
        for new in requests:
            if new.author_id is not None:
                author_id = new.author_id
            elif new.role is Role.USER:
                author_id = thread.default_message_author_id
            else:
                author_id = ""
            messages.append(
                Message(
                    id=self._ids.new_id(MESSAGE_PREFIX),
                    thread_id=thread.id,
                    created_by=caller.subject_id,
                    created_at=at,
                    author=Author(id=author_id, role=new.role),
                    content=new.content,
                    labels=dict(new.labels),
                    status=MessageStatus.COMPLETED,
                    attachments=new.attachments,
                )
            )
        if messages:
            thread = evolve(thread, last_activity_at=at)
        return thread, messages

    def check_initial(self, requests: Sequence[NewMessage]) -> None:
        if len(requests) > MAX_INITIAL_MESSAGES:
            raise InvalidArgument(
                "messages", "array_above_max_length", maximum=MAX_INITIAL_MESSAGES, length=len(requests)
            )
        for i, new in enumerate(requests):
            self.check(new, f"messages[{i}].")
        if len(requests) > self._max_messages:
            raise ResourceExhausted("messages_per_thread", self._max_messages)

    async def create(
        self, thread_id: str, new: NewMessage, caller: Principal, idempotency: Idempotency | None = None
    ) -> Message:
        required(thread_id, "thread_id")
        self.check(new)
        now = self._clock.now()
        claim = None
        if idempotency is not None:
            scope = f"{caller.key_id or caller.subject_id}:create_message"
            claim = idempotency.claim(scope, thread_id, now, self._idempotency_window)

        def append(thread: Thread) -> tuple[Thread, list[Message]]:
            visible(thread, thread_id, caller, now)
            caller.require(AccessRole.EDITOR)
            return self.build(thread, [new], caller, now)

        if not usable_id(thread_id):
            raise NotFound("thread", thread_id)
        added = await self._store.append_messages(
            thread_id, append, max_messages=self._max_messages, idempotency=claim
        )
        if added is None:
            raise NotFound("thread", thread_id)
        if claim is not None:
            # a replay returns what was stored the first time without running ``append``:
            # the thread must still be there for the caller, or the message is gone too
            visible(await self._store.get_thread(thread_id), thread_id, caller, self._clock.now())
        return added[0]

    async def _live_thread(
        self, thread_id: str, caller: Principal, role: AccessRole = AccessRole.VIEWER
    ) -> Thread:
        required(thread_id, "thread_id")
        stored = await self._store.get_thread(thread_id) if usable_id(thread_id) else None
        thread = visible(stored, thread_id, caller, self._clock.now())
        caller.require(role)
        return thread

    async def get(self, thread_id: str, message_id: str, caller: Principal) -> Message:
        await self._live_thread(thread_id, caller)
        required(message_id, "message_id")
        if not usable_id(message_id):
            raise NotFound("message", message_id)
        message = await self._store.get_message(thread_id, message_id)
        if message is None:
            raise NotFound("message", message_id)
        return message

    async def list(
        self,
        thread_id: str,
        caller: Principal,
        *,
        order: Order = "desc",
        limit: int = 20,
        after: str | None = None,
        before: str | None = None,
        run_id: str | None = None,
    ) -> MessagePage:
        if limit < 1:
            raise InvalidArgument("limit", "integer_below_min_value", minimum=1, value=limit)
        if limit > MAX_PAGE_LIMIT:
            raise InvalidArgument("limit", "integer_above_max_value", maximum=MAX_PAGE_LIMIT, value=limit)
        await self._live_thread(thread_id, caller)
        for name, value in (("after", after), ("before", before), ("run_id", run_id)):
            if value is not None and not usable_id(value):
                raise InvalidArgument(name, "not_an_id")
        page = await self._store.list_messages(
            thread_id, order=order, limit=limit, after=after, before=before, run_id=run_id
        )
        if page is None:
            raise NotFound("thread", thread_id)
        fits = fit_page(page.messages, message_bytes)
        if fits < len(page.messages):  # a page of large messages stops at PAGE_BYTES
            return MessagePage(messages=page.messages[:fits], has_more=True)
        return page

    async def update_labels(
        self, thread_id: str, message_id: str, labels: Mapping[str, str], caller: Principal
    ) -> Message:
        checked = check_labels(labels)
        await self._live_thread(thread_id, caller, AccessRole.EDITOR)
        if not usable_id(message_id):
            raise NotFound("message", message_id)
        updated = await self._store.update_message(thread_id, message_id, lambda m: evolve(m, labels=checked))
        if updated is None:
            raise NotFound("message", message_id)
        return updated

    async def delete(self, thread_id: str, message_id: str, caller: Principal) -> None:
        await self._live_thread(thread_id, caller, AccessRole.EDITOR)
        if not usable_id(message_id):
            raise NotFound("message", message_id)
        if not await self._store.delete_message(thread_id, message_id):
            raise NotFound("message", message_id)
