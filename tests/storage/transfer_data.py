"""A store's worth of threads using every field of the neutral model, for the
export/import tests, and helpers to compare two stores record by record."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from adapters.transfer_run import Refusal, export, import_lines
from core.model import (
    Attachment,
    Author,
    Entry,
    ExpirationConfig,
    ExpirationPolicy,
    FilePart,
    ImageFilePart,
    ImageUrlPart,
    Item,
    Message,
    MessageStatus,
    RefusalPart,
    Role,
    TextPart,
    Thread,
    Tool,
)
from core.ports import Store
from core.transfer import EVERYTHING, ThreadFilter, TransferStore

T = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
POLICIES = (ExpirationPolicy.SINCE_LAST_ACTIVE, ExpirationPolicy.STATIC)


def rich_thread(n: int, folder: str = "folder-a", at: datetime = T) -> tuple[Thread, list[Entry]]:
    tid = f"thread_rich{n:04d}"
    thread = Thread(
        id=tid,
        folder_id=folder,
        name=f"thread {n} ✓",
        description="all the fields",
        default_message_author_id="user_42",
        created_by="subject-a",
        created_at=at,
        updated_by="subject-b",
        updated_at=at + timedelta(microseconds=17),
        last_activity_at=at + timedelta(seconds=3, microseconds=1),
        expiration=ExpirationConfig(
            ExpirationPolicy.STATIC if n % 2 else ExpirationPolicy.SINCE_LAST_ACTIVE, 30
        ),
        labels={"team": "blue", "n": str(n)},
        tools=(
            Tool("function", {"name": "lookup", "parameters": {"type": "object"}}),
            Tool("search_index", {"search_index_ids": ["idx_1"]}),
        ),
        code_interpreter_file_ids=("file_a", "file_b") if n % 2 else None,
    )

    def at_(i: int) -> datetime:
        return at + timedelta(microseconds=100 + i)

    entries: list[Entry] = [
        Message(
            id=f"msg_{n}_1",
            thread_id=tid,
            created_by="subject-a",
            created_at=at_(1),
            author=Author("user_42", Role.USER),
            content=(
                TextPart("hello"),
                ImageFilePart("file_img", "high"),
                ImageUrlPart("https://example.com/a.png"),
                FilePart(file_id="file_pdf", filename="a.pdf"),
                FilePart(file_data="ZGF0YQ==", filename="b.txt"),
            ),
            labels={"k": "v"},
            attachments=(Attachment("file_att", ("file_search", "code_interpreter")),),
        ),
        Message(
            id=f"msg_{n}_2",
            thread_id=tid,
            created_by="subject-a",
            created_at=at_(2),
            author=Author("asst_1", Role.ASSISTANT),
            content=(
                TextPart(
                    "an answer",
                    annotations=({"type": "url_citation", "url": "https://x", "start_index": 0},),
                    logprobs=({"token": "an", "logprob": -0.25, "bytes": [97, 110]},),
                ),
                RefusalPart("not that"),
            ),
            status=MessageStatus.INCOMPLETE,
            run_id="run_7",
            phase="final_answer",
        ),
        Message(
            id=f"msg_{n}_3",
            thread_id=tid,
            created_by="subject-a",
            created_at=at_(3),
            author=Author("", Role.SYSTEM),
            content=(TextPart("be brief"),),
        ),
        Item(
            id=f"fc_{n}",
            thread_id=tid,
            created_by="subject-a",
            created_at=at_(4),
            type="function_call",
            data={"call_id": "call_1", "name": "lookup", "arguments": '{"q": 1}', "status": "completed"},
        ),
        Item(
            id=f"rs_{n}",
            thread_id=tid,
            created_by="subject-a",
            created_at=at_(5),
            type="reasoning",
            data={"summary": [{"type": "summary_text", "text": "hm"}], "status": "completed", "x": None},
        ),
        Message(
            id=f"msg_{n}_4",
            thread_id=tid,
            created_by="subject-a",
            created_at=at_(6),
            author=Author("dev", Role.DEVELOPER),
            content=(TextPart("rules"),),
        ),
    ]
    return thread, entries


async def fill(store: Store, threads: int = 3) -> None:
    for n in range(threads):
        thread, entries = rich_thread(n, folder="folder-a" if n % 3 else "folder-b")
        await store.create_thread(thread, entries)


async def dump(store: TransferStore, where: ThreadFilter = EVERYTHING) -> bytes:
    """The export without its header (which holds the time of the export)."""
    out = io.BytesIO()
    await export(store, out, where, T)
    return b"".join(out.getvalue().splitlines(keepends=True)[1:])


async def move(source: TransferStore, target: TransferStore) -> list[Refusal]:
    out = io.BytesIO()
    await export(source, out, EVERYTHING, T)
    refused: list[Refusal] = []
    await import_lines(target, io.BytesIO(out.getvalue()), refused.append)
    return refused


async def contents(store: Store) -> list[tuple[Thread | None, list[Entry]]]:
    """Every thread and its entries as the serving port reads them (for field equality)."""
    assert isinstance(store, TransferStore)
    found = []
    async with store.snapshot() as snap:
        ids = [t.id for t in await snap.threads(None, 10_000)]
    for tid in ids:
        page = await store.list_messages(tid, order="asc", limit=10_000)
        assert page is not None
        found.append((await store.get_thread(tid), page.messages))
    return found
