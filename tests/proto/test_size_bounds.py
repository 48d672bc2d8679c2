"""core/sizes.py's bounds are upper bounds of what the faces really send.

Pages are cut by ``thread_bytes`` / ``message_bytes``: if either ever fell below the
size of a rendered object, a page could outgrow the 4 MiB gRPC limit again.  Checked
against the gRPC face's protobuf (``ByteSize``), the one face with a hard limit on
what it may send (JSON faces have none; escapes may make their text longer).  Run in a
child process: this test process must not import our generated modules beside
yandexcloud's (see tests/conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
from datetime import UTC, datetime
from hypothesis import given, settings, strategies as st, HealthCheck
from adapters.yandex.converters import message_to_pb, thread_to_pb
from core.model import (Attachment, Author, ExpirationConfig, ExpirationPolicy, ImageFilePart,
    ImageUrlPart, Message, Role, TextPart, Thread, Tool)
from core.sizes import message_bytes, thread_bytes

chars = st.characters(exclude_categories=("Cs",), exclude_characters="\\x00")
# short text, or long runs of one character (1- to 4-byte UTF-8)
text = st.text(chars, max_size=40) | st.builds(lambda c, n: c * n, chars, st.integers(500, 3000))
labels = st.dictionaries(st.text(chars, max_size=64), st.text(chars, max_size=512), max_size=16)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
parts = st.one_of(
    st.builds(TextPart, text),
    st.builds(ImageUrlPart, text, st.sampled_from(["auto", "low", "high"])),
    st.builds(ImageFilePart, text, st.sampled_from(["auto", "low", "high"])),
)
json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
tools = st.lists(
    st.one_of(
        st.builds(lambda ids: Tool("search_index", {"search_index_ids": ids}), st.lists(text, max_size=8)),
        st.builds(
            lambda n, p: Tool("function", {"name": n, "parameters": p}),
            text,
            st.dictionaries(text, json, max_size=4),
        ),
        st.builds(lambda d: Tool("gen_search", {"description": d}), text),
    ),
    max_size=6,
).map(tuple)
threads = st.builds(
    Thread, id=text, folder_id=text, name=text, description=text, default_message_author_id=text,
    created_by=text, created_at=moments, updated_by=text, updated_at=moments, last_activity_at=moments,
    expiration=st.builds(ExpirationConfig, st.sampled_from(list(ExpirationPolicy)), st.integers(1, 365)),
    labels=labels, tools=tools,
    code_interpreter_file_ids=st.none() | st.lists(text, max_size=20).map(tuple),
)
messages = st.builds(
    Message, id=text, thread_id=text, created_by=text, created_at=moments,
    author=st.builds(Author, text, st.sampled_from(list(Role))),
    content=st.lists(parts, min_size=1, max_size=8).map(tuple), labels=labels,
    attachments=st.lists(
        st.builds(Attachment, text, st.lists(st.sampled_from(["file_search", "code_interpreter"]))
            .map(tuple)),
        max_size=20,
    ).map(tuple),
    run_id=st.none() | text,
)

@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(threads)
def thread_bound(t):
    bound = thread_bytes(t)
    assert thread_to_pb(t).ByteSize() <= bound, (thread_to_pb(t).ByteSize(), bound)

@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(messages)
def message_bound(m):
    bound = message_bytes(m)
    assert message_to_pb(m).ByteSize() <= bound, (message_to_pb(m).ByteSize(), bound)

thread_bound()
message_bound()
print("ok")
"""


def test_size_bounds_hold_for_the_protobuf_encoding() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip() == "ok"
