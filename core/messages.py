"""Message rules: append in a total order, read, page, relabel, delete.

The thread APIs see plain messages only (``core.model.is_plain``); the
Conversations API sees every entry.  ``plain_only`` says which view a call is for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from attrs import evolve, frozen

from core.access import AccessRole, Principal, visible
from core.clock import Clock, IdSource
from core.entries import (
    NewEntry,
    NewMessage,
    build_item,
    check_entries,
    check_message,
    located,
    prefix_for,
)
from core.errors import InvalidArgument, NotFound, ResourceExhausted
from core.model import Author, Entry, Message, Role, Thread, is_plain
from core.ports import Idempotency, MessagePage, Order, ThreadStore
from core.sizes import entry_bytes, fit_page
from core.validation import check_labels, required, usable_id

MAX_INITIAL_MESSAGES = 32
MAX_PAGE_LIMIT = 100
DEFAULT_MAX_MESSAGES_PER_THREAD = 100_000


def parse_role(value: str, field_name: str = "role") -> Role:
    """The thread APIs' roles, accepted in any case (``user``, ``USER``): only two."""
    role = {"user": Role.USER, "assistant": Role.ASSISTANT}.get(value.lower())
    if role is None:
        raise InvalidArgument(field_name, "invalid_value", value=value, allowed=("user", "assistant"))
    return role


@frozen
class PlainPage:
    messages: list[Message]
    has_more: bool


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

    def build(
        self, thread: Thread, requests: Sequence[NewEntry], caller: Principal, now: datetime
    ) -> tuple[Thread, list[Entry]]:
        """The entries to append and the thread after that activity."""
        # created_at never goes back within a thread, even across processes
        at = max(now, thread.last_activity_at)
        entries: list[Entry] = []
        for new in requests:
            entry_id = new.id or self._ids.new_id(prefix_for(new))
            if not isinstance(new, NewMessage):
                entries.append(build_item(new, entry_id, thread.id, caller.subject_id, at))
                continue
            if new.author_id is not None:
                author_id = new.author_id
            elif new.role is Role.USER:
                author_id = thread.default_message_author_id
            else:
                author_id = ""
            entries.append(
                Message(
                    id=entry_id,
                    thread_id=thread.id,
                    created_by=caller.subject_id,
                    created_at=at,
                    author=Author(id=author_id, role=new.role),
                    content=new.content,
                    labels=dict(new.labels),
                    status=new.status,
                    attachments=new.attachments,
                    phase=new.phase,
                )
            )
        if entries:
            thread = evolve(thread, last_activity_at=at)
        return thread, entries

    def check_initial(self, requests: Sequence[NewEntry], field: str, maximum: int) -> None:
        check_entries(requests, field, maximum)
        if len(requests) > self._max_messages:
            raise ResourceExhausted("messages_per_thread", self._max_messages)

    async def create(
        self, thread_id: str, new: NewMessage, caller: Principal, idempotency: Idempotency | None = None
    ) -> Message:
        """One message, through a thread API."""
        required(thread_id, "thread_id")
        check_message(new)
        added = await self._append(thread_id, [new], caller, idempotency, "create_message")
        message = added[0]
        assert isinstance(message, Message)
        return message

    async def append(
        self,
        thread_id: str,
        entries: Sequence[NewEntry],
        caller: Principal,
        idempotency: Idempotency | None = None,
        *,
        field: str = "items",
        maximum: int = MAX_PAGE_LIMIT,
        scope: str = "append_items",
    ) -> list[Entry]:
        """Entries at the end of the thread, all or none, in the order given."""
        required(thread_id, "thread_id")
        check_entries(entries, field, maximum)
        return await self._append(thread_id, entries, caller, idempotency, scope, field)

    async def _append(
        self,
        thread_id: str,
        entries: Sequence[NewEntry],
        caller: Principal,
        idempotency: Idempotency | None,
        scope: str,
        field: str = "",
    ) -> list[Entry]:
        required(thread_id, "thread_id")
        now = self._clock.now()
        claim = None
        if idempotency is not None:
            scope = f"{caller.key_id or caller.subject_id}:{scope}"
            claim = idempotency.claim(scope, thread_id, now, self._idempotency_window)

        def append(thread: Thread) -> tuple[Thread, list[Entry]]:
            visible(thread, thread_id, caller, now)
            caller.require(AccessRole.EDITOR)
            return self.build(thread, entries, caller, now)

        if not usable_id(thread_id):
            raise NotFound("thread", thread_id)
        try:
            added = await self._store.append_messages(
                thread_id, append, max_messages=self._max_messages, idempotency=claim
            )
        except InvalidArgument as exc:
            raise located(exc, entries, field) from None
        if added is None:
            raise NotFound("thread", thread_id)
        if claim is not None:
            # a replay returns what was stored the first time without running ``append``:
            # the thread must still be there for the caller, or the message is gone too
            visible(await self._store.get_thread(thread_id), thread_id, caller, self._clock.now())
        return added

    async def _live_thread(
        self, thread_id: str, caller: Principal, role: AccessRole = AccessRole.VIEWER
    ) -> Thread:
        required(thread_id, "thread_id")
        stored = await self._store.get_thread(thread_id) if usable_id(thread_id) else None
        thread = visible(stored, thread_id, caller, self._clock.now())
        caller.require(role)
        return thread

    async def get_entry(self, thread_id: str, entry_id: str, caller: Principal) -> Entry:
        await self._live_thread(thread_id, caller)
        required(entry_id, "message_id")
        entry = await self._store.get_message(thread_id, entry_id) if usable_id(entry_id) else None
        if entry is None:
            raise NotFound("message", entry_id)
        return entry

    async def get(self, thread_id: str, message_id: str, caller: Principal) -> Message:
        """A plain message: what the thread APIs can show."""
        entry = await self.get_entry(thread_id, message_id, caller)
        if not isinstance(entry, Message) or not is_plain(entry):
            raise NotFound("message", message_id)
        return entry

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
    ) -> PlainPage:
        """A page of plain messages: what the thread APIs list."""
        page = await self.list_entries(
            thread_id,
            caller,
            order=order,
            limit=limit,
            after=after,
            before=before,
            run_id=run_id,
            plain_only=True,
        )
        return PlainPage([m for m in page.messages if isinstance(m, Message)], page.has_more)

    async def list_entries(
        self,
        thread_id: str,
        caller: Principal,
        *,
        order: Order = "desc",
        limit: int = 20,
        after: str | None = None,
        before: str | None = None,
        run_id: str | None = None,
        plain_only: bool = False,
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
            thread_id,
            order=order,
            limit=limit,
            after=after,
            before=before,
            run_id=run_id,
            plain_only=plain_only,
        )
        if page is None:
            raise NotFound("thread", thread_id)
        fits = fit_page(page.messages, entry_bytes)
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

        def relabel(entry: Entry) -> Entry:
            if not isinstance(entry, Message) or not is_plain(entry):
                raise NotFound("message", message_id)
            return evolve(entry, labels=checked)

        updated = await self._store.update_message(thread_id, message_id, relabel)
        if not isinstance(updated, Message):
            raise NotFound("message", message_id)
        return updated

    async def delete(
        self, thread_id: str, message_id: str, caller: Principal, *, plain_only: bool = True
    ) -> None:
        """Delete an entry; through a thread API (``plain_only``), a plain message only."""
        await self._live_thread(thread_id, caller, AccessRole.EDITOR)
        if not usable_id(message_id):
            raise NotFound("message", message_id)
        if plain_only:
            found = await self._store.get_message(thread_id, message_id)
            if found is None or not is_plain(found):
                raise NotFound("message", message_id)
        if not await self._store.delete_message(thread_id, message_id):
            raise NotFound("message", message_id)
