"""Thread rules: create, read, update through a set of changed fields, delete, list."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from attrs import evolve, field, frozen

from core.access import AccessRole, Principal, visible
from core.clock import Clock, IdSource
from core.entries import NewEntry, located
from core.errors import InvalidArgument, NotFound
from core.messages import MAX_INITIAL_MESSAGES, MessageService
from core.model import Entry, ExpirationConfig, ExpirationPolicy, Thread, Tool
from core.ports import Idempotency, ThreadPosition, ThreadStore
from core.sizes import check_tools_size, fit_page, thread_bytes
from core.tools import with_file_search_ids
from core.validation import (
    MAX_AUTHOR_ID,
    MAX_DESCRIPTION,
    MAX_ID,
    MAX_NAME,
    check_ids,
    check_labels,
    check_length,
    json_strings_clean,
    required,
    usable_id,
)

THREAD_PREFIX = "thread_"
CONVERSATION_PREFIX = "conv_"
MAX_CONVERSATION_ITEMS = 20  # OpenAI's limit on items per conversations write
MAX_CODE_INTERPRETER_FILES = 20  # OpenAI's limit on tool_resources.code_interpreter.file_ids
AUTHOR_PREFIX = "user_"


@frozen
class ExpirationSettings:
    default_policy: ExpirationPolicy = ExpirationPolicy.SINCE_LAST_ACTIVE
    default_ttl_days: int = 7
    max_ttl_days: int = 365
    # OpenAI's conversations never expire: one made over that API gets the longest
    # idle time a thread may have (shown on the Yandex face as SINCE_LAST_ACTIVE)
    conversation_ttl_days: int = 365


@frozen
class ExpirationInput:
    """Expiration as a request states it; None means "not given, use the default"."""

    policy: ExpirationPolicy | None = None
    ttl_days: int | None = None


@frozen
class NewThread:
    folder_id: str
    name: str = ""
    description: str = ""
    default_message_author_id: str = ""
    expiration: ExpirationInput | None = None
    labels: Mapping[str, str] = field(factory=dict, hash=False)
    tools: tuple[Tool, ...] = ()
    code_interpreter_file_ids: tuple[str, ...] | None = None


# Field names a ThreadUpdate may change (the core's vocabulary; faces map theirs).
# The thread's own fields, which the Yandex protos name the same way:
THREAD_FIELDS = frozenset(
    {
        "name",
        "description",
        "labels",
        "expiration_config",
        "expiration_config.ttl_days",
        "expiration_config.expiration_policy",
        "tools",
    }
)
# ...and OpenAI's views of them: its file ids, and the first search_index tool's ids
# as its vector store ids (core/tools.py)
UPDATABLE_FIELDS = THREAD_FIELDS | {"code_interpreter_file_ids", "file_search_ids"}


@frozen
class ThreadUpdate:
    """New values for the fields named in ``fields``; other values are ignored.

    A named field whose value is None is reset to its default.
    """

    fields: frozenset[str]
    name: str | None = None
    description: str | None = None
    labels: Mapping[str, str] | None = field(default=None, hash=False)
    expiration: ExpirationInput = ExpirationInput()
    tools: tuple[Tool, ...] | None = None
    code_interpreter_file_ids: tuple[str, ...] | None = None
    file_search_ids: tuple[str, ...] | None = None


@frozen
class ThreadListPage:
    threads: list[Thread]
    next_page_token: str


DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode_page_token(position: ThreadPosition) -> str:
    """Same shape as the Yandex server's token: base64 of ``<created_at>@<id>``."""
    stamp = position.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return base64.b64encode(f"{stamp}@{position.thread_id}".encode()).decode("ascii")


def decode_page_token(token: str) -> ThreadPosition:
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")
        stamp, thread_id = raw.split("@", 1)
        created_at = datetime.strptime(stamp + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z")
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidArgument("page_token", "invalid_page_token") from exc
    if not thread_id or not usable_id(thread_id):
        raise InvalidArgument("page_token", "invalid_page_token")
    return ThreadPosition(created_at=created_at, thread_id=thread_id)


def check_tools(tools: tuple[Tool, ...]) -> tuple[Tool, ...]:
    check_tools_size(tools)
    for i, tool in enumerate(tools):
        if not json_strings_clean(tool.spec):
            raise InvalidArgument(f"tools[{i}]", "nul_character")
    return tools


def check_file_ids(ids: tuple[str, ...] | None) -> tuple[str, ...] | None:
    field_name = "code_interpreter_file_ids"
    return None if ids is None else check_ids(ids, field_name, MAX_CODE_INTERPRETER_FILES)


class ThreadService:
    def __init__(
        self,
        store: ThreadStore,
        clock: Clock,
        ids: IdSource,
        messages: MessageService,
        expiration: ExpirationSettings = ExpirationSettings(),
        idempotency_window: timedelta = timedelta(hours=24),
    ) -> None:
        self._messages = messages
        self._idempotency_window = idempotency_window
        self._store = store
        self._clock = clock
        self._ids = ids
        self._expiration = expiration

    # -- rules -----------------------------------------------------------------

    def _check_ttl(self, ttl_days: int) -> int:
        limit = self._expiration.max_ttl_days
        if ttl_days < 1 or ttl_days > limit:
            raise InvalidArgument(
                "expiration_config.ttl_days", "ttl_out_of_range", maximum=limit, value=ttl_days
            )
        return ttl_days

    def resolve_expiration(self, given: ExpirationInput | None) -> ExpirationConfig:
        """Fill what a request left out with the server defaults, then validate."""
        given = given or ExpirationInput()
        policy = given.policy or self._expiration.default_policy
        ttl = self._expiration.default_ttl_days if not given.ttl_days else given.ttl_days
        return ExpirationConfig(policy=policy, ttl_days=self._check_ttl(ttl))

    def build_thread(
        self, request: NewThread, caller: Principal, now: datetime, prefix: str = THREAD_PREFIX
    ) -> Thread:
        required(request.folder_id, "folder_id")
        author = check_length(
            request.default_message_author_id, "default_message_author_id", MAX_AUTHOR_ID
        ) or self._ids.new_id(AUTHOR_PREFIX)
        return Thread(
            id=self._ids.new_id(prefix),
            folder_id=check_length(request.folder_id, "folder_id", MAX_ID),
            name=check_length(request.name, "name", MAX_NAME),
            description=check_length(request.description, "description", MAX_DESCRIPTION),
            default_message_author_id=author,
            created_by=caller.subject_id,
            created_at=now,
            updated_by=caller.subject_id,
            updated_at=now,
            last_activity_at=now,
            expiration=self.resolve_expiration(request.expiration),
            labels=check_labels(request.labels),
            tools=check_tools(request.tools),
            code_interpreter_file_ids=check_file_ids(request.code_interpreter_file_ids),
        )

    def apply_update(self, thread: Thread, update: ThreadUpdate, caller: Principal, now: datetime) -> Thread:
        unknown = update.fields - UPDATABLE_FIELDS
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidArgument(
                "update_mask", "invalid_field_mask", path=name, allowed=tuple(sorted(UPDATABLE_FIELDS))
            )
        f = update.fields
        changed = thread
        if "name" in f:
            changed = evolve(changed, name=check_length(update.name or "", "name", MAX_NAME))
        if "description" in f:
            changed = evolve(
                changed,
                description=check_length(update.description or "", "description", MAX_DESCRIPTION),
            )
        if "labels" in f:
            changed = evolve(changed, labels=check_labels(update.labels or {}))
        if f & {"expiration_config", "expiration_config.expiration_policy", "expiration_config.ttl_days"}:
            whole = "expiration_config" in f
            policy = changed.expiration.policy
            ttl = changed.expiration.ttl_days
            if whole or "expiration_config.expiration_policy" in f:
                policy = update.expiration.policy or self._expiration.default_policy
            if whole or "expiration_config.ttl_days" in f:
                ttl = self._check_ttl(update.expiration.ttl_days or self._expiration.default_ttl_days)
            changed = evolve(changed, expiration=ExpirationConfig(policy=policy, ttl_days=ttl))
        if "tools" in f:
            changed = evolve(changed, tools=check_tools(update.tools or ()))
        if "file_search_ids" in f:
            # applied to the tools as stored now, inside the update's transaction
            ids = update.file_search_ids or None
            changed = evolve(changed, tools=check_tools(with_file_search_ids(changed.tools, ids)))
        if "code_interpreter_file_ids" in f:
            changed = evolve(
                changed, code_interpreter_file_ids=check_file_ids(update.code_interpreter_file_ids)
            )
        return evolve(changed, updated_by=caller.subject_id, updated_at=now)

    # -- use cases -------------------------------------------------------------

    async def create(
        self,
        request: NewThread,
        caller: Principal,
        entries: Sequence[NewEntry] = (),
        idempotency: Idempotency | None = None,
        *,
        field: str = "messages",
        max_entries: int = MAX_INITIAL_MESSAGES,
        prefix: str = THREAD_PREFIX,
        scope: str = "create_thread",
    ) -> Thread:
        """Create a thread, with its initial entries stored in the given order.

        With ``idempotency``, a retry of the same request within the window returns
        the thread made the first time instead of a second one.
        """
        if request.folder_id:
            caller.require_folder(request.folder_id, AccessRole.EDITOR)
        now = self._clock.now()
        thread = self.build_thread(request, caller, now, prefix)
        initial: list[Entry] = []
        if entries:
            self._messages.check_initial(entries, field, max_entries)
            thread, initial = self._messages.build(thread, entries, caller, now)
        claim = None
        if idempotency is not None:
            scoped = f"{caller.key_id or caller.subject_id}:{scope}"
            claim = idempotency.claim(scoped, thread.folder_id, now, self._idempotency_window)
        try:
            created = await self._store.create_thread(thread, initial, claim)
        except InvalidArgument as exc:
            raise located(exc, entries, field) from None
        # a replay returns the thread made the first time, which may have expired since
        return visible(created, created.id, caller, self._clock.now())

    async def create_conversation(
        self,
        folder_id: str,
        labels: Mapping[str, str],
        items: Sequence[NewEntry],
        caller: Principal,
        idempotency: Idempotency | None = None,
    ) -> Thread:
        """A thread made through OpenAI's Conversations API: its id says so, and it
        expires only after ``conversation_ttl_days`` without activity."""
        expiration = ExpirationInput(
            ExpirationPolicy.SINCE_LAST_ACTIVE, self._expiration.conversation_ttl_days
        )
        return await self.create(
            NewThread(folder_id=folder_id, labels=labels, expiration=expiration),
            caller,
            items,
            idempotency,
            field="items",
            max_entries=MAX_CONVERSATION_ITEMS,
            prefix=CONVERSATION_PREFIX,
            # a key sent to both creates names two requests, never one replayed
            scope="create_conversation",
        )

    async def get(self, thread_id: str, caller: Principal) -> Thread:
        required(thread_id, "thread_id")
        thread = await self._store.get_thread(thread_id) if usable_id(thread_id) else None
        return visible(thread, thread_id, caller, self._clock.now())

    async def update(self, thread_id: str, update: ThreadUpdate, caller: Principal) -> Thread:
        required(thread_id, "thread_id")
        now = self._clock.now()

        if not usable_id(thread_id):
            raise NotFound("thread", thread_id)

        def change(current: Thread) -> Thread:
            visible(current, thread_id, caller, now)
            caller.require(AccessRole.EDITOR)
            return self.apply_update(current, update, caller, now)

        updated = await self._store.update_thread(thread_id, change)
        if updated is None:
            raise NotFound("thread", thread_id)
        return updated

    async def delete(self, thread_id: str, caller: Principal) -> None:
        await self.get(thread_id, caller)
        caller.require(AccessRole.EDITOR)
        if not await self._store.delete_thread(thread_id):
            raise NotFound("thread", thread_id)

    async def list(
        self, folder_id: str, caller: Principal, page_size: int = 0, page_token: str = ""
    ) -> ThreadListPage:
        check_length(required(folder_id, "folder_id"), "folder_id", MAX_ID)
        caller.require_folder(folder_id, AccessRole.VIEWER)
        if page_size < 0:
            raise InvalidArgument("page_size", "integer_below_min_value", minimum=0, value=page_size)
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = decode_page_token(page_token) if page_token else None
        threads = await self._store.list_threads(
            folder_id, alive_at=self._clock.now(), limit=limit, after=after
        )
        del threads[fit_page(threads, thread_bytes) :]  # a page of large threads stops at PAGE_BYTES
        # A token after every non-empty page and an empty last page, as the real
        # server did: the Yandex SDK stops only on an empty page.
        token = ""
        if threads:
            last = threads[-1]
            token = encode_page_token(ThreadPosition(created_at=last.created_at, thread_id=last.id))
        return ThreadListPage(threads=threads, next_page_token=token)
