"""Size bounds that keep every stored object sendable through every face.

gRPC refuses to send a message over 4 MiB (the Yandex clients' default receive
limit too), and a write that committed but can never be read back would strand
its thread.  So the limits are on what is *stored*, checked before anything is
written, and chosen so that the largest thread or message any face can store
renders well inside that limit in every wire shape:

- a message: each text part at most 256,000 characters, at most 1 MiB of
  content (UTF-8) over all its parts, at most 64 parts and 20 attachments, plus
  labels (16 x (64 + 512) characters): under 1.3 MiB encoded;
- a thread: tools at most 128 and 256 KiB of settings, plus labels, name and
  description: under 0.5 MiB encoded.

``thread_bytes`` and ``message_bytes`` are upper bounds of an object's protobuf
encoding, the one wire shape with a hard size limit (UTF-8 bytes of every string
plus a fixed allowance per field; tests/proto/test_size_bounds.py checks them), cheap
enough to compute for every object of a page.  JSON faces have no such limit (their
escapes may make a rendering longer), and their pages are cut by the same bound.  Pages and streams are cut
at ``PAGE_BYTES`` of them as well as at their count, so that a page of large
objects is never larger than one response may be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from core.errors import InvalidArgument
from core.model import (
    FILE_PART_FIELDS,
    ContentPart,
    Entry,
    ImageFilePart,
    ImageUrlPart,
    Item,
    JsonObject,
    JsonValue,
    Message,
    RefusalPart,
    TextPart,
    Thread,
    Tool,
)
from core.validation import check_count

MAX_TEXT_PART = 256_000  # characters; OpenAI's limit on a message's text
MAX_CONTENT_BYTES = 1024 * 1024  # UTF-8 bytes of all a message's parts together
MAX_CONTENT_PARTS = 64
MAX_ATTACHMENTS = 20
# an item that is not a message (a tool call's output, reasoning): JSON bytes of its
# fields.  Only JSON faces show items, so the gRPC limit does not bind them.
MAX_ITEM_BYTES = 2 * 1024 * 1024
MAX_TOOLS = 128
MAX_TOOLS_BYTES = 256 * 1024
# a page or list response: what a single gRPC message (4 MiB) carries with a margin
PAGE_BYTES = 3 * 1024 * 1024

_FIELD = 16  # allowance per field: tag, length prefix, JSON punctuation and key
_THREAD_FIXED = 1024  # ids, timestamps, enums, expiration and the like
_MESSAGE_FIXED = 512

T = TypeVar("T")


def utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def json_bytes(value: JsonValue) -> int:
    """An upper bound of ``value``'s size as JSON text or as a protobuf Struct."""
    if isinstance(value, str):
        return utf8_len(value) + _FIELD
    if isinstance(value, dict):
        return _FIELD + sum(utf8_len(k) + json_bytes(v) for k, v in value.items())
    if isinstance(value, list):
        return _FIELD + sum(json_bytes(v) for v in value)
    return _FIELD + 16  # numbers, booleans, null


def labels_bytes(labels: Mapping[str, str]) -> int:
    return sum(utf8_len(k) + utf8_len(v) + _FIELD for k, v in labels.items())


def tools_bytes(tools: Iterable[Tool]) -> int:
    return sum(utf8_len(t.kind) + _FIELD + json_bytes(t.spec) for t in tools)


def part_bytes(part: ContentPart) -> int:
    if isinstance(part, TextPart):
        size = utf8_len(part.text)
        if part.annotations or part.logprobs:
            size += json_bytes([*part.annotations, *part.logprobs])
        return size
    if isinstance(part, ImageUrlPart):
        return utf8_len(part.url) + utf8_len(part.detail)
    if isinstance(part, ImageFilePart):
        return utf8_len(part.file_id) + utf8_len(part.detail)
    if isinstance(part, RefusalPart):
        return utf8_len(part.refusal)
    return sum(utf8_len(getattr(part, name) or "") + _FIELD for name in FILE_PART_FIELDS)


def thread_bytes(thread: Thread) -> int:
    strings = (thread.id, thread.folder_id, thread.name, thread.description)
    more = (thread.default_message_author_id, thread.created_by, thread.updated_by)
    ids = thread.code_interpreter_file_ids or ()
    return (
        _THREAD_FIXED
        + sum(utf8_len(s) + _FIELD for s in (*strings, *more, *ids))
        + labels_bytes(thread.labels)
        + tools_bytes(thread.tools)
    )


def message_bytes(message: Message) -> int:
    strings = (message.id, message.thread_id, message.created_by, message.author.id, message.run_id or "")
    return (
        _MESSAGE_FIXED
        + sum(utf8_len(s) + _FIELD for s in strings)
        # a part rendered as text over gRPC gains a short "[image_url ...]" wrapper
        + sum(part_bytes(p) + 2 * _FIELD for p in message.content)
        + sum(utf8_len(a.file_id) + _FIELD * (1 + len(a.tools)) for a in message.attachments)
        + labels_bytes(message.labels)
    )


def item_bytes(item: Item) -> int:
    strings = (item.id, item.thread_id, item.created_by, item.type)
    return _MESSAGE_FIXED + sum(utf8_len(s) + _FIELD for s in strings) + json_bytes(item.data)


def entry_bytes(entry: Entry) -> int:
    return message_bytes(entry) if isinstance(entry, Message) else item_bytes(entry)


def check_item_size(data: JsonObject, field: str) -> None:
    size = json_bytes(data)
    if size > MAX_ITEM_BYTES:
        raise InvalidArgument(field, "item_too_large", maximum=MAX_ITEM_BYTES, size=size)


def fit_page(items: Sequence[T], size: Callable[[T], int], budget: int = PAGE_BYTES) -> int:
    """How many of ``items``, from the first, fit in ``budget`` bytes (always at least one)."""
    total = 0
    for n, item in enumerate(items):
        total += size(item)
        if total > budget and n > 0:
            return n
    return len(items)


def check_part_count(parts: Sequence[ContentPart], field: str) -> None:
    check_count(len(parts), field, MAX_CONTENT_PARTS)


def check_content_size(parts: Sequence[ContentPart], field: str) -> None:
    """A whole message's content, over all its parts."""
    total = sum(part_bytes(p) for p in parts)
    if total > MAX_CONTENT_BYTES:
        raise InvalidArgument(field, "content_too_large", maximum=MAX_CONTENT_BYTES, size=total)


def check_tools_size(tools: Sequence[Tool], field: str = "tools") -> None:
    check_count(len(tools), field, MAX_TOOLS)
    total = tools_bytes(tools)
    if total > MAX_TOOLS_BYTES:
        raise InvalidArgument(field, "tools_too_large", maximum=MAX_TOOLS_BYTES, size=total)
