"""Strategies, invariants and call helpers for the gRPC fuzz tests.

Everything here speaks through the ``yandexcloud`` generated messages only (never
``adapters.grpc``): the server is a black box reached over a real channel.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import sqlite3
import string
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

import grpc
from attrs import define, field, frozen
from google.protobuf import field_mask_pb2, struct_pb2, text_format
from google.protobuf.message import Message as PbMessage
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import strategies as st
from yandex.cloud.ai.assistants.v1 import common_pb2 as tools_pb2
from yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import thread_pb2
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.common import common_pb2

from testkit.server import TEST_FOLDERS, Server

# -- the server's documented limits (straddled by the strategies) -----------------

MAX_NAME = 256
MAX_DESCRIPTION = 1024
MAX_AUTHOR_ID = 256
MAX_LABELS = 16
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 512
MAX_TEXT = 256_000
MAX_INITIAL_MESSAGES = 32
MAX_TTL_DAYS = 365
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# the fuzz server runs with a small per-thread cap so RESOURCE_EXHAUSTED is reachable
MAX_MESSAGES_PER_THREAD = 12

STATIC = common_pb2.ExpirationConfig.STATIC
SLA = common_pb2.ExpirationConfig.SINCE_LAST_ACTIVE
UNSPECIFIED = common_pb2.ExpirationConfig.EXPIRATION_POLICY_UNSPECIFIED
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# folders the fuzz key may use, one it may not, and the missing value
FUZZ_FOLDERS = TEST_FOLDERS[:4]
UNKNOWN_FOLDER = "b1g-not-a-folder-of-this-key"
CALL_TIMEOUT = 10.0

Code = grpc.StatusCode
ALLOWED = frozenset(
    {
        Code.OK,
        Code.INVALID_ARGUMENT,
        Code.NOT_FOUND,
        Code.PERMISSION_DENIED,
        Code.RESOURCE_EXHAUSTED,
        Code.FAILED_PRECONDITION,
    }
)

# -- methods ------------------------------------------------------------------------

THREADS = "/yandex.cloud.ai.assistants.v1.threads.ThreadService/"
MESSAGES = "/yandex.cloud.ai.assistants.v1.threads.MessageService/"


@frozen
class Method:
    name: str
    request: type[PbMessage]
    response: type[PbMessage]
    streaming: bool = False

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]


METHODS = (
    Method(THREADS + "Create", ts.CreateThreadRequest, thread_pb2.Thread),
    Method(THREADS + "Get", ts.GetThreadRequest, thread_pb2.Thread),
    Method(THREADS + "Update", ts.UpdateThreadRequest, thread_pb2.Thread),
    Method(THREADS + "Delete", ts.DeleteThreadRequest, ts.DeleteThreadResponse),
    Method(THREADS + "List", ts.ListThreadsRequest, ts.ListThreadsResponse),
    Method(MESSAGES + "Create", ms.CreateMessageRequest, mp.Message),
    Method(MESSAGES + "Get", ms.GetMessageRequest, mp.Message),
    Method(MESSAGES + "List", ms.ListMessagesRequest, mp.Message, streaming=True),
)

# -- what the fuzzer knows about the server's data ----------------------------------


@define(repr=False)
class Pool:
    """Ids the server handed out during this run, so requests can hit real objects."""

    def __repr__(self) -> str:
        return f"<Pool: {len(self.threads)} threads, {len(self.deleted)} deleted, {len(self.tokens)} tokens>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' printer
        printer.text(repr(self))

    threads: dict[str, str] = field(factory=dict)  # thread id -> folder
    messages: dict[str, list[str]] = field(factory=dict)  # thread id -> message ids
    deleted: list[str] = field(factory=list)
    tokens: list[tuple[str, str]] = field(factory=list)  # (folder, next_page_token)
    # (what was created, idempotency-key) -> (the request's bytes, the id of the first result)
    first_creates: dict[tuple[str, str], tuple[bytes, str]] = field(factory=dict)

    def add_thread(self, thread: thread_pb2.Thread) -> None:
        self.threads[thread.id] = thread.folder_id
        self.messages.setdefault(thread.id, [])

    def add_message(self, message: mp.Message) -> None:
        ids = self.messages.setdefault(message.thread_id, [])
        if message.id not in ids:
            ids.append(message.id)

    def forget(self, thread_id: str) -> None:
        if self.threads.pop(thread_id, None) is not None:
            self.deleted.append(thread_id)
        self.messages.pop(thread_id, None)

    def add_token(self, folder: str, token: str) -> None:
        if token and len(self.tokens) < 200:
            self.tokens.append((folder, token))

    def thread_ids(self) -> list[str]:
        return sorted(self.threads)

    def message_refs(self) -> list[tuple[str, str]]:
        return sorted((t, m) for t, ids in self.messages.items() for m in ids)


# -- leaf strategies ------------------------------------------------------------------

# any Unicode a protobuf string can carry (lone surrogates cannot be encoded at all)
chars = st.characters(exclude_categories=["Cs"])
text = st.text(chars, max_size=24)
# every stored text field refuses U+0000 (core/validation.py): what must be accepted is drawn
# from clean_text, what may be anything from text
clean_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=24)
int64s = st.one_of(
    st.sampled_from([0, 1, -1, 2, 7, 364, 365, 366, INT32_MAX, INT32_MAX + 1, INT64_MAX, INT64_MIN]),
    st.integers(INT64_MIN, INT64_MAX),
)
enum_ints = st.one_of(
    st.sampled_from([0, 1, 2, 3, 7, -1, INT32_MAX, INT32_MIN]), st.integers(INT32_MIN, INT32_MAX)
)


def sized_text(limit: int) -> st.SearchStrategy[str]:
    """Short random text, or a string right at / just over ``limit`` code points."""
    near = st.tuples(st.integers(limit - 1, limit + 1), st.sampled_from(["a", "é", "😀", "\x00"]))
    return st.one_of(text, text, near.map(lambda p: p[1] * p[0]))


@frozen
class Edit:
    """One small change to a string; drawn without looking at the string, applied later."""

    kind: int
    position: int
    char: str
    extra: str

    def apply(self, value: str) -> str:
        n = len(value)
        if self.kind == 0:  # cut short
            return value[: self.position % n] if n else ""
        if self.kind == 1:
            return value + (self.extra or "x")
        if self.kind == 2:
            return value.swapcase()
        if self.kind == 3:
            return " " + value
        if self.kind == 4:
            return value + "\n"
        if not n:
            return self.char
        i = self.position % n
        return value[:i] + (self.char if self.char != value[i] else "~") + value[i + 1 :]


edits = st.builds(Edit, st.integers(0, 5), st.integers(0, 2**16), chars, text)


def mutated(value: str) -> st.SearchStrategy[str]:
    """``value`` with one small change: cut, extended, a character replaced, case flipped."""
    return edits.map(lambda e: e.apply(value))


labels = st.one_of(
    st.dictionaries(text, text, max_size=4),
    st.dictionaries(sized_text(MAX_LABEL_KEY), sized_text(MAX_LABEL_VALUE), max_size=MAX_LABELS + 2),
)

expiration_configs = st.builds(common_pb2.ExpirationConfig, expiration_policy=enum_ints, ttl_days=int64s)

# -- tools ------------------------------------------------------------------------------

# a google.protobuf.Value can carry NaN and +-inf, which JSON cannot
special_floats = st.sampled_from([float("inf"), float("-inf"), float("nan"), -0.0, 1e308, 5e-324])
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.floats(), special_floats, clean_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(clean_text, children, max_size=3),
    max_leaves=8,
)


def struct_of(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def deep_struct(depth: int) -> struct_pb2.Struct:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"d": value}
    return struct_of(value)


call_strategies = st.one_of(
    st.just(tools_pb2.CallStrategy()),
    st.just(tools_pb2.CallStrategy(always_call=tools_pb2.CallStrategy.AlwaysCall())),
    st.builds(
        lambda n, i: tools_pb2.CallStrategy(auto_call=tools_pb2.CallStrategy.AutoCall(name=n, instruction=i)),
        clean_text,
        clean_text,
    ),
)


@st.composite
def search_index_tools(draw: st.DrawFn) -> tools_pb2.Tool:
    tool = tools_pb2.SearchIndexTool(search_index_ids=draw(st.lists(clean_text, max_size=3)))
    if draw(st.booleans()):
        tool.max_num_results.value = draw(int64s)
    if draw(st.booleans()):
        tool.rephraser_options.rephraser_uri = draw(clean_text)
    if draw(st.booleans()):
        tool.call_strategy.CopyFrom(draw(call_strategies))
    return tools_pb2.Tool(search_index=tool)


@st.composite
def function_tools(draw: st.DrawFn) -> tools_pb2.Tool:
    tool = tools_pb2.FunctionTool(name=draw(clean_text), description=draw(clean_text))
    choice = draw(st.integers(0, 3))
    if choice == 1:
        tool.parameters.CopyFrom(struct_of(draw(st.dictionaries(clean_text, json_values, max_size=4))))
    elif choice == 3:
        tool.parameters.CopyFrom(struct_of({draw(clean_text): draw(special_floats)}))
    elif choice == 2:
        # 32 levels: the deepest a client can build, already past the server's parse limit
        tool.parameters.CopyFrom(deep_struct(draw(st.integers(1, 32))))
    return tools_pb2.Tool(function=tool)


@st.composite
def gen_search_tools(draw: st.DrawFn) -> tools_pb2.Tool:
    options = tools_pb2.GenSearchOptions(enable_nrfm_docs=draw(st.booleans()))
    which = draw(st.sampled_from(["", "site", "host", "url"]))
    if which:
        getattr(getattr(options, which), which).extend(draw(st.lists(clean_text, max_size=3)))
    flt = draw(st.sampled_from(["", "date", "lang", "format"]))
    if flt:
        sf = tools_pb2.GenSearchOptions.SearchFilter()
        if flt == "format":
            # DocFormat: an open enum, unknown numbers allowed
            sf.format = tools_pb2.GenSearchOptions.SearchFilter.DocFormat.ValueType(draw(enum_ints))
        else:
            setattr(sf, flt, draw(clean_text))
        options.search_filters.append(sf)
    tool = tools_pb2.GenSearchTool(description=draw(clean_text))
    if draw(st.booleans()):
        tool.options.CopyFrom(options)
    return tools_pb2.Tool(gen_search=tool)


tools = st.one_of(
    st.just(tools_pb2.Tool()),  # no member of the ToolType oneof
    st.sampled_from(["search_index", "function", "gen_search"]).map(
        lambda kind: tools_pb2.Tool(**{kind: getattr(tools_pb2.Tool(), kind).__class__()})
    ),  # a kind with nothing set
    search_index_tools(),
    function_tools(),
    gen_search_tools(),
)

# -- messages ---------------------------------------------------------------------------

roles = st.one_of(
    st.sampled_from(["", "user", "USER", "assistant", "Assistant", "system", "tool", " user", "USER\n"]),
    text,
)


@st.composite
def authors(draw: st.DrawFn) -> mp.Author | None:
    if not draw(st.booleans()):
        return None
    return mp.Author(id=draw(sized_text(MAX_AUTHOR_ID)), role=draw(roles))


def _text_part(t: str) -> mp.ContentPart:
    return mp.ContentPart(text=mp.Text(content=t))


small_parts = st.one_of(
    text.map(_text_part),
    st.just(mp.ContentPart()),  # no member of the PartType oneof
)
content_parts = st.one_of(
    small_parts,
    text.map(_text_part),
    st.integers(MAX_TEXT - 1, MAX_TEXT + 1).map(lambda n: _text_part("x" * n)),
)


@st.composite
def contents(draw: st.DrawFn, big: bool = True) -> mp.MessageContent | None:
    """None: the field is left unset. ``big``: parts may be at the length limit."""
    if draw(st.integers(0, 9)) == 0:
        return None
    return mp.MessageContent(content=draw(st.lists(content_parts if big else small_parts, max_size=3)))


@st.composite
def message_data(draw: st.DrawFn, big: bool = True) -> mp.MessageData:
    m = mp.MessageData()
    author = draw(authors())
    if author is not None:
        m.author.CopyFrom(author)
    m.labels.update(draw(labels))
    content = draw(contents(big))
    if content is not None:
        m.content.CopyFrom(content)
    return m


@st.composite
def valid_message_data(draw: st.DrawFn) -> mp.MessageData:
    """Initial messages the server must accept (so long lists of them get through)."""
    parts = draw(st.lists(clean_text.map(_text_part), min_size=1, max_size=2))
    m = mp.MessageData(content=mp.MessageContent(content=parts))
    role = draw(st.sampled_from(["", "user", "ASSISTANT"]))
    if role or draw(st.booleans()):
        m.author.CopyFrom(mp.Author(id=draw(clean_text), role=role))
    m.labels.update(draw(st.dictionaries(clean_text, clean_text, max_size=2)))
    return m


def texts_of(content: mp.MessageContent) -> list[str]:
    return [part.text.content for part in content.content]


# -- ids, folders, tokens -----------------------------------------------------------------

folders = st.one_of(
    st.sampled_from(FUZZ_FOLDERS), st.sampled_from(FUZZ_FOLDERS), st.sampled_from([UNKNOWN_FOLDER, ""]), text
)
random_ids = st.one_of(
    text,
    st.just(""),
    st.from_regex(r"(thread|msg|user)_[0-9a-z]{0,30}", fullmatch=True),
    # long ids (the server echoes ids into its errors); fixed sizes keep failures reproducible,
    # since grpcio drops trailers between 8 and 16 KiB only at random
    st.sampled_from([300, 1000, 10_000]).map(lambda n: "t" * n),
)


# Choices from the pool are drawn as (kind, index, edit) and resolved against the pool
# as it is at that moment: what Hypothesis draws never depends on the pool's size, so a
# replayed example draws the same way although the pool has grown or shrunk since.
pool_picks = st.tuples(st.integers(0, 9), st.integers(0, 2**20), edits)


def _pick(values: list[str], index: int) -> str | None:
    return values[index % len(values)] if values else None


def resolve_thread_id(pool: Pool, choice: tuple[int, int, Edit], fallback: str) -> str:
    kind, index, edit = choice
    if kind <= 1:
        return fallback
    if kind == 2:
        return _pick(pool.deleted, index) or fallback
    existing = _pick(pool.thread_ids(), index)
    if existing is None:
        return fallback
    return edit.apply(existing) if kind == 3 else existing


def thread_ids(pool: Pool) -> st.SearchStrategy[str]:
    """Mostly live threads, sometimes deleted, near-miss or random ids."""
    return st.tuples(pool_picks, random_ids).map(lambda p: resolve_thread_id(pool, p[0], p[1]))


def resolve_message_ref(
    pool: Pool, choice: tuple[int, int, Edit], other: str, fallback: str
) -> tuple[str, str]:
    kind, index, edit = choice
    refs = pool.message_refs()
    if kind <= 1 or not refs:
        return other, fallback
    thread_id, message_id = refs[index % len(refs)]
    if kind == 2:
        return other, message_id  # a message asked for under another (or no) thread
    if kind == 3:
        return thread_id, edit.apply(message_id)
    return thread_id, message_id


def message_refs(pool: Pool) -> st.SearchStrategy[tuple[str, str]]:
    """(thread id, message id): real pairs, crossed pairs, near misses, random parts."""
    return st.tuples(pool_picks, thread_ids(pool), random_ids).map(
        lambda p: resolve_message_ref(pool, p[0], p[1], p[2])
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


stamps = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")),
    st.sampled_from(
        ["0001-01-01T00:00:00.000000", "9999-12-31T23:59:59.999999", "", "2025-02-30T00:00:00.0"]
    ),
    text,
)
forged_tokens = st.one_of(
    st.builds(lambda s, t: _b64(f"{s}@{t}".encode()), stamps, text),
    st.binary(max_size=60).map(_b64),
    st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode("ascii").rstrip("=")),
)


def resolve_token(pool: Pool, choice: tuple[int, int, Edit], fallback: str) -> str:
    kind, index, edit = choice
    valid = _pick([t for _, t in pool.tokens], index)
    if kind <= 3 or valid is None:
        return fallback
    return edit.apply(valid) if kind <= 6 else valid


def page_tokens(pool: Pool) -> st.SearchStrategy[str]:
    """Tokens the server handed out, those slightly changed, forged ones and junk."""
    junk = st.one_of(st.just(""), text, forged_tokens)
    return st.tuples(pool_picks, junk).map(lambda p: resolve_token(pool, p[0], p[1]))


# a few keys, so a key is often sent again with the same or another request
idempotency_keys = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from(["idem-1", "idem-2", "idem-3"]),
    st.text(string.printable.strip(), max_size=20),
)


def idempotent_call(
    server: Server, pool: Pool, what: str, fn: Callable[..., Any], request: Any, key: str | None
) -> tuple[Result, list[str]]:
    """A create with an optional ``idempotency-key``; checks what a repeated key must do.

    The same key with the same request returns the first result (NOT_FOUND if that was
    deleted since); with another request it must not succeed.
    """
    metadata = (("idempotency-key", key),) if key else None
    result = call(fn, request, metadata=metadata)
    expect(server, what, request, result)
    problems: list[str] = []
    if not key:
        return result, problems
    kind = type(request).__name__
    sent = request.SerializeToString(deterministic=True)
    first = pool.first_creates.get((kind, key))
    if first is None:
        if result.code is Code.OK:
            pool.first_creates[(kind, key)] = (sent, result.value.id)
        return result, problems
    first_bytes, first_id = first
    gone = first_id in pool.deleted or getattr(request, "thread_id", "") in pool.deleted
    if first_bytes == sent and not gone:
        if result.code is not Code.OK or result.value.id != first_id:
            got = result.value.id if result.code is Code.OK else result.code.name
            problems.append(f"a repeat with idempotency-key {key!r} answered {got}, not {first_id}")
    elif first_bytes != sent and result.code is Code.OK:
        problems.append(f"idempotency-key {key!r}, first used for another request, was accepted again")
    return result, problems


page_sizes = st.one_of(
    st.sampled_from([0, 1, 2, 3, 5, -1, 100, 999, 1000, 1001, INT64_MAX, INT64_MIN]),
    st.integers(INT64_MIN, INT64_MAX),
    st.integers(-3, 20),
)

# -- requests --------------------------------------------------------------------------------


@st.composite
def create_thread_requests(
    draw: st.DrawFn, folder: st.SearchStrategy[str] = folders
) -> ts.CreateThreadRequest:
    r = ts.CreateThreadRequest(
        folder_id=draw(folder),
        name=draw(sized_text(MAX_NAME)),
        description=draw(sized_text(MAX_DESCRIPTION)),
    )
    if draw(st.booleans()):
        r.default_message_author_id = draw(sized_text(MAX_AUTHOR_ID))
    if draw(st.booleans()):
        r.expiration_config.CopyFrom(draw(expiration_configs))
    r.labels.update(draw(labels))
    r.tools.extend(draw(st.lists(tools, max_size=3)))
    r.messages.extend(
        draw(
            st.one_of(
                st.lists(message_data(), max_size=3),
                st.lists(
                    message_data(big=False),
                    min_size=MAX_MESSAGES_PER_THREAD - 1,
                    max_size=MAX_INITIAL_MESSAGES + 2,
                ),
                st.lists(valid_message_data(), max_size=4),
                # more than the per-thread cap, within the limit on initial messages
                st.lists(
                    valid_message_data(), min_size=MAX_MESSAGES_PER_THREAD + 1, max_size=MAX_INITIAL_MESSAGES
                ),
            )
        )
    )
    return r


# what valid tools hold is stored text too: no U+0000 (clean_text's alphabet)
short = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=12)
valid_tools = st.one_of(
    st.lists(short, min_size=1, max_size=2).map(
        lambda ids: tools_pb2.Tool(search_index=tools_pb2.SearchIndexTool(search_index_ids=ids))
    ),
    st.tuples(short, st.dictionaries(short, st.integers(-100, 100) | short, max_size=3)).map(
        lambda p: tools_pb2.Tool(function=tools_pb2.FunctionTool(name=p[0], parameters=struct_of(p[1])))
    ),
    short.map(lambda d: tools_pb2.Tool(gen_search=tools_pb2.GenSearchTool(description=d))),
)


@st.composite
def valid_create_thread_requests(draw: st.DrawFn) -> ts.CreateThreadRequest:
    """Requests within every documented limit: the server must accept each one."""
    r = ts.CreateThreadRequest(
        folder_id=draw(st.sampled_from(FUZZ_FOLDERS)),
        name=draw(clean_text),
        description=draw(clean_text),
        default_message_author_id=draw(clean_text),
        labels=draw(st.dictionaries(clean_text, clean_text, max_size=MAX_LABELS)),
        tools=draw(st.lists(valid_tools, max_size=2)),
    )
    if draw(st.booleans()):
        r.expiration_config.CopyFrom(
            common_pb2.ExpirationConfig(
                expiration_policy=draw(st.sampled_from([UNSPECIFIED, STATIC, SLA])),
                ttl_days=draw(st.integers(0, MAX_TTL_DAYS)),
            )
        )
    r.messages.extend(
        draw(
            st.one_of(
                st.lists(valid_message_data(), max_size=3),
                # up to the fuzz server's per-thread cap, which initial messages count against
                st.lists(
                    valid_message_data(),
                    min_size=MAX_MESSAGES_PER_THREAD - 1,
                    max_size=MAX_MESSAGES_PER_THREAD,
                ),
            )
        )
    )
    return r


update_paths = st.one_of(
    st.sampled_from(
        [
            "name",
            "description",
            "labels",
            "expiration_config",
            "expiration_config.ttl_days",
            "expiration_config.expiration_policy",
            "tools",
        ]
    ),
    st.sampled_from(
        [
            "folder_id",
            "id",
            "",
            "expiration_config.nope",
            "Name",
            "labels.k",
            "code_interpreter_file_ids",
            "messages",
            "tools.0",
            "expirationConfig",
            "*",
        ]
    ),
    text,
)


@st.composite
def update_thread_requests(draw: st.DrawFn, ids: st.SearchStrategy[str]) -> ts.UpdateThreadRequest:
    r = ts.UpdateThreadRequest(thread_id=draw(ids))
    if draw(st.integers(0, 9)):
        r.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=draw(st.lists(update_paths, max_size=4))))
    r.name = draw(sized_text(MAX_NAME))
    r.description = draw(sized_text(MAX_DESCRIPTION))
    if draw(st.booleans()):
        r.expiration_config.CopyFrom(draw(expiration_configs))
    r.labels.update(draw(labels))
    r.tools.extend(draw(st.lists(tools, max_size=3)))
    return r


@st.composite
def create_message_requests(draw: st.DrawFn, ids: st.SearchStrategy[str]) -> ms.CreateMessageRequest:
    r = ms.CreateMessageRequest(thread_id=draw(ids))
    author = draw(authors())
    if author is not None:
        r.author.CopyFrom(author)
    r.labels.update(draw(labels))
    content = draw(contents())
    if content is not None:
        r.content.CopyFrom(content)
    return r


def requests_for(method: Method, pool: Pool) -> st.SearchStrategy[PbMessage]:
    """Typed requests for any method (used to make payloads for the raw-bytes fuzzing)."""
    ids = thread_ids(pool)
    by_name: dict[str, st.SearchStrategy[Any]] = {
        THREADS + "Create": create_thread_requests(),
        THREADS + "Get": st.builds(ts.GetThreadRequest, thread_id=ids),
        THREADS + "Update": update_thread_requests(ids),
        THREADS + "Delete": st.builds(ts.DeleteThreadRequest, thread_id=ids),
        THREADS + "List": st.builds(
            ts.ListThreadsRequest, folder_id=folders, page_size=page_sizes, page_token=page_tokens(pool)
        ),
        MESSAGES + "Create": create_message_requests(ids),
        MESSAGES + "Get": message_refs(pool).map(
            lambda r: ms.GetMessageRequest(thread_id=r[0], message_id=r[1])
        ),
        MESSAGES + "List": st.builds(ms.ListMessagesRequest, thread_id=ids),
    }
    return by_name[method.name]


@st.composite
def garbled(draw: st.DrawFn, valid: st.SearchStrategy[PbMessage]) -> bytes:
    """A valid serialization, cut short, with bytes flipped, inserted or repeated."""
    raw = valid_bytes = draw(valid).SerializeToString()
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["as_is", "truncate", "flip", "insert", "repeat", "splice"]))
        n = len(raw)
        if how == "truncate" and n:
            raw = raw[: draw(st.integers(0, n - 1))]
        elif how == "flip" and n:
            i = draw(st.integers(0, n - 1))
            raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
        elif how == "insert":
            i = draw(st.integers(0, n))
            raw = raw[:i] + draw(st.binary(min_size=1, max_size=8)) + raw[i:]
        elif how == "repeat":
            raw = raw + raw
        elif how == "splice":
            raw = raw + valid_bytes[draw(st.integers(0, len(valid_bytes))) :]
    return raw


# hand-made nasty encodings: overlong varints, absurd lengths, groups, bad UTF-8, deep nesting
NASTY_PAYLOADS = (
    b"\x80",
    b"\x0a\x02\xff\xfe",  # field 1 (a string) holding invalid UTF-8
    b"\x08" + b"\xff" * 10 + b"\x01",  # an 11-byte varint
    b"\x0a\xff\xff\xff\xff\x0f",  # field 1 claims 4 GiB
    b"\x0b\x0c",  # an empty group
    b"\x0c",  # an end-group tag with no start
    b"\x00",  # field number 0
    b"\xfa\xff\xff\xff\x0f\x00",  # the largest field number, length-delimited, empty
    b"\x12" + b"\x0a" * 200,  # a chain of nested length prefixes
)


def deep_create_payload(depth: int = 120) -> bytes:
    """A CreateThreadRequest whose tool parameters nest deeper than protobuf's recursion limit."""
    r = ts.CreateThreadRequest(folder_id=FUZZ_FOLDERS[0])
    r.tools.add().function.parameters.CopyFrom(deep_struct(depth))
    return r.SerializeToString()


# -- calling ------------------------------------------------------------------------------------


@define
class Result:
    code: grpc.StatusCode
    value: Any = None
    error: grpc.RpcError | None = None

    @property
    def details(self) -> str:
        return "" if self.error is None else str(self.error.details())


def call(
    fn: Callable[..., Any],
    request: Any,
    *,
    streaming: bool = False,
    metadata: Iterable[tuple[str, str | bytes]] | None = None,
) -> Result:
    try:
        if streaming:
            return Result(Code.OK, list(fn(request, timeout=CALL_TIMEOUT, metadata=metadata)))
        return Result(Code.OK, fn(request, timeout=CALL_TIMEOUT, metadata=metadata))
    except grpc.RpcError as exc:
        return Result(exc.code(), None, exc)


_LONG_STRING = re.compile(r'"((?:[^"\\]|\\.){120})(?:[^"\\]|\\.)*"')


def describe(request: Any, limit: int = 3000) -> str:
    """A request in protobuf text format (bytes as a literal), long strings abbreviated."""
    if isinstance(request, bytes):
        shown = repr(request[:400]) + (f" ... ({len(request)} bytes)" if len(request) > 400 else "")
    else:
        body = text_format.MessageToString(request, as_utf8=True, as_one_line=True)
        body = _LONG_STRING.sub(lambda m: f'"{m.group(1)}..." ({len(m.group(0)) - 2} chars)', body)
        shown = f"{type(request).__name__} {{{body}}}"
    return shown if len(shown) <= limit else shown[:limit] + f"... ({len(shown)} chars)"


@frozen(repr=False)
class Shown:
    """A generated value whose repr (in Hypothesis reports) stays short and readable."""

    value: Any

    def __repr__(self) -> str:
        return describe(self.value)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' printer
        printer.text(repr(self))


def shown(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Shown]:
    return strategy.map(Shown)


def log_tail(server: Server, lines: int = 12, chars: int = 6000) -> str:
    """The last lines the server printed (cheap: the full log grows with every request)."""
    return "".join(server.output[-lines:])[-chars:]


def fail(server: Server, what: str, request: Any, result: Result, problem: str) -> AssertionError:
    return AssertionError(
        f"{what}: {problem}\n  status: {result.code.name} {result.details!r}\n"
        f"  request: {describe(request)}\n--- server log (tail) ---\n{log_tail(server)}"
    )


def expect(
    server: Server,
    what: str,
    request: Any,
    result: Result,
    allowed: frozenset[grpc.StatusCode] = ALLOWED,
    *,
    rich: bool = True,
) -> None:
    """The call ended with an allowed code; with ``rich``, errors carry a google.rpc.Status."""
    if result.code not in allowed:
        raise fail(server, what, request, result, f"{result.code.name} is not an allowed outcome")
    if result.code is Code.RESOURCE_EXHAUSTED and "Received message larger than max" in result.details:
        return  # grpcio's own limit on request size (4 MiB), documented in docs/errors.md
    if "metadata size exceeds" in result.details:
        # grpcio's own RESOURCE_EXHAUSTED: the server's answer never arrived readable
        raise fail(server, what, request, result, "the error's trailers exceed the client's metadata limit")
    if not rich or result.code is Code.OK or result.code is Code.UNAUTHENTICATED:
        return
    try:
        status = rpc_status.from_call(result.error)
    except ValueError as exc:
        raise fail(server, what, request, result, f"unreadable google.rpc.Status: {exc}") from None
    if status is None or status.code != result.code.value[0]:
        raise fail(server, what, request, result, "no matching google.rpc.Status in the trailers")
    if result.code is Code.INVALID_ARGUMENT:
        bad = [d for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)]
        if not bad:
            raise fail(server, what, request, result, "INVALID_ARGUMENT without a BadRequest detail")
        detail = error_details_pb2.BadRequest()
        bad[0].Unpack(detail)
        if not detail.field_violations or not detail.field_violations[0].field:
            raise fail(server, what, request, result, "BadRequest names no field")


# -- invariants on OK answers -------------------------------------------------------------------


def thread_problems(t: thread_pb2.Thread) -> list[str]:
    problems = []
    if not t.id or not t.folder_id:
        problems.append("empty id or folder_id")
    if t.expiration_config.expiration_policy not in (STATIC, SLA):
        problems.append(f"expiration_policy is {t.expiration_config.expiration_policy}")
    if not 1 <= t.expiration_config.ttl_days <= MAX_TTL_DAYS:
        problems.append(f"ttl_days is {t.expiration_config.ttl_days}")
    if not t.HasField("expires_at") or t.expires_at.seconds <= 0:
        problems.append("expires_at not set")
    if not t.HasField("created_at") or not t.HasField("updated_at"):
        problems.append("created_at/updated_at not set")
    elif t.expires_at.ToDatetime() <= t.created_at.ToDatetime():
        problems.append("expires_at is not after created_at")
    if not t.default_message_author_id:
        problems.append("no default_message_author_id")
    for i, tool in enumerate(t.tools):
        if tool.WhichOneof("ToolType") is None:
            problems.append(f"tools[{i}] has no kind")
    return problems


def message_problems(m: mp.Message, thread_id: str) -> list[str]:
    problems = []
    if not m.id:
        problems.append("empty message id")
    if m.thread_id != thread_id:
        problems.append(f"thread_id {m.thread_id!r} != {thread_id!r}")
    if m.author.role not in ("USER", "ASSISTANT"):
        problems.append(f"author.role is {m.author.role!r}")
    if not m.HasField("created_at"):
        problems.append("created_at not set")
    if m.status != mp.Message.COMPLETED:
        problems.append(f"status is {m.status}")
    if not m.content.content:
        problems.append("no content")
    return problems


def list_problems(r: ts.ListThreadsResponse, request: ts.ListThreadsRequest) -> list[str]:
    problems = []
    limit = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if len(r.threads) > limit:
        problems.append(f"{len(r.threads)} threads on a page of at most {limit}")
    if r.threads and not r.next_page_token:
        problems.append("a non-empty page without next_page_token (the Yandex SDK would loop forever)")
    if not r.threads and r.next_page_token:
        problems.append("an empty page with a next_page_token")
    for t in r.threads:
        if t.folder_id != request.folder_id:
            problems.append(f"thread {t.id} of folder {t.folder_id!r} listed for {request.folder_id!r}")
        problems += [f"thread {t.id}: {p}" for p in thread_problems(t)]
    if len({t.id for t in r.threads}) != len(r.threads):
        problems.append("a thread listed twice on one page")
    return problems


def stream_problems(messages: list[mp.Message], thread_id: str) -> list[str]:
    problems = []
    for m in messages:
        problems += [f"message {m.id}: {p}" for p in message_problems(m, thread_id)]
    if len({m.id for m in messages}) != len(messages):
        problems.append("a message streamed twice")
    stamps = [m.created_at.ToDatetime() for m in messages]
    if any(a < b for a, b in itertools.pairwise(stamps)):
        problems.append("messages are not newest first")
    return problems


# -- the store, read directly ------------------------------------------------------------------


@frozen
class StoreView:
    threads: dict[str, tuple[str, int]]  # id -> (folder, message_count)
    messages: dict[str, set[str]]  # thread id -> message ids
    problems: list[str]


def read_store(path: Path) -> StoreView:
    """Open the SQLite file read-only and check the rows hang together."""
    problems: list[str] = []
    threads: dict[str, tuple[str, int]] = {}
    messages: dict[str, set[str]] = defaultdict(set)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        seqs: dict[str, list[int]] = defaultdict(list)
        next_seqs: dict[str, int] = {}
        for (
            tid,
            folder,
            policy,
            ttl,
            created,
            expires,
            labels_json,
            tools_json,
            ci,
            next_seq,
            count,
        ) in db.execute(
            "SELECT id, folder_id, policy, ttl_days, created_us, expires_us, labels, tools, ci_file_ids,"
            " next_seq, message_count FROM threads"
        ):
            threads[tid] = (folder, count)
            next_seqs[tid] = next_seq
            try:
                parsed_labels = json.loads(labels_json)
                parsed_tools = json.loads(tools_json)
                parsed_ci = None if ci is None else json.loads(ci)
            except ValueError as exc:
                problems.append(f"thread {tid}: a JSON column does not parse: {exc}")
                continue
            if not isinstance(parsed_labels, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in parsed_labels.items()
            ):
                problems.append(f"thread {tid}: labels are not a string map: {labels_json[:200]}")
            if not isinstance(parsed_tools, list) or not all(
                isinstance(t, dict) and isinstance(t.get("kind"), str) and isinstance(t.get("spec"), dict)
                for t in parsed_tools
            ):
                problems.append(f"thread {tid}: tools are malformed: {tools_json[:200]}")
            if parsed_ci is not None and not isinstance(parsed_ci, list):
                problems.append(f"thread {tid}: ci_file_ids is not a list")
            if policy not in ("static", "since_last_active"):
                problems.append(f"thread {tid}: policy {policy!r}")
            if not 1 <= ttl <= MAX_TTL_DAYS:
                problems.append(f"thread {tid}: ttl_days {ttl}")
            if expires <= created:
                problems.append(f"thread {tid}: expires_us {expires} <= created_us {created}")
        for tid, seq, mid, body in db.execute("SELECT thread_id, seq, id, body FROM messages"):
            if tid not in threads:
                problems.append(f"message {mid} (seq {seq}) belongs to missing thread {tid}")
                continue
            messages[tid].add(mid)
            seqs[tid].append(seq)
            try:
                parsed = json.loads(body)
                assert isinstance(parsed["author"]["role"], str) and isinstance(parsed["content"], list)
                assert isinstance(parsed["labels"], dict)
            except (ValueError, KeyError, TypeError, AssertionError) as exc:
                problems.append(f"message {mid}: body is malformed ({exc!r}): {body[:200]}")
        for tid, seq, mid in db.execute("SELECT thread_id, seq, id FROM message_tombstones"):
            if tid not in threads:
                problems.append(f"tombstone {mid} belongs to missing thread {tid}")
                continue
            seqs[tid].append(seq)
        for tid, (_, count) in threads.items():
            rows = len(messages.get(tid, ()))
            if count != rows:
                problems.append(f"thread {tid}: message_count {count} but {rows} message rows")
            if seqs[tid] and next_seqs[tid] <= max(seqs[tid]):
                problems.append(f"thread {tid}: next_seq {next_seqs[tid]} <= a used seq {max(seqs[tid])}")
    return StoreView(threads=threads, messages=dict(messages), problems=problems)
