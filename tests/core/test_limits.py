"""Size limits, the NUL rule and idempotent replays: what a face may store, every face can return."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.storage.memory import InMemoryStore
from core.access import Principal
from core.entries import NewMessage
from core.errors import InvalidArgument, NotFound
from core.model import Attachment, ImageUrlPart, JsonObject, TextPart, Tool
from core.ports import Idempotency
from core.services import Core, CoreSettings
from core.sizes import (
    MAX_CONTENT_BYTES,
    MAX_CONTENT_PARTS,
    MAX_TOOLS,
    MAX_TOOLS_BYTES,
    PAGE_BYTES,
    message_bytes,
    thread_bytes,
)
from core.threads import ExpirationInput, NewThread, ThreadUpdate
from tests.doubles import ManualClock, SequentialIds
from tests.factories import T0


def text(n: int, char: str = "x") -> NewMessage:
    return NewMessage(content=(TextPart(char * n),))


async def test_a_message_is_bounded_as_a_whole_not_only_per_part(core: Core, alice: Principal) -> None:
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    # 17 parts just under the per-part limit: each is fine, together they are 4 MiB
    parts = tuple(TextPart("x" * 250_000) for _ in range(17))
    with pytest.raises(InvalidArgument) as info:
        await core.messages.create(t.id, NewMessage(content=parts), alice)
    assert (info.value.field, info.value.code) == ("content", "content_too_large")
    # multi-byte text counts in bytes: 256,000 four-byte characters is within one part's limit
    # but 1,024,000 bytes, and two such parts are over the whole message's
    emoji = "\U0001f600" * 200_000
    with pytest.raises(InvalidArgument):
        await core.messages.create(t.id, NewMessage(content=(TextPart(emoji), TextPart(emoji))), alice)
    page = await core.messages.list(t.id, alice)
    assert page.messages == []  # nothing was stored
    largest = NewMessage(content=(TextPart("\U0001f600" * 256_000),))  # 1,024,000 bytes
    stored = await core.messages.create(t.id, largest, alice)
    assert message_bytes(stored) < 1.5 * 1024 * 1024


async def test_content_parts_and_attachments_are_counted(core: Core, alice: Principal) -> None:
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    many = NewMessage(content=tuple(TextPart("") for _ in range(MAX_CONTENT_PARTS + 1)))
    with pytest.raises(InvalidArgument) as info:
        await core.messages.create(t.id, many, alice)
    assert info.value.code == "array_above_max_length"
    attachments = tuple(Attachment(file_id=f"file-{i}") for i in range(21))
    with pytest.raises(InvalidArgument) as info:
        await core.messages.create(t.id, NewMessage(content=(TextPart("x"),), attachments=attachments), alice)
    assert info.value.field == "attachments"
    with pytest.raises(InvalidArgument) as info:
        url = ImageUrlPart(url="https://example.com/" + "a" * MAX_CONTENT_BYTES)
        await core.messages.create(t.id, NewMessage(content=(url,)), alice)
    assert info.value.code == "content_too_large"


async def test_tools_are_bounded_in_count_and_size(core: Core, alice: Principal) -> None:
    big = Tool("search_index", {"search_index_ids": ["i" * 1024] * 1024})  # 1 MiB of ids
    with pytest.raises(InvalidArgument) as info:
        await core.threads.create(NewThread(folder_id="f", tools=(big,)), alice)
    assert (info.value.field, info.value.code) == ("tools", "tools_too_large")
    many = tuple(Tool("function", {"name": str(i)}) for i in range(MAX_TOOLS + 1))
    with pytest.raises(InvalidArgument):
        await core.threads.create(NewThread(folder_id="f", tools=many), alice)
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    with pytest.raises(InvalidArgument):
        await core.threads.update(t.id, ThreadUpdate(fields=frozenset({"tools"}), tools=(big,)), alice)
    with pytest.raises(InvalidArgument):  # through OpenAI's view of the tools as well
        await core.threads.update(
            t.id,
            ThreadUpdate(fields=frozenset({"file_search_ids"}), file_search_ids=("v" * 1024,) * 1024),
            alice,
        )
    assert (await core.threads.get(t.id, alice)).tools == ()
    ids = tuple(f"file-{i}" for i in range(21))
    with pytest.raises(InvalidArgument) as info:
        await core.threads.create(NewThread(folder_id="f", code_interpreter_file_ids=ids), alice)
    assert info.value.code == "array_above_max_length"


async def test_thread_pages_stop_at_the_byte_budget(core: Core, alice: Principal) -> None:
    # each thread near the tools limit: 20 of them are far more than one response may carry
    spec: JsonObject = {"search_index_ids": ["i" * 1000] * ((MAX_TOOLS_BYTES - 4096) // 1016)}
    made = [
        await core.threads.create(NewThread(folder_id="f", tools=(Tool("search_index", spec),)), alice)
        for _ in range(20)
    ]
    seen: list[str] = []
    token = ""
    while True:
        page = await core.threads.list("f", alice, page_token=token)
        if not page.threads:
            break
        assert sum(thread_bytes(t) for t in page.threads) <= PAGE_BYTES
        seen += [t.id for t in page.threads]
        token = page.next_page_token
    assert sorted(seen) == sorted(t.id for t in made)
    assert len(seen) == len(set(seen))


async def test_message_pages_stop_at_the_byte_budget(core: Core, alice: Principal) -> None:
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    for _ in range(5):
        await core.messages.create(t.id, text(250_000, "\u00e9"), alice)  # 500 KB each
    await core.messages.create(t.id, NewMessage(content=(TextPart("\U0001f600" * 250_000),)), alice)
    page = await core.messages.list(t.id, alice, limit=100)
    assert 1 <= len(page.messages) < 6 and page.has_more
    assert sum(message_bytes(m) for m in page.messages) <= PAGE_BYTES
    rest = await core.messages.list(t.id, alice, limit=100, after=page.messages[-1].id)
    assert len(page.messages) + len(rest.messages) == 6 and not rest.has_more


@pytest.mark.parametrize(
    "new",
    [
        NewMessage(content=(TextPart("a\x00b"),)),
        NewMessage(content=(ImageUrlPart("https://x/\x00"),)),
        NewMessage(content=(TextPart("x"),), labels={"k": "\x00"}),
        NewMessage(content=(TextPart("x"),), labels={"\x00": "v"}),
        NewMessage(content=(TextPart("x"),), attachments=(Attachment(file_id="f\x00"),)),
    ],
)
async def test_nul_is_refused_in_every_message_text_field(
    core: Core, alice: Principal, new: NewMessage
) -> None:
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    with pytest.raises(InvalidArgument) as info:
        await core.messages.create(t.id, new, alice)
    assert info.value.code == "nul_character"
    assert (await core.messages.list(t.id, alice)).messages == []


@pytest.mark.parametrize(
    "request_",
    [
        NewThread(folder_id="f", labels={"k": "a\x00"}),
        NewThread(folder_id="f", tools=(Tool("function", {"name": "f\x00"}),)),
        NewThread(folder_id="f", tools=(Tool("function", {"parameters": {"p\x00": 1}}),)),
        NewThread(folder_id="f", code_interpreter_file_ids=("file\x00",)),
    ],
)
async def test_nul_is_refused_in_every_thread_text_field(
    core: Core, alice: Principal, request_: NewThread
) -> None:
    with pytest.raises(InvalidArgument):
        await core.threads.create(request_, alice)


async def test_an_idempotency_key_is_per_target_folder(core: Core, alice: Principal) -> None:
    same = Idempotency(key="k1", fingerprint="body")
    first = await core.threads.create(NewThread(folder_id="f"), alice, idempotency=same)
    assert (await core.threads.create(NewThread(folder_id="f"), alice, idempotency=same)).id == first.id
    with pytest.raises(InvalidArgument) as info:
        await core.threads.create(NewThread(folder_id="other"), alice, idempotency=same)
    assert info.value.code == "idempotency_key_reused"


async def test_an_idempotency_key_is_per_target_thread(core: Core, alice: Principal) -> None:
    a = await core.threads.create(NewThread(folder_id="f"), alice)
    b = await core.threads.create(NewThread(folder_id="f"), alice)
    same = Idempotency(key="k2", fingerprint="body")
    await core.messages.create(a.id, text(1), alice, same)
    with pytest.raises(InvalidArgument):
        await core.messages.create(b.id, text(1), alice, same)
    assert (await core.messages.list(b.id, alice)).messages == []


async def test_an_idempotent_replay_never_returns_what_has_expired(alice: Principal) -> None:
    clock = ManualClock(T0)
    settings = CoreSettings(idempotency_window=timedelta(days=30))
    core = Core(InMemoryStore(), clock, SequentialIds(), settings)
    short = NewThread(folder_id="f", expiration=ExpirationInput(ttl_days=1))
    key = Idempotency(key="k", fingerprint="body")
    made = await core.threads.create(short, alice, idempotency=key)
    other = await core.threads.create(short, alice)
    message_key = Idempotency(key="m", fingerprint="body")
    await core.messages.create(other.id, text(1), alice, message_key)
    clock.advance(timedelta(days=2))
    with pytest.raises(NotFound):
        await core.threads.create(short, alice, idempotency=key)
    with pytest.raises(NotFound):
        await core.messages.create(other.id, text(1), alice, message_key)
    with pytest.raises(NotFound):
        await core.threads.get(made.id, alice)
